//! `disburse returns`: applies bank receipts to the ledger, flags what must not be
//! applied, and writes `returns/failures.csv` for every period touched.
//!
//! What is never applied silently: a reference we never sent, an amount other
//! than the one we sent, and a status that contradicts a final one already
//! recorded. Each is flagged (exit 2) and changes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{io_err, publish, Outcome, PipelineError};
use crate::bankfile::Format;
use crate::config::Config;
use crate::domain::{mask_id, Failure, PaymentStatus, Period, ReceiptLine};
use crate::ledger::{Applied, Ledger, LedgerError, LedgerLine, Lock, ReceiptBatch, StagedLine, Verdict};
use crate::returns::{self, ReasonMap};

/// A receipt line that was not applied, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub file: String,
    pub position: u64,
    pub end_to_end_id: String,
    pub problem: String,
}

/// What reading one receipt file found besides its lines.
struct Read {
    kind: String,
    /// camt.054: the account the bank notified; must be one of our payers.
    account: Option<String>,
}

/// What became of one receipt file.
enum FileOutcome {
    /// The same bytes were applied before: nothing changed.
    Seen,
    Applied {
        kind: String,
        applied: Applied,
        flags: Vec<Flag>,
        touched: BTreeSet<Period>,
    },
}

/// Applies receipt files, all in one ledger transaction, each line decided as the
/// parser reads it. One malformed file refuses the whole command: the transaction
/// is dropped and nothing is applied.
pub fn returns(config: &Config, files: &[PathBuf]) -> Result<Outcome, PipelineError> {
    let _lock = Lock::for_config(config)?;
    let mut ledger = crate::ledger::open(config)?;
    let mut summary = publish::recover(config, ledger.as_mut())?;
    let reasons = ReasonMap::load(&config.formats_dir).map_err(|e| PipelineError::Refused(e.to_string()))?;
    let text_formats = text_formats(config)?;
    let mut flags = Vec::new();
    let mut touched = BTreeSet::new();
    let mut applied_total = 0;
    let mut batch = ledger.begin_receipts()?;
    tracing::debug!(event = "phase", phase = "receipts_begun");
    for path in files {
        let name = path.display().to_string();
        let outcome = apply_file(config, batch.as_mut(), path, &name, &text_formats, &reasons)?;
        super::fault::point("receipt");
        let FileOutcome::Applied { kind, applied, flags: mut f, touched: t } = outcome else {
            tracing::info!(event = "receipt_already_applied", file = %name);
            summary.push(format!("{name}：此回执已处理过，没有任何改动"));
            continue;
        };
        applied_total += applied.updated;
        touched.extend(t);
        tracing::info!(event = "receipt_applied", file = %name, kind = %kind, lines = applied.lines, updated = applied.updated, flagged = f.len());
        summary.push(format!(
            "{}（{}）：{} 行，更新 {} 笔，标记待查 {} 行",
            name,
            kind,
            applied.lines,
            applied.updated,
            f.len()
        ));
        flags.append(&mut f);
    }
    tracing::debug!(event = "phase", phase = "receipts_decided");
    batch.commit()?;
    tracing::debug!(event = "phase", phase = "receipts_committed");
    let mut failures_found = 0;
    for period in &touched {
        failures_found += write_failures(config, ledger.as_ref(), *period)?;
    }
    tracing::debug!(event = "phase", phase = "failures_written");
    for f in flags.iter().take(20) {
        summary.push(format!("  待查 {} 第{}行 {}：{}", f.file, f.position, f.end_to_end_id, f.problem));
    }
    if flags.len() > 20 {
        summary.push(format!("  ……另有 {} 行待查", flags.len() - 20));
    }
    if !flags.is_empty() {
        write_flags(config, &flags)?;
    }
    summary.push(format!("共更新 {applied_total} 笔；失败/退票 {failures_found} 笔待处理；待查 {} 行", flags.len()));
    Ok(Outcome { needs_person: !flags.is_empty() || failures_found > 0, summary })
}

