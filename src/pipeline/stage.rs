//! Writing one batch (a run or a correction batch) as its lines stream past:
//! bank files, signatures, reports, manifest and ledger, into the staging folder
//! and one ledger transaction, committed only when every file is whole.
//!
//! The threads this starts and the channels between them are drawn in
//! [`super::threads`], which owns the ledger and signing threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

use chrono::{DateTime, FixedOffset};

use super::threads::{self, record, sign_files, Spares, Stopped, ToLedger, CHUNK};
use super::{fault, io_err, publish, PipelineError, Prepared, Progress};
use crate::bankfile::{BankWriter, BatchHead, Format, PartPlan, WrittenFile};
use crate::config::Config;
use crate::domain::{Change, EndToEndId, Fen, PaymentLine, PaymentStatus, Period, Program, Text};
use crate::ledger::{BatchKind, FileRecord, Ledger, LedgerError, LedgerLine, NewRun};
use crate::report::{self, Exceptions, PaidHead, PaidReports, ReportSet, RunReport};
use crate::sign::manifest::{self, FileEntry, Manifest, ProgramEntry, RecordEntry, SigningInfo, VerifiedEntry};
use crate::sign::Signer;
use crate::totals::RunTotals;

/// What a batch is written for: the period, its totals and the programs' formats.
pub(crate) struct Frame<'a> {
    pub period: Period,
    pub totals: &'a RunTotals,
    pub formats: &'a BTreeMap<Program, Format>,
}

/// A correction's place in its chain: the first original's reference and the retry number.
pub(crate) type Link = (String, u32);

/// Where a batch's lines come from.
pub(crate) enum Lines<'a> {
    /// Pass 2 over the period's rosters (a run).
    Replay(&'a Prepared, &'a Progress),
    /// Correction lines, each with its link.
    Given(Vec<(PaymentLine, Link)>),
}

impl Lines<'_> {
    /// How each program's lines fall into bank files: planned from the amounts
    /// in the order they will be written, before the first line is.
    fn plans(&self, formats: &BTreeMap<Program, Format>) -> BTreeMap<Program, Vec<PartPlan>> {
        let mut out = BTreeMap::new();
        for (program, format) in formats {
            let plan = match self {
                Lines::Replay(p, _) => format.plan(p.paid_amounts(*program)),
                Lines::Given(v) => format.plan(v.iter().filter(|(l, _)| l.program == *program).map(|(l, _)| l.amount)),
            };
            if !plan.is_empty() {
                out.insert(*program, plan);
            }
        }
        out
    }

    /// Hands every line to `pay`, in program order; returns the exceptions and
    /// changes pass 2 collected (none for given lines).
    fn feed(
        self,
        pay: &mut dyn FnMut(PaymentLine, Option<Link>) -> Result<(), PipelineError>,
    ) -> Result<(Exceptions, Vec<Change>), PipelineError> {
        match self {
            Lines::Replay(p, progress) => {
                let r = p.replay(progress, &mut |l| pay(l, None))?;
                Ok((r.exceptions, r.changes))
            }
            Lines::Given(mut v) => {
                v.sort_by_key(|(l, _)| l.program); // stable: given order within a program
                for (l, link) in v {
                    pay(l, Some(link))?;
                }
                Ok((Exceptions::none(), Vec::new()))
            }
        }
    }
}

/// A batch written to its staging folder and committed to the ledger (state
/// staged): what is left is to publish it.
pub(crate) struct Staged {
    pub run_id: i64,
    pub staging_dir: PathBuf,
    pub files: Vec<FileRecord>,
    pub lines: u64,
    pub amount: Fen,
}

/// The batch's fixed facts.
pub(crate) struct BatchInfo<'a> {
    pub batch: &'a str,
    pub kind: BatchKind,
    pub signer: &'a Signer,
    /// Correction lines paid on somebody's word (kept with the batch).
    pub verified: &'a [crate::ledger::Verified],
}

