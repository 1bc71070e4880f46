//! `disburse run`: the whole pipeline — check, bank files, signatures, manifest,
//! reports and the ledger, committed as one (see [`super::publish`]).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use super::{fault, io_err, prepare, publish, summary_lines, Outcome, PipelineError, Prepared, Progress};
use crate::bankfile::Format;
use crate::bankfile::{Batch, WrittenFile};
use crate::config::Config;
use crate::domain::{Change, Exception};
use crate::domain::{EndToEndId, PaymentLine, Period, Program};
use crate::ledger::{BatchKind, FileRecord, Ledger, LedgerLine, Lock, NewRun, SqliteLedger};
use crate::report::{self, ReportSet, RunReport};
use crate::sign::manifest::{self, FileEntry, Manifest, ProgramEntry, SigningInfo};
use crate::sign::Signer;
use crate::totals::RunTotals;

/// Now, in China Standard Time (what banks and clerks read).
pub(crate) fn now_cn() -> DateTime<FixedOffset> {
    chrono::Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset"))
}

/// Runs the period: pays every line not yet paid, exactly once.
pub fn run(config: &Config, period: Period, progress: &Progress) -> Result<Outcome, PipelineError> {
    let _lock = Lock::acquire(&config.ledger_path)?;
    let mut ledger = SqliteLedger::open(&config.ledger_path)?;
    let mut summary = publish::recover(config, &mut ledger)?;
    let prepared = prepare(config, period, Some(&ledger), progress)?;
    summary.extend(summary_lines(&prepared));
    if prepared.paid_lines() == 0 {
        let skipped: u64 = prepared.totals.programs.values().map(|t| t.skipped.lines).sum();
        if skipped > 0 {
            tracing::info!(event = "run_nothing_new", period = %period, skipped, "nothing new to pay");
            summary.push(format!("{period}：没有新的应发人员（{skipped} 笔已发放或在途），未写任何新文件"));
            return Ok(Outcome { needs_person: false, summary });
        }
        summary.push(format!("{period}：没有可发放的行，未写任何文件；暂缓 {} 笔", prepared.held_lines()));
        return Ok(Outcome { needs_person: true, summary });
    }
    let signer = Signer::load(&config.signing.algorithm, &config.signing.key, &config.signing.distid)?;
    let n = ledger.next_batch_number(period, BatchKind::Run)?;
    let batch = format!("R{n:03}");
    let frame = Frame { period, totals: &prepared.totals, formats: &prepared.formats };
    let lines = Lines::Replay(&prepared, progress);
    let staged = stage(config, &frame, lines, &ledger, &signer, &batch, BatchKind::Run)?;
    let run_id = ledger.commit_run(&staged.run, &staged.files, &staged.lines)?;
    fault::point("committed");
    publish::publish(&staged.run.staging_dir, &config.period_dir(period))?;
    ledger.mark_published(run_id)?;
    log_committed(&prepared, &staged, &batch);
    summary.push(format!(
        "{period} 第{n}批：写出 {} 个银行文件，发放 {} 笔；暂缓 {} 笔，警告 {} 笔",
        staged.files.len(),
        staged.lines.len(),
        prepared.held_lines(),
        prepared.warned_lines()
    ));
    Ok(Outcome { needs_person: prepared.held_lines() + prepared.warned_lines() > 0, summary })
}

/// One event per program and one for the run, with stable field names for log shippers.
fn log_committed(prepared: &Prepared, staged: &Staged, batch: &str) {
    for (program, t) in &prepared.totals.programs {
        tracing::info!(
            event = "program_totals",
            period = %prepared.period,
            program = program.code(),
            approved_lines = t.approved.lines,
            approved_amount = %t.approved.amount,
            paid_lines = t.paid.lines,
            paid_amount = %t.paid.amount,
            held_lines = t.held.lines,
            held_amount = %t.held.amount,
            skipped_lines = t.skipped.lines,
            refused = t.refused,
        );
    }
    let total: crate::domain::Fen = staged.lines.iter().map(|l| l.amount).sum();
    tracing::info!(
        event = "run_committed",
        period = %prepared.period,
        batch,
        files = staged.files.len(),
        lines = staged.lines.len(),
        amount = %total,
        held = prepared.held_lines(),
        warned = prepared.warned_lines(),
        "run committed and published"
    );
}

