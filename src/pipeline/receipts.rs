//! `disburse returns`: applies bank receipts to the ledger, flags what must not be
//! applied, and writes `returns/failures.csv` for every period touched.
//!
//! This file only orders the work and moves data: each line is decided by
//! [`returns::decide`] (SPEC §6, §11) as the parser reads it. What one line cannot
//! show — that the file names another office's account, that a batch status it
//! inherits does not apply, that a later line gives the same payment another
//! status — is known only once the file has been read; the receipt is then undone
//! and read again with that knowledge, so nothing is resolved by line order.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::audit::{audited, Facts};
use super::{archive, io_err, publish, Outcome, PipelineError, Totals};
use crate::bankfile::Format;
use crate::config::Config;
use crate::domain::{mask_numbers, mask_reference, PaymentStatus, Period, ReceiptLine};
use crate::ledger::{Applied, Ledger, LedgerError, Lock, ReceiptBatch, Verdict};
use crate::returns::{self, Decision, FileFacts, Problem, ReasonMap, ReceiptKind};

/// A receipt line (or a batch status) that was not applied, and why. The
/// reference and the problem are masked where they look like an ID or account.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub file: String,
    pub position: u64,
    /// The text line (`第12行`) or the element's XPath.
    pub location: String,
    pub end_to_end_id: String,
    pub problem: String,
}

/// What reading one receipt file found besides its lines.
struct Read {
    kind: String,
    /// camt.054: the account the bank notified, and whether the file is a camt.054.
    account: Option<String>,
    camt: bool,
}

/// What became of one receipt file.
enum FileOutcome {
    /// The same bytes were applied before: nothing changed.
    Seen {
        sha256: String,
    },
    Applied {
        kind: String,
        sha256: String,
        applied: Applied,
        flags: Vec<Flag>,
        touched: BTreeSet<Period>,
    },
}

/// Applies receipt files, all in one ledger transaction, each line decided as the
/// parser reads it. One malformed file refuses the whole command: the transaction
/// is dropped and nothing is applied.
pub fn returns(config: &Config, files: &[PathBuf]) -> Result<Outcome, PipelineError> {
    returns_as(config, files, "returns")
}

/// [`returns`], audited as `action` (`watch` applies each file it takes this way).
pub(crate) fn returns_as(config: &Config, files: &[PathBuf], action: &str) -> Result<Outcome, PipelineError> {
    let _lock = Lock::for_config(config)?;
    audited(config, action, &[], |facts| {
        let mut ledger = crate::ledger::open(config)?;
        let summary = publish::recover(config, ledger.as_mut())?;
        facts.recovered = summary.clone();
        let ledger = ledger.as_mut();
        apply(config, ledger, files, summary, Archive::Yes, facts)
    })
}

/// What the receipts left over the periods they touched (`status`, each
/// period's as the derived files were rebuilt from it), into the audit facts:
/// lines and amounts by status.
fn total_statuses(facts: &mut Facts, status: &std::collections::BTreeMap<Period, PeriodStatus>) {
    let mut by_status = crate::ledger::ProgramStatus::default();
    for s in status.values().flat_map(|by_program| by_program.values()) {
        for (mine, theirs) in [
            (&mut by_status.settled, s.settled),
            (&mut by_status.failed, s.failed),
            (&mut by_status.returned, s.returned),
            (&mut by_status.pending, s.pending),
        ] {
            mine.lines += theirs.lines;
            mine.amount += theirs.amount;
        }
    }
    for (name, b) in [
        ("settled", by_status.settled),
        ("failed", by_status.failed),
        ("returned", by_status.returned),
        ("pending", by_status.pending),
    ] {
        facts.total(name, b.lines, b.amount);
    }
}

type PeriodStatus = std::collections::BTreeMap<crate::domain::Program, crate::ledger::ProgramStatus>;

/// Whether applied receipts are archived (SPEC §8): not when `ledger rebuild`
/// replays the archived copies themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Archive {
    Yes,
    Replay,
}