/// Writes the batch into its staging folder and commits it to the ledger.
pub(crate) fn stage(
    config: &Config,
    frame: &Frame,
    lines: Lines,
    ledger: &mut (dyn Ledger + Send),
    info: &BatchInfo,
) -> Result<Staged, PipelineError> {
    let period_dir = config.period_dir(frame.period);
    let staging = publish::staging_dir(&period_dir, info.batch);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    let created = super::now_cn();
    let earlier = Earlier {
        files: ledger.files_of_period(frame.period)?,
        last_sha: ledger.last_manifest_sha()?,
        records: earlier_records(&period_dir),
    };
    let run = NewRun {
        period: frame.period,
        batch: info.batch.to_string(),
        kind: info.kind,
        staging_dir: staging.clone(),
        manifest_sha256: String::new(),
        created_at: created.to_rfc3339(),
        key_fingerprint: crate::sign::key_fingerprint(&info.signer.public_key_pem()),
        verified: info.verified.to_vec(),
        approvals: frame.totals.programs.values().filter_map(|t| t.approval.clone()).collect(),
    };
    let (tx, rx) = sync_channel::<ToLedger>(8);
    let (used_tx, used_rx) = sync_channel::<Vec<LedgerLine>>(8);
    std::thread::scope(|s| {
        let recorder = threads::spawn(s, "ledger", move || record(ledger, &run, rx, used_tx))?;
        let written = Writer::new(config, frame, info, created, &staging).and_then(|w| w.write(lines, &tx, &used_rx));
        let committed = written.and_then(|(files, count, amount)| {
            never_published(&period_dir, &files)?;
            let (reply, answer) = sync_channel(1);
            tx.send(ToLedger::Seal(reply)).map_err(|_| PipelineError::from(Stopped::Ledger))?;
            let record = answer.recv().map_err(|_| PipelineError::from(Stopped::Ledger))??;
            fault::point("record");
            let sha = write_manifest(config, frame, &earlier, info, (&files, record), created, &staging)?;
            fault::point("manifest");
            let sent = tx.send(ToLedger::Commit(files.clone(), sha));
            Ok((files, count, amount, sent.is_ok()))
        });
        drop(tx);
        let recorded = threads::join(recorder);
        match (committed, recorded) {
            (Ok((files, lines, amount, true)), Ok(Some(run_id))) => {
                Ok(Staged { run_id, staging_dir: staging.clone(), files, lines, amount })
            }
            // The ledger's own error (e.g. a line already paid) explains a stop best.
            (_, Err(e)) => Err(e),
            (Err(e), _) => Err(e),
            _ => Err(Stopped::LedgerEarly.into()),
        }
    })
}

/// The period's files and chain link before this batch.
struct Earlier {
    files: Vec<FileRecord>,
    last_sha: Option<String>,
    /// The payment records of the period's earlier batches (from its current manifest).
    records: Vec<RecordEntry>,
}

/// The records the period's current manifest lists (none if it has none yet;
/// one that cannot be read is refused by [`keep_history`]).
fn earlier_records(period_dir: &Path) -> Vec<RecordEntry> {
    std::fs::read(period_dir.join(manifest::MANIFEST_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .map(|m| m.records)
        .unwrap_or_default()
}

/// No bank file name is ever written twice for the office (SPEC §8): a name
/// already in the period's `bank/` is refused here, one the ledger knows from
/// any period by the ledger itself ([`LedgerError::FileNameUsed`]).
fn never_published(period_dir: &Path, files: &[FileRecord]) -> Result<(), PipelineError> {
    let bank = period_dir.join("bank");
    match files.iter().find(|f| bank.join(&f.name).exists()) {
        Some(f) => Err(LedgerError::FileNameUsed { name: f.name.clone() }.into()),
        None => Ok(()),
    }
}

/// The writing side of [`stage`].
struct Writer<'a> {
    config: &'a Config,
    frame: &'a Frame<'a>,
    info: &'a BatchInfo<'a>,
    created: DateTime<FixedOffset>,
    staging: &'a Path,
    reports: Option<PaidReports>,
    files: Vec<FileRecord>,
}

/// What the `bank` thread takes in: chunks of lines, and emptied ledger chunks
/// to fill again; emptied line chunks go back through `spare_lines`.
struct BankChunks {
    lines: Receiver<Vec<(PaymentLine, Option<Link>)>>,
    spare_lines: SyncSender<Vec<(PaymentLine, Option<Link>)>>,
    spare_ledger: Receiver<Vec<LedgerLine>>,
}

/// The bank files of the program being written.
struct Open<'a> {
    program: Program,
    writer: BankWriter<'a>,
    seq: u64,
    /// How many of its closed files went to the `sign` thread.
    signed: usize,
}

