//! `disburse run`: the whole pipeline — check, bank files, signatures, manifest,
//! reports and the ledger, committed as one (see [`super::publish`]).

use super::audit::{audited, Facts};
use super::stage::{stage, BatchInfo, Frame, Lines, Staged};
use super::{fault, prepare, publish, summary_lines, Outcome, PipelineError, Prepared, Progress};
use crate::config::Config;
use crate::domain::Period;
use crate::ledger::{BatchKind, Lock};
use crate::sign::Signer;

/// The month it is now, in China Standard Time.
pub(crate) fn this_month() -> Period {
    super::now_cn().format("%Y-%m").to_string().parse().expect("a date's year and month are a period")
}

/// Runs the period: pays every line not yet paid, exactly once.
pub fn run(config: &Config, period: Period, progress: &Progress) -> Result<Outcome, PipelineError> {
    run_locked(config, period, progress).inspect_err(|e| {
        if !matches!(
            e,
            PipelineError::Ledger(crate::ledger::LedgerError::Locked(_) | crate::ledger::LedgerError::OfficeLocked(_))
        ) {
            super::check::withdraw_stale_reports(config, period)
        }
    })
}

fn run_locked(config: &Config, period: Period, progress: &Progress) -> Result<Outcome, PipelineError> {
    let _lock = Lock::for_config(config)?;
    audited(config, "run", &[period], |facts| run_audited(config, period, progress, facts))
}

fn run_audited(
    config: &Config,
    period: Period,
    progress: &Progress,
    facts: &mut Facts,
) -> Result<Outcome, PipelineError> {
    let mut ledger = crate::ledger::open(config)?;
    let mut summary = publish::recover(config, ledger.as_mut())?;
    facts.recovered = summary.clone();
    let prepared = prepare(config, period, Some(ledger.as_ref()), progress)?;
    let (held_lines, held_amount) = prepared
        .totals
        .programs
        .values()
        .fold((0, rust_decimal::Decimal::ZERO), |(n, a), t| (n + t.held.lines, a + t.held.amount));
    facts.total_decimal("held", held_lines, held_amount);
    tracing::debug!(event = "phase", phase = "rosters_checked", lines = prepared.paid_lines());
    summary.extend(summary_lines(&prepared));
    if prepared.paid_lines() == 0 {
        let skipped: u64 = prepared.totals.programs.values().map(|t| t.skipped.lines).sum();
        if skipped > 0 {
            tracing::info!(event = "run_nothing_new", period = %period, skipped, "nothing new to pay");
            summary.push(crate::tr!(
                "{period}：没有新的应发人员（{skipped} 笔已发放或在途），未写任何新文件",
                "{period}: nothing new to pay ({skipped} lines already paid or in flight); no new file written"
            ));
            // Lines still held this period need a person even when nothing new is paid (SPEC §7).
            return Ok(Outcome::new(prepared.held_lines() > 0, summary).with(super::prepared_totals(&prepared)));
        }
        summary.push(crate::tr!(
            "{period}：没有可发放的行，未写任何文件；暂缓 {} 笔",
            "{period}: no line can be paid; no file written; {} lines held",
            prepared.held_lines()
        ));
        return Ok(Outcome::new(true, summary).with(super::prepared_totals(&prepared)));
    }
    let signer = Signer::load(&config.signing.algorithm, &config.signing.key, &config.signing.distid)?;
    let n = ledger.next_batch_number(period, BatchKind::Run)?;
    let batch = format!("R{n:03}");
    let frame = Frame { period, totals: &prepared.totals, formats: &prepared.formats };
    let lines = Lines::Replay(&prepared, progress);
    let info = BatchInfo { batch: &batch, kind: BatchKind::Run, signer: &signer, verified: &[] };
    let staged = stage(config, &frame, lines, ledger.as_mut(), &info)?;
    facts.batch = Some(batch.clone());
    facts.total("paid", staged.lines, staged.amount);
    fault::point("committed");
    publish::publish(&staged.staging_dir, &config.period_dir(period))?;
    ledger.mark_published(staged.run_id)?;
    log_committed(&prepared, &staged, &batch);
    if n > 1 {
        // The batch's report.html replaced the one drawn with the period's
        // failures so far: drawn again. (A first batch has no receipt yet.)
        super::derived::rebuild(config, ledger.as_ref(), &std::collections::BTreeSet::from([period]))?;
    }
    summary.push(crate::tr!(
        "{period} 第{n}批：写出 {} 个银行文件，发放 {} 笔；暂缓 {} 笔，警告 {} 笔",
        "{period} batch {n}: {} bank files written, {} lines paid; {} held, {} warned",
        staged.files.len(),
        staged.lines,
        prepared.held_lines(),
        prepared.warned_lines()
    ));
    let totals = super::prepared_totals(&prepared)
        .text("batch", batch)
        .count("files", staged.files.len() as u64)
        .count("sent_lines", staged.lines)
        .fen("sent_amount", staged.amount)
        .count("warned_lines", prepared.warned_lines());
    Ok(Outcome::new(prepared.held_lines() + prepared.warned_lines() > 0, summary).with(totals))
}

/// One event per program and one for the run, with stable field names for log shippers.
fn log_committed(prepared: &Prepared, staged: &Staged, batch: &str) {
    for (program, t) in &prepared.totals.programs {
        tracing::info!(
            event = "program_totals",
            period = %prepared.period,
            program = program.code(),
            approved_lines = t.approved.lines,
            approved_amount = %super::fmt2(t.approved.amount),
            paid_lines = t.paid.lines,
            paid_amount = %super::fmt2(t.paid.amount),
            held_lines = t.held.lines,
            held_amount = %super::fmt2(t.held.amount),
            skipped_lines = t.skipped.lines,
            refused = t.refused,
        );
    }
    let total = staged.amount;
    tracing::info!(
        event = "run_committed",
        period = %prepared.period,
        batch,
        files = staged.files.len(),
        lines = staged.lines,
        amount = %total,
        held = prepared.held_lines(),
        warned = prepared.warned_lines(),
        "run committed and published"
    );
}