/// What a batch is written for: the period, its totals and the programs' formats.
pub(crate) struct Frame<'a> {
    pub period: Period,
    pub totals: &'a RunTotals,
    pub formats: &'a BTreeMap<Program, Format>,
}

/// Where a batch's lines come from.
pub(crate) enum Lines<'a> {
    /// Pass 2 over the period's rosters (a run).
    Replay(&'a Prepared, &'a Progress),
    /// Lines already built (a correction batch), in program order.
    Given(Vec<PaymentLine>),
}

impl Lines<'_> {
    /// The lines, with the exceptions and changes the replay collected.
    fn collect(self) -> Result<(Vec<PaymentLine>, Vec<Exception>, Vec<Change>), PipelineError> {
        match self {
            Lines::Replay(p, progress) => {
                let mut all = Vec::new();
                let r = p.replay(progress, &mut |l| {
                    all.push(l);
                    Ok(())
                })?;
                Ok((all, r.exceptions, r.changes))
            }
            Lines::Given(v) => Ok((v, Vec::new(), Vec::new())),
        }
    }
}

/// A run written to its staging folder, ready for the ledger.
pub(crate) struct Staged {
    pub run: NewRun,
    pub files: Vec<FileRecord>,
    pub lines: Vec<LedgerLine>,
}

/// Writes bank files, signatures, reports and the manifest into the staging folder.
pub(crate) fn stage(
    config: &Config,
    prepared: &Frame,
    lines: Lines,
    ledger: &dyn Ledger,
    signer: &Signer,
    batch: &str,
    kind: BatchKind,
) -> Result<Staged, PipelineError> {
    let period = prepared.period;
    let period_dir = config.period_dir(period);
    let staging = publish::staging_dir(&period_dir, batch);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    let created = now_cn();
    // All lines in program order (stable, so roster order within a program), each
    // program a contiguous range: the bank files take a range, the reports the
    // whole slice, so the lines are copied once, not once per consumer.
    let (mut all, exceptions, changes) = lines.collect()?;
    all.sort_by_key(|l| l.program); // stable: roster order within a program
    let mut ranges: BTreeMap<Program, (usize, usize)> = BTreeMap::new();
    for (i, l) in all.iter().enumerate() {
        ranges.entry(l.program).or_insert((i, i)).1 = i + 1;
    }
    for &(start, end) in ranges.values() {
        for (k, l) in all[start..end].iter_mut().enumerate() {
            if l.end_to_end_id.0.is_empty() {
                l.end_to_end_id = EndToEndId::new(l.program, period, kind.letter(), batch_number(batch), k as u64 + 1);
            }
        }
    }
    let mut files = Vec::new();
    let mut bank_names = Vec::with_capacity(all.len());
    let mut written_all = write_and_sign(
        &ranges,
        |program, lines| {
            let written = write_program(config, prepared, program, lines, batch, created, &staging)?;
            for w in &written {
                manifest::sign_file(&w.path, signer)?;
                fault::point("signed");
            }
            Ok(written)
        },
        &all,
    )?;
    for (program, &(start, end)) in &ranges {
        let lines = &all[start..end];
        let written = written_all.remove(program).unwrap_or_default();
        let mut rest = lines;
        for w in &written {
            let (these, more) = rest.split_at((w.lines as usize).min(rest.len()));
            rest = more;
            bank_names.extend(these.iter().map(|_| w.file_name.clone()));
            files.push(FileRecord {
                name: w.file_name.clone(),
                program: *program,
                format: prepared.formats[program].name().to_string(),
                lines: w.lines,
                total: w.total,
                sha256: w.sha256.clone(),
            });
        }
        if !rest.is_empty() {
            return Err(PipelineError::Refused(format!("{program}: bank files hold fewer lines than were written")));
        }
    }
    let paid = &all;
    let r = RunReport {
        office_name: &config.office.name,
        period,
        generated_at: created.format("%Y-%m-%d %H:%M").to_string(),
        totals: &prepared.totals,
        paid,
        bank_files: &bank_names,
        exceptions: &exceptions,
        changes: &changes,
        failures: &[],
    };
    if kind == BatchKind::Run {
        report::write_reports(&staging.join("reports"), &r, ReportSet::Run)?;
        report::save_snapshot(&staging.join("reports/report.json"), &r)?;
        fault::point("reports");
    }
    // The reports were the last reader of the lines: the ledger rows take their
    // strings over instead of copying them (a million lines held twice was most
    // of a run's peak memory).
    let ledger_lines: Vec<LedgerLine> =
        all.into_iter().zip(bank_names).map(|(l, file)| ledger_line(l, period, file)).collect();
    let sha = write_manifest(config, prepared, ledger, signer, batch, &files, created, &staging)?;
    fault::point("manifest");
    let run = NewRun {
        period,
        batch: batch.to_string(),
        kind,
        staging_dir: staging,
        manifest_sha256: sha,
        created_at: created.to_rfc3339(),
    };
    Ok(Staged { run, files, lines: ledger_lines })
}