impl<'a> Writer<'a> {
    fn new(
        config: &'a Config,
        frame: &'a Frame<'a>,
        info: &'a BatchInfo<'a>,
        created: DateTime<FixedOffset>,
        staging: &'a Path,
    ) -> Result<Writer<'a>, PipelineError> {
        let reports = match info.kind {
            BatchKind::Run => {
                let generated_at = created.format("%Y-%m-%d %H:%M").to_string();
                let head = PaidHead {
                    office_name: &config.office.name,
                    period: frame.period,
                    generated_at: &generated_at,
                    totals: frame.totals,
                };
                Some(PaidReports::create(&staging.join("reports"), head, ReportSet::Run)?)
            }
            BatchKind::Correction => None,
        };
        Ok(Writer { config, frame, info, created, staging, reports, files: Vec::new() })
    }

    /// Streams every line into the bank files, reports and ledger channel; then
    /// finishes the reports. Returns the bank files, and the lines and amount written.
    ///
    /// Reading the rosters (this thread) and writing the lines (a `bank` thread)
    /// overlap: lines cross in chunks through a bounded channel. A program's
    /// finished files are signed on a `sign` thread while the next program is
    /// written: signing reads each file again, and on the `bank` thread that
    /// stalled every other thread of the run at each program's end.
    fn write(
        mut self,
        lines: Lines,
        tx: &SyncSender<ToLedger>,
        used: &Receiver<Vec<LedgerLine>>,
    ) -> Result<(Vec<FileRecord>, u64, Fen), PipelineError> {
        let plans = lines.plans(self.frame.formats);
        let (line_tx, line_rx) = sync_channel::<Vec<(PaymentLine, Option<Link>)>>(4);
        let line_spares = Spares::new();
        let ledger_spares = Spares::new();
        // Unbounded: a message is a closed file's facts, and waiting for the
        // signer (hashing a 200 MB file) stalled the bank thread and every
        // thread behind it. The files it names are bounded by the plan.
        let (sign_tx, sign_rx) = channel::<(Program, Vec<WrittenFile>)>();
        let (signer, formats) = (self.info.signer, self.frame.formats);
        let summary = self.reports.is_some().then(|| Summary::of(&self));
        let (written, fed, signed, summarised) = std::thread::scope(|s| {
            let signing = threads::spawn(s, "sign", move || sign_files(sign_rx, signer, formats))?;
            let writer = &mut self;
            let chunks =
                BankChunks { lines: line_rx, spare_lines: line_spares.back, spare_ledger: ledger_spares.ready };
            let handle = threads::spawn(s, "bank", move || writer.write_lines(chunks, &plans, tx, sign_tx))?;
            let mut chunk = Vec::with_capacity(CHUNK);
            let fed = lines.feed(&mut |line, link| {
                chunk.push((line, link));
                if chunk.len() == CHUNK {
                    let next = Spares::take(&line_spares.ready);
                    line_tx
                        .send(std::mem::replace(&mut chunk, next))
                        .map_err(|_| PipelineError::from(Stopped::Writer))?;
                    // Recorded ledger chunks: their strings are freed here, where
                    // most were allocated, and the vectors go back to the bank thread.
                    used.try_iter().for_each(|v| Spares::give(&ledger_spares.back, v));
                }
                Ok(())
            });
            if fed.is_ok() && !chunk.is_empty() {
                let _ = line_tx.send(chunk);
            }
            drop(line_tx);
            // The summary reports need only the totals and what the replay found:
            // written here while the other threads finish, not after them.
            let summarised = match (&fed, &summary) {
                (Ok((exceptions, changes)), Some(summary)) => summary.write(exceptions, changes),
                _ => Ok(()),
            };
            let written = threads::join(handle);
            let signed = threads::join(signing);
            Ok::<_, PipelineError>((written, fed, signed, summarised))
        })?;
        // The writer's own error explains a stop best (when it fails, it removes the
        // files it wrote, and the signer may then fail on one of them), unless it
        // stopped because the signer did; then the signer's; "… stopped" least.
        let written = match written {
            Err(e) if !matches!(e, PipelineError::Stopped(Stopped::Signer)) => return Err(e),
            w => w,
        };
        self.files = signed?;
        let (count, amount) = written?;
        fed?;
        summarised?;
        tracing::debug!(event = "phase", phase = "lines_written", lines = count);
        if let Some(paid) = self.reports.take() {
            paid.finish()?;
            fault::point("reports");
        }
        tracing::debug!(event = "phase", phase = "reports_written");
        Ok((self.files, count, amount))
    }

    /// The `bank` thread: each line into its bank file, the paid reports and the
    /// ledger channel, numbering the lines of each program as they come.
    fn write_lines(
        &mut self,
        chunks: BankChunks,
        plans: &BTreeMap<Program, Vec<PartPlan>>,
        tx: &SyncSender<ToLedger>,
        sign: Sender<(Program, Vec<WrittenFile>)>,
    ) -> Result<(u64, Fen), PipelineError> {
        let mut open: Option<Open> = None;
        let mut chunk: Vec<LedgerLine> = Vec::with_capacity(CHUNK);
        let (mut count, mut amount) = (0u64, Fen(0));
        for mut lines in &chunks.lines {
            for (mut line, link) in lines.drain(..) {
                if open.as_ref().map(|o| o.program) != Some(line.program) {
                    if let Some(done) = open.take() {
                        finish_program(done, &sign)?;
                    }
                    open = Some(self.open_program(line.program, plans)?);
                }
                let o = open.as_mut().expect("opened above");
                o.seq += 1;
                if line.end_to_end_id.0.is_empty() {
                    let (period, kind, n) = (self.frame.period, self.info.kind.letter(), batch_number(self.info.batch));
                    let office = self.config.office.code.as_deref();
                    line.end_to_end_id = EndToEndId::for_office(office, line.program, period, kind, n, o.seq);
                }
                let file = Text::new(o.writer.push(&line)?);
                send_closed(o, &sign)?;
                if let Some(r) = self.reports.as_mut() {
                    r.push(&line, &file)?;
                }
                count += 1;
                amount.0 += line.amount.0;
                chunk.push(ledger_line(line, self.frame.period, file, link));
                if chunk.len() == CHUNK {
                    let next = Spares::take(&chunks.spare_ledger);
                    tx.send(ToLedger::Lines(std::mem::replace(&mut chunk, next)))
                        .map_err(|_| PipelineError::from(Stopped::Ledger))?;
                }
            }
            Spares::give(&chunks.spare_lines, lines);
        }
        if let Some(done) = open.take() {
            finish_program(done, &sign)?;
        }
        if !chunk.is_empty() {
            tx.send(ToLedger::Lines(chunk)).map_err(|_| PipelineError::from(Stopped::Ledger))?;
        }
        Ok((count, amount))
    }

    fn open_program(
        &self,
        program: Program,
        plans: &BTreeMap<Program, Vec<PartPlan>>,
    ) -> Result<Open<'a>, PipelineError> {
        let pc = &self.config.programs[&program];
        let format = &self.frame.formats[&program];
        let head = BatchHead {
            office: &self.config.office,
            payer: &self.config.payers[&pc.payer],
            program,
            period: self.frame.period,
            purpose: &pc.purpose,
            batch_id: format!("{}{}{}", program.ref_prefix(), self.frame.period.compact(), self.info.batch),
            created: self.created,
            execution_date: self.created.date_naive(),
        };
        let plan = plans.get(&program).cloned().unwrap_or_default();
        let mut writer = format.writer(head, plan, &self.staging.join("bank"))?;
        // The `sign` thread syncs the files, with their signatures, once all are signed (`sign_files`).
        writer.leave_sync_to_caller();
        Ok(Open { program, writer, seq: 0, signed: 0 })
    }
}