/// [`returns`] on an open, locked ledger: each receipt applied is archived
/// ([`archive::prepare`]) before the transaction commits.
pub(crate) fn apply(
    config: &Config,
    ledger: &mut dyn Ledger,
    files: &[PathBuf],
    mut summary: Vec<String>,
    archiving: Archive,
    facts: &mut Facts,
) -> Result<Outcome, PipelineError> {
    let after = ledger.last_manifest_sha()?;
    let fallback = ledger.periods()?.last().copied().unwrap_or_else(super::run::this_month);
    let mut to_archive = Vec::new();
    let reasons = ReasonMap::load(&config.formats_dir).map_err(|e| PipelineError::Refused(e.to_string()))?;
    let text_formats = text_formats(config)?;
    let mut flags = Vec::new();
    let mut touched = BTreeSet::new();
    let mut applied_total = 0;
    let (mut files_applied, mut receipt_lines) = (0u64, 0u64);
    let mut seen = Vec::new();
    let mut batch = ledger.begin_receipts()?;
    tracing::debug!(event = "phase", phase = "receipts_begun");
    for path in files {
        let name = path.display().to_string();
        let outcome = apply_file(config, batch.as_mut(), path, &name, &text_formats, &reasons)?;
        super::fault::point("receipt");
        let (kind, sha256, applied, mut f, t) = match outcome {
            FileOutcome::Applied { kind, sha256, applied, flags, touched } => (kind, sha256, applied, flags, touched),
            FileOutcome::Seen { sha256 } => {
                seen.push(sha256);
                tracing::info!(event = "receipt_already_applied", file = %name);
                summary.push(crate::tr!(
                    "{name}：此回执已处理过，没有任何改动",
                    "{name}: this receipt was applied before; nothing changed"
                ));
                continue;
            }
        };
        applied_total += applied.updated;
        files_applied += 1;
        receipt_lines += applied.lines;
        let period = t.last().copied().unwrap_or(fallback);
        to_archive.push((path, sha256, period));
        touched.extend(t);
        tracing::info!(event = "receipt_applied", file = %name, kind = %kind, lines = applied.lines, updated = applied.updated, flagged = f.len());
        summary.push(crate::tr!(
            "{}（{}）：{} 行，更新 {} 笔，标记待查 {} 行",
            "{} ({}): {} lines, {} updated, {} flagged",
            name,
            kind,
            applied.lines,
            applied.updated,
            f.len()
        ));
        flags.append(&mut f);
    }
    tracing::debug!(event = "phase", phase = "receipts_decided");
    let archived = match archiving {
        Archive::Yes => {
            let list: Vec<_> = to_archive
                .iter()
                .map(|(source, sha256, period)| archive::Applied { source, sha256, period: *period })
                .collect();
            archive::prepare(&config.output_dir, &list, after)?
        }
        Archive::Replay => Vec::new(),
    };
    super::fault::point("archived");
    batch.commit()?;
    tracing::debug!(event = "phase", phase = "receipts_committed");
    archive::mark_applied(&config.output_dir, &archived)?;
    super::fault::point("receipts_committed");
    let derived = super::derived::rebuild(config, &*ledger, &touched)?;
    let failures_found = derived.open;
    for period in &touched {
        facts.period(*period);
    }
    total_statuses(facts, &derived.status);
    // A receipt applied before may have been committed by a command that died
    // before its lists were written: its periods are rebuilt too (what they
    // list was already reported, and is not counted again).
    let mut again = BTreeSet::new();
    for sha256 in &seen {
        again.extend(ledger.receipt_periods(sha256)?.into_iter().filter(|p| !touched.contains(p)));
    }
    super::derived::rebuild(config, &*ledger, &again)?;
    tracing::debug!(event = "phase", phase = "failures_written");
    for f in flags.iter().take(20) {
        summary.push(crate::tr!(
            "  待查 {} {} {}：{}",
            "  flagged {} {} {}: {}",
            f.file,
            f.location,
            f.end_to_end_id,
            f.problem
        ));
    }
    if flags.len() > 20 {
        summary.push(crate::tr!("  ……另有 {} 行待查", "  … and {} more flagged lines", flags.len() - 20));
    }
    if !flags.is_empty() && archiving == Archive::Yes {
        write_flags(config, &flags)?;
    }
    summary.push(crate::tr!(
        "共更新 {applied_total} 笔；失败/退票 {failures_found} 笔待处理；待查 {} 行",
        "{applied_total} updated in all; {failures_found} failed or returned to handle; {} flagged",
        flags.len()
    ));
    let mut periods = Vec::new();
    for (p, status) in &derived.status {
        periods.push(super::admin::status_totals(*p, None, status));
    }
    let totals = Totals::default()
        .count("files", files.len() as u64)
        .count("files_applied", files_applied)
        .count("receipt_lines", receipt_lines)
        .count("updated_lines", applied_total)
        .count("flagged_lines", flags.len() as u64)
        .count("failures_open", failures_found)
        .list("periods", periods);
    Ok(Outcome::new(!flags.is_empty() || failures_found > 0, summary).with(totals))
}