/// Writes and signs each program's bank files, the programs split over two
/// threads by line count (the files of one program never depend on another's).
/// On failure the error of the first failing program, in program order, wins.
fn write_and_sign<F>(
    ranges: &BTreeMap<Program, (usize, usize)>,
    one: F,
    all: &[PaymentLine],
) -> Result<BTreeMap<Program, Vec<WrittenFile>>, PipelineError>
where
    F: Fn(Program, &[PaymentLine]) -> Result<Vec<WrittenFile>, PipelineError> + Sync,
{
    let mut by_size: Vec<(Program, usize, usize)> = ranges.iter().map(|(p, &(s, e))| (*p, s, e)).collect();
    by_size.sort_by_key(|&(p, s, e)| (std::cmp::Reverse(e - s), p));
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    let (mut n_mine, mut n_theirs) = (0usize, 0usize);
    for (p, s, e) in by_size {
        if n_mine <= n_theirs {
            n_mine += e - s;
            mine.push((p, s, e));
        } else {
            n_theirs += e - s;
            theirs.push((p, s, e));
        }
    }
    let run = |group: Vec<(Program, usize, usize)>| {
        group.into_iter().map(|(p, s, e)| (p, one(p, &all[s..e]))).collect::<Vec<_>>()
    };
    let (a, b) = std::thread::scope(|scope| {
        let handle = (!theirs.is_empty()).then(|| scope.spawn(|| run(theirs)));
        let a = run(mine);
        let b = handle.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).unwrap_or_default();
        (a, b)
    });
    let results: BTreeMap<Program, Result<Vec<WrittenFile>, PipelineError>> = a.into_iter().chain(b).collect();
    results.into_iter().map(|(p, r)| r.map(|w| (p, w))).collect()
}

fn batch_number(batch: &str) -> u32 {
    batch[1..].parse().unwrap_or(0)
}

fn write_program(
    config: &Config,
    prepared: &Frame,
    program: Program,
    lines: &[PaymentLine],
    batch: &str,
    created: DateTime<FixedOffset>,
    staging: &Path,
) -> Result<Vec<WrittenFile>, PipelineError> {
    let pc = &config.programs[&program];
    let payer = &config.payers[&pc.payer];
    let b = Batch {
        office: &config.office,
        payer,
        program,
        period: prepared.period,
        purpose: &pc.purpose,
        batch_id: format!("{}{}{}", program.ref_prefix(), prepared.period.compact(), batch),
        created,
        execution_date: created.date_naive(),
        lines,
    };
    let written = prepared.formats[&program].write(&b, &staging.join("bank"))?;
    fault::point("bankfile");
    Ok(written)
}

