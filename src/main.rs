//! The `disburse` command line: parses arguments, sets up logging, calls the
//! library, and turns the outcome into the exit status of SPEC §7
//! (0 done, 2 needs a person, 1 refused or failed, 3 locked).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use disburse::config::Config;
use disburse::domain::Period;
use disburse::lang::{self, Lang};
use disburse::pipeline::{self, Outcome, PipelineError, Progress};

mod cli_zh;

/// mimalloc instead of the system allocator: a run makes and frees a few small
/// strings per roster line on four threads, and glibc's malloc spent an eighth of
/// a million-line run in its own bookkeeping.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the Rust bindings name
/// only some options). By default freed memory goes back to the system 10 ms
/// later; a run frees a roster's worth of strings at a time, and the delay alone
/// added about 70 MB to a million-line run's peak. Purging at once costs no time.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[derive(Parser)]
#[command(
    name = "disburse",
    version,
    about = "Pays social benefits: rosters in, signed bank files out, receipts back in"
)]
struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object per line) for cron.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "DISBURSE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Language of messages, help and summaries: `zh` (the default) or `en`; also `DISBURSE_LANG`.
    #[arg(long, global = true, value_parser = ["zh", "en"])]
    lang: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a working example office (config, rosters, approvals, stops, key) into DIR.
    Init { dir: PathBuf },
    /// Ingest, validate, reconcile and total a period; write reports only.
    Check {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        period: Period,
    },
    /// The whole pipeline: bank files, signatures, manifest, reports and the ledger.
    Run {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        period: Period,
    },
    /// Apply bank receipts (pain.002, camt.054, or a formats/ return file).
    Returns {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Build the correction batch (更正发放) for failed or returned lines.
    Reissue {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        period: Period,
        #[arg(long)]
        corrections: PathBuf,
    },
    /// Wait for receipts in the bank's drop folder and apply each once it is complete;
    /// stops on SIGTERM/SIGINT after the file in progress.
    Watch {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        /// The bank's drop folder; applied files go to DIR/processed/<YYYYMMDD>/, bad ones to DIR/refused/.
        #[arg(long)]
        inbox: PathBuf,
        /// A file is read once its size and mtime have not changed for this long (an X.ok marker: at once).
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
        /// Process what is complete now and exit (for cron and tests).
        #[arg(long)]
        once: bool,
    },
    /// Rebuild a period's failures.csv, stops_suggested.csv and report from the ledger.
    Report {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        period: Period,
    },
    /// Sent, settled, failed, returned, pending and reissued per program.
    Status {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        period: Option<Period>,
        #[arg(long)]
        json: bool,
        /// Every office of a shared ledger (the provincial rollup).
        #[arg(long)]
        all_offices: bool,
    },
    /// The audit trail (审计记录): who ran which ledger-writing command, when, where, and its result.
    Audit {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        /// Only the commands that concern this period.
        #[arg(long)]
        period: Option<Period>,
        #[arg(long)]
        json: bool,
    },
    /// One payment's whole life (来龙去脉): roster row, approval, checks, bank file and signer,
    /// receipts and corrections. By end-to-end reference, or by --id and --period.
    Trace {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        /// The end-to-end reference (on the bank file, paid.csv, failures.csv).
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        reference: Option<String>,
        /// The person's ID number (with --period).
        #[arg(long, requires = "period")]
        id: Option<String>,
        #[arg(long)]
        period: Option<Period>,
        #[arg(long)]
        json: bool,
    },
    /// The ledger itself (台账).
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Check a run folder's digests, signatures, counts, totals and manifest chain.
    Verify {
        dir: PathBuf,
        /// Pin the public key (SPKI PEM) instead of trusting the one in the manifest.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// The office's config: also check the run against the key its ledger recorded.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make a signing key: FILE (PKCS#8 PEM, mode 0600) and FILE.pub.
    Keygen {
        #[arg(long, value_parser = ["sm2", "ed25519"])]
        algorithm: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Rebuild a lost ledger from the output folder: verify every run folder, then replay
    /// runs, receipts and correction batches in order.
    Rebuild {
        #[arg(long, env = "DISBURSE_CONFIG")]
        config: PathBuf,
        /// Replace a ledger that holds data (it is kept beside the new one).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    // SAFETY: sets a plain integer option of the allocator; no pointer is involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    // The language first: the help clap prints while parsing is already in it.
    let language = lang::from_args(std::env::args_os());
    lang::set(language);
    let mut command = Cli::command();
    if language == Lang::Zh {
        command = cli_zh::localize(command);
    }
    let cli = match command.try_get_matches().and_then(|mut m| Cli::from_arg_matches_mut(&mut m)) {
        Ok(cli) => cli,
        Err(e) => return argument_error(e, language),
    };
    let json = cli.log_format == LogFormat::Json;
    let progress =
        Progress::new(cli.log_format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    init_logging(cli.log_format, progress.log_writer());
    let name = command_name(&cli.command);
    let result = dispatch(cli.command, &progress);
    // The display is gone before the summary or the refusal is printed.
    progress.clear();
    match result {
        Ok(outcome) => {
            for line in &outcome.summary {
                println!("{line}");
            }
            let code = outcome.exit_code();
            if json {
                final_event(name, code, Some(&outcome));
            }
            ExitCode::from(code)
        }
        Err(e) => {
            // One message: a JSON event for cron, a plain line for a person.
            let message = message(&e);
            let code = e.downcast_ref::<PipelineError>().map(PipelineError::exit_code).unwrap_or(1);
            if json {
                tracing::error!(event = "refused", error = %message, "refused");
                final_event(name, code, None);
            } else {
                eprintln!("disburse: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// The command's name as typed (`ledger rebuild` for the nested one), for the final event.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Init { .. } => "init",
        Command::Check { .. } => "check",
        Command::Run { .. } => "run",
        Command::Returns { .. } => "returns",
        Command::Reissue { .. } => "reissue",
        Command::Watch { .. } => "watch",
        Command::Report { .. } => "report",
        Command::Status { .. } => "status",
        Command::Audit { .. } => "audit",
        Command::Trace { .. } => "trace",
        Command::Ledger { .. } => "ledger rebuild",
        Command::Verify { .. } => "verify",
        Command::Keygen { .. } => "keygen",
    }
}

/// The last line a command writes under `--log-format json` (SPEC §13): its exit
/// status and what it counted, so cron's mail or a log shipper needs no other
/// line. Written as one JSON object beside the tracing events (same `timestamp`,
/// `level` and `event` keys) because its totals nest, which tracing's fields cannot.
fn final_event(command: &str, exit: u8, outcome: Option<&Outcome>) {
    let mut event = serde_json::Map::new();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    event.insert("timestamp".into(), now.into());
    event.insert("level".into(), if exit == 1 || exit == 3 { "ERROR" } else { "INFO" }.into());
    event.insert("event".into(), "finished".into());
    event.insert("command".into(), command.into());
    event.insert("exit".into(), exit.into());
    if let Some(o) = outcome {
        event.insert("needs_person".into(), o.needs_person.into());
        event.insert("totals".into(), serde_json::Value::Object(o.totals.0.clone()));
    }
    eprintln!("{}", serde_json::Value::Object(event));
}

/// `--help` and `--version` print and exit 0; any other argument error (an
/// unknown flag, a missing argument, a period that is not `YYYY-MM`) is a
/// refusal, exit 1 (SPEC §7): clap's own status 2 would read to cron as "done,
/// lines held". In Chinese the help's fixed words and the refusal are clap's
/// English said again (see `cli_zh`).
fn argument_error(e: clap::Error, language: Lang) -> ExitCode {
    use clap::error::ErrorKind;
    use std::io::IsTerminal;
    let code = if e.use_stderr() { 1 } else { 0 };
    if language == Lang::En {
        let _ = e.print();
        return ExitCode::from(code);
    }
    let shown = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
    if shown {
        let rendered = e.render();
        let terminal = if e.use_stderr() { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        let text = cli_zh::words(&if terminal { rendered.ansi().to_string() } else { rendered.to_string() });
        if e.use_stderr() {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    } else {
        eprintln!("disburse: {}", cli_zh::refusal(&e));
    }
    ExitCode::from(code)
}

/// The error and its causes on one line, each cause once: many of the
/// library's errors already end with their cause's text ("cannot read config
/// X: <the OS error>"), and printing the chain as well said it twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn dispatch(command: Command, progress: &Progress) -> anyhow::Result<Outcome> {
    let load = |p: &PathBuf| Config::load(p).map_err(PipelineError::from);
    Ok(match command {
        Command::Init { dir } => pipeline::init(&dir)?,
        Command::Check { config, period } => pipeline::check(&load(&config)?, period, progress)?,
        Command::Run { config, period } => pipeline::run(&load(&config)?, period, progress)?,
        Command::Returns { config, files } => pipeline::returns(&load(&config)?, &files)?,
        Command::Watch { config, inbox, settle_ms, once } => {
            let settle = std::time::Duration::from_millis(settle_ms);
            pipeline::watch(&load(&config)?, &pipeline::WatchOptions { inbox, settle, once })?
        }
        Command::Reissue { config, period, corrections } => pipeline::reissue(&load(&config)?, period, &corrections)?,
        Command::Report { config, period } => pipeline::report(&load(&config)?, period)?,
        Command::Status { config, period, json, all_offices } => {
            pipeline::status(&load(&config)?, period, json, all_offices)?
        }
        Command::Audit { config, period, json } => pipeline::audit_list(&load(&config)?, period, json)?,
        Command::Trace { config, reference, id, period, json } => {
            let key = match (reference, id, period) {
                (Some(r), _, _) => pipeline::TraceKey::Reference(r),
                (None, Some(id), Some(period)) => pipeline::TraceKey::Person { id, period },
                _ => {
                    let why = disburse::tr!(
                        "trace 需要一个交易编号，或者 --id 加 --period",
                        "trace needs a reference, or --id with --period"
                    );
                    return Err(PipelineError::Refused(why).into());
                }
            };
            pipeline::trace(&load(&config)?, &key, json)?
        }
        Command::Ledger { command: LedgerCommand::Rebuild { config, force } } => {
            pipeline::rebuild(&load(&config)?, force)?
        }
        Command::Verify { dir, public_key, config } => {
            let config = config.as_ref().map(load).transpose()?;
            pipeline::verify_against(&dir, public_key.as_deref(), config.as_ref())?
        }
        Command::Keygen { algorithm, out } => pipeline::keygen(&algorithm, &out)?,
    })
}

/// Logs on stderr; at a desk through the progress display, which steps aside for each line.
fn init_logging(format: LogFormat, writer: pipeline::LogWriter) {
    // Under cron (json) the run's events are the record; at a desk the summary on stdout is.
    let default = if format == LogFormat::Json { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DISBURSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => {
            builder.with_writer(std::io::stderr).json().flatten_event(true).with_current_span(false).init()
        }
        LogFormat::Text => builder.with_writer(move || writer.clone()).with_target(false).init(),
    }
}
