//! The `disburse` command line: parses arguments, sets up logging, calls the
//! library, and turns the outcome into the exit status of SPEC §7
//! (0 done, 2 needs a person, 1 refused or failed, 3 locked).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use disburse::config::Config;
use disburse::domain::Period;
use disburse::pipeline::{self, Outcome, PipelineError, Progress};

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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(e),
    };
    let json = cli.log_format == LogFormat::Json;
    init_logging(cli.log_format);
    let progress =
        Progress::new(cli.log_format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match dispatch(cli.command, &progress) {
        Ok(outcome) => {
            for line in &outcome.summary {
                println!("{line}");
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            // One message: a JSON event for cron, a plain line for a person.
            let message = message(&e);
            if json {
                tracing::error!(event = "refused", error = %message, "refused");
            } else {
                eprintln!("disburse: {message}");
            }
            let code = e.downcast_ref::<PipelineError>().map(PipelineError::exit_code).unwrap_or(1);
            ExitCode::from(code)
        }
    }
}

/// `--help` and `--version` print and exit 0; any other argument error (an
/// unknown flag, a missing argument, a period that is not `YYYY-MM`) is a
/// refusal, exit 1 (SPEC §7): clap's own status 2 would read to cron as "done,
/// lines held".
fn argument_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { 1 } else { 0 })
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
                _ => return Err(PipelineError::Refused("trace needs a reference, or --id with --period".into()).into()),
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

fn init_logging(format: LogFormat) {
    // Under cron (json) the run's events are the record; at a desk the summary on stdout is.
    let default = if format == LogFormat::Json { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DISBURSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}