/// Reads one receipt file into the batch. Its lines are decided while it is read
/// and hashed; a receipt whose bytes were applied before is then undone; one that
/// showed something a line alone could not (see the module) is undone and read
/// again knowing it.
fn apply_file(
    config: &Config,
    batch: &mut dyn ReceiptBatch,
    path: &Path,
    name: &str,
    text_formats: &[Format],
    reasons: &ReasonMap,
) -> Result<FileOutcome, PipelineError> {
    batch.begin_receipt(name)?;
    let mut sink = Sink::new(batch, reasons, name, FileFacts::default());
    let (sha256, read) = read_file(path, text_formats, &mut sink)?;
    if sink.batch.receipt_seen(&sha256)? {
        sink.batch.discard_receipt()?;
        return Ok(FileOutcome::Seen { sha256 });
    }
    let account_problem = if read.camt { account_problem(config, read.account.as_deref()) } else { None };
    let void_inherited = sink.void_groups.keys().any(|g| sink.inherited.contains(g));
    if account_problem.is_some() || void_inherited || !sink.contradicted.is_empty() {
        let facts = FileFacts {
            account_problem,
            void_groups: std::mem::take(&mut sink.void_groups),
            contradicted: std::mem::take(&mut sink.contradicted),
        };
        sink.batch.discard_receipt()?;
        sink.batch.begin_receipt(name)?;
        let batch = sink.batch;
        sink = Sink::new(batch, reasons, name, facts);
        read_file(path, text_formats, &mut sink)?;
    }
    let applied = sink.batch.end_receipt(&sha256, &read.kind)?;
    Ok(FileOutcome::Applied { kind: read.kind, sha256, applied, flags: sink.flags, touched: sink.touched })
}

/// The text layouts the office's programs use, for return files that are not XML.
pub(crate) fn text_formats(config: &Config) -> Result<Vec<Format>, PipelineError> {
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
    /// What an earlier reading of the file showed (nothing on the first).
    facts: FileFacts,
    flags: Vec<Flag>,
    /// Periods with an applied line (their failures.csv is rewritten).
    touched: BTreeSet<Period>,
    /// Found while reading: references given two final statuses, group and batch
    /// statuses that do not apply, and those that lines took their status from.
    contradicted: HashMap<String, Vec<PaymentStatus>>,
    void_groups: std::collections::BTreeMap<u32, String>,
    inherited: BTreeSet<u32>,
    /// The first ledger error (the parser goes on; the caller checks this).
    error: Option<LedgerError>,
}