/// Reads one receipt file into the batch. Its lines are decided while it is read
/// and hashed; a receipt whose bytes were applied before is then undone, and a
/// camt.054 about another office's account is read again with every line flagged.
fn apply_file(
    config: &Config,
    batch: &mut dyn ReceiptBatch,
    path: &Path,
    name: &str,
    text_formats: &[Format],
    reasons: &ReasonMap,
) -> Result<FileOutcome, PipelineError> {
    batch.begin_receipt(name)?;
    let mut sink =
        Sink { batch, reasons, file: name, foreign: None, flags: Vec::new(), touched: BTreeSet::new(), error: None };
    let (sha256, read) = read_file(path, text_formats, &mut sink)?;
    if sink.batch.receipt_seen(&sha256)? {
        sink.batch.discard_receipt()?;
        return Ok(FileOutcome::Seen);
    }
    if let Some(problem) = read.account.as_deref().and_then(|a| foreign_account(config, a)) {
        sink.batch.discard_receipt()?;
        sink.batch.begin_receipt(name)?;
        sink.flags.clear();
        sink.touched.clear();
        sink.foreign = Some(problem);
        read_file(path, text_formats, &mut sink)?;
    }
    let applied = sink.batch.end_receipt(&sha256, &read.kind)?;
    Ok(FileOutcome::Applied { kind: read.kind, applied, flags: sink.flags, touched: sink.touched })
}

/// The text layouts the office's programs use, for return files that are not XML.
fn text_formats(config: &Config) -> Result<Vec<Format>, PipelineError> {
    let mut names: Vec<&str> = config.programs.values().map(|p| p.format.as_str()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for n in names.into_iter().filter(|n| !n.starts_with("pain001")) {
        out.push(Format::load(n, &config.formats_dir)?);
    }
    Ok(out)
}

/// Where parsed lines go: completed with a reason code, then decided and applied.
struct Sink<'a> {
    batch: &'a mut dyn ReceiptBatch,
    reasons: &'a ReasonMap,
    file: &'a str,
    /// Every line is flagged with this problem (another office's camt.054).
    foreign: Option<String>,
    flags: Vec<Flag>,
    /// Periods with an applied line (their failures.csv is rewritten).
    touched: BTreeSet<Period>,
    /// The first ledger error (the parser goes on; the caller checks this).
    error: Option<LedgerError>,
}