fn ledger_line(l: PaymentLine, period: Period, bank_file: String) -> LedgerLine {
    LedgerLine {
        end_to_end_id: l.end_to_end_id.0,
        program: l.program,
        period,
        id_number: l.id_number.as_str().to_string(),
        name: l.name,
        township: l.township,
        village: l.village,
        payee_name: l.payee_name,
        account: l.account.as_str().to_string(),
        bank: l.bank,
        amount: l.amount,
        bank_file,
        status: crate::domain::PaymentStatus::Sent,
        reason_code: String::new(),
        reason_text: String::new(),
        original_id: None,
        retry: 0,
    }
}

/// Writes the cumulative manifest of the period (earlier files from the ledger,
/// plus this batch's) into the staging folder; keeps the current one in history.
#[allow(clippy::too_many_arguments)]
fn write_manifest(
    config: &Config,
    prepared: &Frame,
    ledger: &dyn Ledger,
    signer: &Signer,
    batch: &str,
    new_files: &[FileRecord],
    created: DateTime<FixedOffset>,
    staging: &Path,
) -> Result<String, PipelineError> {
    let period_dir = config.period_dir(prepared.period);
    keep_history(&period_dir, staging)?;
    let mut all = ledger.files_of_period(prepared.period)?;
    all.extend(new_files.iter().cloned());
    let files = all
        .iter()
        .map(|f| FileEntry {
            path: format!("bank/{}", f.name),
            program: f.program.code().to_string(),
            format: f.format.clone(),
            size: file_size(&period_dir, staging, &f.name),
            sha256: f.sha256.clone(),
            lines: f.lines,
            total: f.total.yuan_string(),
            signature: format!("bank/{}.sig", f.name),
        })
        .collect();
    let programs = prepared
        .totals
        .programs
        .iter()
        .map(|(p, t)| {
            let e = ProgramEntry {
                approved_lines: t.approved.lines,
                approved_amount: super::fmt2(t.approved.amount),
                paid_lines: t.paid.lines,
                paid_amount: super::fmt2(t.paid.amount),
                held_lines: t.held.lines,
                held_amount: super::fmt2(t.held.amount),
                skipped_lines: t.skipped.lines,
                skipped_amount: super::fmt2(t.skipped.amount),
            };
            (p.code().to_string(), e)
        })
        .collect();
    let m = Manifest {
        format_version: 1,
        office: config.office.name.clone(),
        office_uscc: config.office.uscc.clone(),
        period: prepared.period.to_string(),
        run_id: batch.to_string(),
        created: created.to_rfc3339(),
        files,
        programs,
        previous_manifest_sha256: ledger.last_manifest_sha()?,
        signing: SigningInfo::of(signer),
    };
    Ok(manifest::write_manifest(staging, &m, signer)?)
}

fn file_size(period_dir: &Path, staging: &Path, name: &str) -> u64 {
    let staged = staging.join("bank").join(name);
    let path = if staged.exists() { staged } else { period_dir.join("bank").join(name) };
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Copies the period's current manifest into the staging `history/`, so the
/// publish step keeps it when the new manifest replaces it.
fn keep_history(period_dir: &Path, staging: &Path) -> Result<(), PipelineError> {
    let current = period_dir.join("manifest.json");
    let Ok(bytes) = std::fs::read(&current) else { return Ok(()) };
    let old: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::Refused(format!("{}: not a manifest ({e}); move it away", current.display())))?;
    let hist = staging.join("history");
    let name = format!("manifest-{}.json", old.run_id);
    crate::fsutil::write_atomic(&hist.join(&name), &bytes).map_err(io_err(&hist))?;
    if let Ok(sig) = std::fs::read(period_dir.join("manifest.json.sig")) {
        crate::fsutil::write_atomic(&hist.join(format!("{name}.sig")), &sig).map_err(io_err(&hist))?;
    }
    Ok(())
}