impl<'a> Sink<'a> {
    fn new(batch: &'a mut dyn ReceiptBatch, reasons: &'a ReasonMap, file: &'a str, facts: FileFacts) -> Sink<'a> {
        Sink {
            batch,
            reasons,
            file,
            facts,
            flags: Vec::new(),
            touched: BTreeSet::new(),
            contradicted: HashMap::new(),
            void_groups: Default::default(),
            inherited: BTreeSet::new(),
            error: None,
        }
    }

    fn push(&mut self, mut l: ReceiptLine) {
        if self.error.is_some() {
            return;
        }
        if l.reason_code.is_empty() && matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned) {
            l.reason_code = self.reasons.code_for(&l.reason_text).to_string();
        }
        // The ledger keeps the bank's words, an account or ID number in them masked.
        if let std::borrow::Cow::Owned(masked) = mask_numbers(&l.reason_text) {
            l.reason_text = masked;
        }
        if let Some(g) = l.inherited {
            self.inherited.insert(g);
        }
        let (file, facts, flags, touched) = (self.file, &self.facts, &mut self.flags, &mut self.touched);
        let contradicted = &mut self.contradicted;
        let result = self.batch.push(&l, &mut |s| match returns::decide(&l, s, facts) {
            Decision::Apply => {
                if let Some(p) = s.payment {
                    touched.insert(p.period);
                }
                Verdict::Apply
            }
            Decision::Unchanged => Verdict::Unchanged,
            Decision::Flag(problem) => {
                if let Problem::ContradictsFile(said) = &problem {
                    contradicted.insert(l.end_to_end_id.clone(), said.clone());
                }
                flags.push(flag(file, &l, &problem));
                Verdict::Flagged
            }
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

fn flag(file: &str, l: &ReceiptLine, problem: &Problem) -> Flag {
    Flag {
        file: file.to_string(),
        position: l.position,
        location: l.place.to_string(),
        end_to_end_id: mask_reference(&l.end_to_end_id).into_owned(),
        problem: mask_numbers(&problem.to_string()).into_owned(),
    }
}

/// Reads a receipt file's lines into the sink; returns the file's SHA-256 and
/// what else it found.
fn read_file(path: &Path, text_formats: &[Format], sink: &mut Sink<'_>) -> Result<(String, Read), PipelineError> {
    let name = sink.file;
    let (streamed, sha256) = parse_and_hash(path, name, sink);
    let sha256 = sha256.map_err(io_err(path))?;
    let refuse = |e: String| {
        PipelineError::Refused(crate::tr!("{name}：{e}；什么都没有导入", "{name}: {e}; nothing was applied"))
    };
    if let Some(parsed) = streamed.map_err(|e| refuse(e.to_string()))? {
        for g in &parsed.group_statuses {
            group(g, sink)?;
        }
        sink.check()?;
        let camt = parsed.kind == ReceiptKind::Camt054;
        return Ok((sha256, Read { kind: format!("{:?}", parsed.kind), account: parsed.account, camt }));
    }
    // A text return file is read a line at a time, twice for the layout that
    // fits: once only counting (a file is one layout's only if every line of it
    // reads), then for real. Neither the file nor its lines are held.
    let open = || std::fs::File::open(path).map(|f| std::io::BufReader::with_capacity(1 << 16, f));
    let mut errors = Vec::new();
    for f in text_formats {
        match f.stream_returns(&mut open().map_err(io_err(path))?, name, &mut |_| ()) {
            // A file with no receipt line is not a receipt (an empty or half-uploaded file).
            Ok(0) => errors.push(crate::tr!("按 {} 读：没有回盘行", "as {}: no receipt line", f.name())),
            Ok(_) => {
                f.stream_returns(&mut open().map_err(io_err(path))?, name, &mut |l| sink.push(l)).map_err(|e| {
                    refuse(crate::tr!(
                        "按 {} 读：{e}（读的时候文件变了）",
                        "as {}: {e} (the file changed while it was read)",
                        f.name()
                    ))
                })?;
                sink.check()?;
                return Ok((sha256, Read { kind: f.name().to_string(), account: None, camt: false }));
            }
            Err(e) => errors.push(crate::tr!("按 {} 读：{e}", "as {}: {e}", f.name())),
        }
    }
    Err(refuse(crate::tr!(
        "不是本办公室能读的回盘（{}）",
        "not a receipt this office can read ({})",
        errors.join(crate::lang::pick("；", "; "))
    )))
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

/// Why a camt.054's lines about our payments cannot be used: it names an account
/// that is none of this office's payer accounts (another office's notification),
/// or none at all.
fn account_problem(config: &Config, account: Option<&str>) -> Option<String> {
    let Some(a) = account else {
        return Some("回执没有写明通知的账户，无法确认是本单位的付款账户，未采用".into());
    };
    if config.payers.values().any(|p| p.account == a) {
        return None;
    }
    Some(format!("回执通知的账户{}不是本单位的付款账户，未采用", crate::domain::mask_account(a)))
}

/// A group or payment-information level status: if it does not apply (not our
/// message or batch, or contradicting itself) it is flagged and changes nothing;
/// a rejection that applies covers every line of the file it names (the bank
/// file's MsgId is its file name without `.xml`).
fn group(g: &returns::GroupStatus, sink: &mut Sink<'_>) -> Result<(), PipelineError> {
    let file = format!("{}.xml", g.original_msg_id);
    let sent = sink.batch.sent_file(&file)?;
    if let Some(why) = returns::group_problem(g, sent) {
        let key = if g.original_pmt_inf_id.is_some() { g.position as u32 } else { 0 };
        sink.void_groups.insert(key, why.clone());
        let id = g.original_pmt_inf_id.as_deref().unwrap_or(&g.original_msg_id);
        sink.flags.push(Flag {
            file: sink.file.to_string(),
            position: g.position,
            location: g.place().to_string(),
            end_to_end_id: mask_reference(id).into_owned(),
            problem: why,
        });
        return Ok(());
    }
    if g.status != PaymentStatus::Failed {
        return Ok(());
    }
    for end_to_end_id in sink.batch.payments_in_file(&file)? {
        sink.push(ReceiptLine {
            position: g.position,
            place: g.place(),
            end_to_end_id,
            status: PaymentStatus::Failed,
            reason_code: g.reason_code.clone(),
            reason_text: g.reason_text.clone(),
            ..ReceiptLine::default()
        });
    }
    Ok(())
}

fn write_flags(config: &Config, flags: &[Flag]) -> Result<(), PipelineError> {
    let stamp = super::now_cn().format("%Y%m%d-%H%M%S");
    let path = config.output_dir.join("flags").join(format!("receipts-{stamp}.csv"));
    crate::fsutil::write_atomic_with(&path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(["file", "position", "end_to_end_id", "problem", "location"])?;
        for f in flags {
            let scrub = crate::report::scrub;
            c.write_record([
                &*scrub(&f.file),
                &f.position.to_string(),
                &scrub(&f.end_to_end_id),
                &scrub(&f.problem),
                &scrub(&f.location),
            ])?;
        }
        c.flush()?;
        Ok(())
    })
    .map_err(io_err(&path))
}