impl Sink<'_> {
    fn push(&mut self, mut l: ReceiptLine) {
        if self.error.is_some() {
            return;
        }
        if l.reason_code.is_empty() && matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned) {
            l.reason_code = self.reasons.code_for(&l.reason_text).to_string();
        }
        let (file, foreign, flags, touched) = (self.file, &self.foreign, &mut self.flags, &mut self.touched);
        let result = self.batch.push(&l, &mut |s| match foreign {
            Some(problem) => {
                flags.push(flag_line(file, s, problem.clone()));
                Verdict::Flagged
            }
            None => decide(file, s, flags, touched),
        });
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn check(&mut self) -> Result<(), PipelineError> {
        match self.error.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// Reads a receipt file's lines into the sink; returns the file's SHA-256 and
/// what else it found.
fn read_file(path: &Path, text_formats: &[Format], sink: &mut Sink<'_>) -> Result<(String, Read), PipelineError> {
    let name = sink.file;
    let (streamed, sha256) = parse_and_hash(path, name, sink);
    let sha256 = sha256.map_err(io_err(path))?;
    let refuse = |e: String| PipelineError::Refused(format!("{name}: {e}; nothing was applied"));
    if let Some(parsed) = streamed.map_err(|e| refuse(e.to_string()))? {
        for g in &parsed.group_statuses {
            expand_group(g, sink)?;
        }
        sink.check()?;
        return Ok((sha256, Read { kind: format!("{:?}", parsed.kind), account: parsed.account }));
    }
    // A text return file is read a line at a time, twice for the layout that
    // fits: once only counting (a file is one layout's only if every line of it
    // reads), then for real. Neither the file nor its lines are held.
    let open = || std::fs::File::open(path).map(|f| std::io::BufReader::with_capacity(1 << 16, f));
    let mut errors = Vec::new();
    for f in text_formats {
        match f.stream_returns(&mut open().map_err(io_err(path))?, name, &mut |_| ()) {
            // A file with no receipt line is not a receipt (an empty or half-uploaded file).
            Ok(0) => errors.push(format!("as {}: no receipt line", f.name())),
            Ok(_) => {
                f.stream_returns(&mut open().map_err(io_err(path))?, name, &mut |l| sink.push(l))
                    .map_err(|e| refuse(format!("as {}: {e} (the file changed while it was read)", f.name())))?;
                sink.check()?;
                return Ok((sha256, Read { kind: f.name().to_string(), account: None }));
            }
            Err(e) => errors.push(format!("as {}: {e}", f.name())),
        }
    }
    Err(refuse(format!("not a receipt this office can read ({})", errors.join("; "))))
}

/// Parses an XML receipt on one thread and hashes it on another while this one
/// decides and applies its lines (the ledger reads ahead on a third): the lines
/// cross in bounded chunks, so memory does not grow with the file.
fn parse_and_hash(
    path: &Path,
    name: &str,
    sink: &mut Sink<'_>,
) -> (Result<Option<returns::ParsedReceipt>, returns::ReturnsError>, std::io::Result<String>) {
    const CHUNK: usize = 4096;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ReceiptLine>>(4);
    std::thread::scope(|s| {
        let hash = s.spawn(|| crate::fsutil::sha256_file(path));
        let parse = s.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let parsed = returns::stream_xml_file(path, name, &mut |l| {
                chunk.push(l);
                if chunk.len() == CHUNK {
                    // A closed channel means the sink failed: the error is the sink's.
                    let _ = tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                }
            });
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
            parsed
        });
        for l in rx.into_iter().flatten() {
            sink.push(l);
        }
        let parsed = parse.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (parsed, hash.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}

/// A camt.054 about an account that is none of this office's payer accounts is
/// another office's notification: every line is flagged, none applied.
fn foreign_account(config: &Config, a: &str) -> Option<String> {
    if config.payers.values().any(|p| p.account == a) {
        return None;
    }
    Some(format!("回执通知的账户{}不是本单位的付款账户，未采用", crate::domain::mask_account(a)))
}

fn flag_line(file: &str, l: &StagedLine<'_>, problem: String) -> Flag {
    Flag { file: file.to_string(), position: l.position, end_to_end_id: l.end_to_end_id.to_string(), problem }
}

/// A group or payment-information level status covers every line of the file it
/// names (the bank file's MsgId is its file name without `.xml`).
fn expand_group(g: &returns::GroupStatus, sink: &mut Sink<'_>) -> Result<(), PipelineError> {
    if g.status != PaymentStatus::Failed {
        return Ok(());
    }
    for end_to_end_id in sink.batch.payments_in_file(&format!("{}.xml", g.original_msg_id))? {
        sink.push(ReceiptLine {
            file: String::new(),
            position: g.position,
            end_to_end_id,
            status: PaymentStatus::Failed,
            amount: None,
            reason_code: g.reason_code.clone(),
            reason_text: g.reason_text.clone(),
        });
    }
    Ok(())
}

/// Whether one receipt line may be applied, or must be flagged. `pending` (an
/// earlier line of the same receipt about the same payment) counts as the
/// current status: a later line replaces the earlier update.
fn decide(file: &str, l: &StagedLine<'_>, flags: &mut Vec<Flag>, touched: &mut BTreeSet<Period>) -> Verdict {
    let mut flag = |problem: String| {
        flags.push(flag_line(file, l, problem));
        Verdict::Flagged
    };
    let Some(p) = l.payment else {
        return flag("未知的业务参考号：本单位没有发出过这笔".into());
    };
    if let Some(a) = l.amount.filter(|a| *a != p.amount) {
        return flag(format!("回执金额{a}元与发出金额{}元不符", p.amount));
    }
    let current = l.pending.unwrap_or(p.status);
    match transition(current, l.status) {
        Transition::Apply => {
            touched.insert(p.period);
            Verdict::Apply
        }
        Transition::Same => Verdict::Unchanged,
        Transition::Contradicts => flag(format!(
            "与已记录的最终状态矛盾（已记录：{}，回执：{}），未采用",
            status_zh(current),
            status_zh(l.status)
        )),
    }
}

enum Transition {
    Apply,
    Same,
    Contradicts,
}

fn transition(from: PaymentStatus, to: PaymentStatus) -> Transition {
    use PaymentStatus::*;
    match (from, to) {
        (a, b) if a == b => Transition::Same,
        (Sent | Pending, Pending | Settled | Failed | Returned) => Transition::Apply,
        (Settled, Returned) => Transition::Apply,
        _ => Transition::Contradicts,
    }
}

pub(crate) fn status_zh(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Sent => "已发出",
        PaymentStatus::Pending => "处理中",
        PaymentStatus::Settled => "成功",
        PaymentStatus::Failed => "失败",
        PaymentStatus::Returned => "退票",
    }
}

/// Rewrites `<period>/returns/failures.csv` from the ledger, and the death stop
/// suggestions. Returns how many failed or returned lines still need a person
/// (no correction settled or in flight).
fn write_failures(config: &Config, ledger: &dyn Ledger, period: Period) -> Result<u64, PipelineError> {
    let lines = ledger.failure_lines(period)?;
    tracing::debug!(event = "phase", phase = "failure_lines_read", lines = lines.len());
    let corrected: BTreeSet<String> = lines
        .iter()
        .filter(|l| l.original_id.is_some() && !is_failure(l))
        .filter_map(|l| l.original_id.clone())
        .collect();
    let deaths: Vec<LedgerLine> = lines.iter().filter(|l| returns::is_death(&l.reason_code)).cloned().collect();
    // The lines move into the failures (no second copy of every name and place:
    // a national receipt can leave a hundred thousand failures).
    let mut open = 0;
    let failures: Vec<Failure> = lines
        .into_iter()
        .filter(is_failure)
        .inspect(|l| open += u64::from(!corrected.contains(root(l))))
        .map(failure)
        .collect();
    let dir = config.period_dir(period).join("returns");
    crate::report::write_failures_csv(&dir.join("failures.csv"), &failures)?;
    tracing::debug!(event = "phase", phase = "failures_csv_written");
    crate::report::refresh_html(&config.period_dir(period).join("reports"), &failures)?;
    if !deaths.is_empty() {
        let deaths: Vec<&LedgerLine> = deaths.iter().collect();
        write_death_list(&dir.join("stops_suggested.csv"), &deaths)?;
    }
    Ok(open)
}

fn is_failure(l: &LedgerLine) -> bool {
    matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)
}