/// What a run's summary reports (汇总表, report.html, exceptions and changes
/// lists, report.json) are made of besides what the replay found.
struct Summary<'a> {
    office_name: &'a str,
    frame: &'a Frame<'a>,
    generated_at: String,
    dir: PathBuf,
}

impl<'a> Summary<'a> {
    fn of(w: &Writer<'a>) -> Summary<'a> {
        Summary {
            office_name: &w.config.office.name,
            frame: w.frame,
            generated_at: w.created.format("%Y-%m-%d %H:%M").to_string(),
            dir: w.staging.join("reports"),
        }
    }

    fn write(&self, exceptions: &Exceptions, changes: &[Change]) -> Result<(), PipelineError> {
        let r = RunReport {
            office_name: self.office_name,
            period: self.frame.period,
            generated_at: self.generated_at.clone(),
            totals: self.frame.totals,
            paid: &[],
            bank_files: &[],
            exceptions: exceptions.into(),
            changes,
            failures: &[],
        };
        report::write_summary_reports(&self.dir, &r, ReportSet::Run)?;
        report::save_snapshot(&self.dir.join("report.json"), &r)?;
        Ok(())
    }
}

/// Closes a program's bank files and hands them to the `sign` thread.
/// Each file went to the signer as it closed ([`send_closed`]); `finish` only
/// checks the plan, so what it returns beyond those is normally nothing.
fn finish_program(o: Open, sign: &Sender<(Program, Vec<WrittenFile>)>) -> Result<(), PipelineError> {
    let written = o.writer.finish()?;
    tracing::debug!(event = "phase", phase = "bank_files_written", program = o.program.code());
    fault::point("bankfile");
    match written.get(o.signed..) {
        Some(rest) if !rest.is_empty() => sign.send((o.program, rest.to_vec())).map_err(|_| Stopped::Signer.into()),
        _ => Ok(()),
    }
}

/// Hands the program's newly closed files to the `sign` thread.
///
/// Why each file as it closes, not a program's files when the program is done:
/// signing hashes every byte again (SM3, ~0.6 CPU-seconds for a million lines),
/// and the last program's files, signed only after the last line, kept one core
/// busy alone at the end of a run.
fn send_closed(o: &mut Open, sign: &Sender<(Program, Vec<WrittenFile>)>) -> Result<(), PipelineError> {
    let closed = o.writer.closed();
    if closed.len() <= o.signed {
        return Ok(());
    }
    let new = closed[o.signed..].to_vec();
    o.signed = closed.len();
    sign.send((o.program, new)).map_err(|_| Stopped::Signer.into())
}

fn batch_number(batch: &str) -> u32 {
    batch[1..].parse().unwrap_or(0)
}

fn ledger_line(l: PaymentLine, period: Period, bank_file: Text, link: Option<Link>) -> LedgerLine {
    let (original_id, retry) = match link {
        Some((root, retry)) => (Some(root), retry),
        None => (None, 0),
    };
    LedgerLine {
        source: Some(l.pos),
        end_to_end_id: l.end_to_end_id.0,
        program: l.program,
        period,
        id_number: l.id_number.into_text(),
        name: l.name,
        township: l.township,
        village: l.village,
        payee_name: l.payee_name,
        account: l.account.into_text(),
        bank: l.bank,
        amount: l.amount,
        bank_file,
        status: PaymentStatus::Sent,
        reason_code: String::new(),
        reason_text: String::new(),
        original_id,
        retry,
        kind: l.kind,
    }
}

/// Writes the cumulative manifest of the period (earlier files from the ledger,
/// plus this batch's) into the staging folder; keeps the current one in history.
fn write_manifest(
    config: &Config,
    frame: &Frame,
    earlier: &Earlier,
    info: &BatchInfo,
    (new_files, record): (&[FileRecord], RecordEntry),
    created: DateTime<FixedOffset>,
    staging: &Path,
) -> Result<String, PipelineError> {
    let period_dir = config.period_dir(frame.period);
    keep_history(&period_dir, staging)?;
    let files = earlier
        .files
        .iter()
        .chain(new_files)
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
    let programs = frame
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
                approval_reference: t.approval.as_ref().map(|a| a.reference.clone()).unwrap_or_default(),
                approved_by: t.approval.as_ref().map(|a| a.approved_by.clone()).unwrap_or_default(),
                approved_on: t.approval.as_ref().map(|a| a.approved_on.clone()).unwrap_or_default(),
            };
            (p.code().to_string(), e)
        })
        .collect();
    let m = Manifest {
        format_version: 1,
        office: config.office.name.clone(),
        office_uscc: config.office.uscc.clone(),
        period: frame.period.to_string(),
        run_id: info.batch.to_string(),
        created: created.to_rfc3339(),
        files,
        programs,
        previous_manifest_sha256: earlier.last_sha.clone(),
        signing: SigningInfo::of(info.signer),
        records: {
            let mut records: Vec<RecordEntry> =
                earlier.records.iter().filter(|r| r.run_id != record.run_id).cloned().collect();
            records.push(record);
            records
        },
        verified: info
            .verified
            .iter()
            .map(|v| VerifiedEntry {
                original_id: v.original_id.clone(),
                retry: v.retry,
                verified_by: v.verified_by.clone(),
                reason: v.reason.clone(),
            })
            .collect(),
    };
    Ok(manifest::write_manifest(staging, &m, info.signer)?)
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