/// The people the bank reported deceased, for the clerk to add to the stop list
/// (later runs already hold them, R03). Masked: the clerk finds the full number
/// on the roster.
fn write_death_list(path: &Path, deaths: &[&LedgerLine]) -> Result<(), PipelineError> {
    crate::fsutil::write_atomic_with(path, |w| {
        w.write_all("\u{feff}".as_bytes())?;
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "program",
            "end_to_end_id",
            "township",
            "village",
            "name",
            "id_number_masked",
            "reason",
            "suggestion",
        ])?;
        for l in deaths {
            c.write_record([
                l.program.code(),
                &l.end_to_end_id,
                &l.township,
                &l.village,
                &l.name,
                &mask_id(&l.id_number),
                &l.reason_text,
                "death：核实后加入停发名单 stops.csv",
            ])?;
        }
        c.flush()?;
        Ok(())
    })
    .map_err(io_err(path))
}

fn root(l: &LedgerLine) -> &str {
    l.original_id.as_deref().unwrap_or(&l.end_to_end_id)
}

fn failure(l: LedgerLine) -> Failure {
    let reason_text =
        if l.reason_text.is_empty() { returns::reason_zh(&l.reason_code).to_string() } else { l.reason_text };
    Failure {
        program: l.program,
        id_number_masked: mask_id(&l.id_number),
        action: returns::action_zh(l.status, &l.reason_code).to_string(),
        end_to_end_id: l.end_to_end_id.into(),
        township: l.township.into(),
        village: l.village.into(),
        name: l.name.into(),
        amount: l.amount,
        status: l.status,
        reason_code: l.reason_code,
        reason_text,
    }
}

fn write_flags(config: &Config, flags: &[Flag]) -> Result<(), PipelineError> {
    let stamp = super::run::now_cn().format("%Y%m%d-%H%M%S");
    let path = config.output_dir.join("flags").join(format!("receipts-{stamp}.csv"));
    crate::fsutil::write_atomic_with(&path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(["file", "position", "end_to_end_id", "problem"])?;
        for f in flags {
            c.write_record([f.file.as_str(), &f.position.to_string(), &f.end_to_end_id, &f.problem])?;
        }
        c.flush()?;
        Ok(())
    })
    .map_err(io_err(&path))
}
