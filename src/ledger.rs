//! The ledger: every payment line ever sent and what became of it, behind the
//! [`Ledger`] trait: an embedded SQLite file per office (the default), or one
//! PostgreSQL database a province's offices share (SPEC §10, `postgres/`). The
//! pipeline sees only the trait; [`open`] and [`Lock::for_config`] pick the backend.
//!
//! It holds runs, bank files, payment lines and applied receipts — nothing that
//! could drift from the files. "One payment per person, program and period" is a
//! unique index, so even a bug in the pipeline cannot record a second payment.
//! A payment line is written once, by its run; what receipts make of it lives in
//! a narrow status row beside it (schema_v3.sql), so a million-line receipt
//! appends small rows instead of rewriting the wide ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::domain::{Fen, PaymentStatus, Period, Program, ReceiptLine, Text};

mod borrowed;
mod postgres;
mod sqlite;
mod target;
pub use postgres::PgLedger;
pub use sqlite::SqliteLedger;
pub use target::{check_server_url, exists, mask_url, open, server_office_key};

/// Why the ledger could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{}", crate::tr!("台账 {}：{source}", "ledger {}: {source}", path.display()))]
    Open { path: PathBuf, source: rusqlite::Error },
    /// The ledger's folder or file could not be made or opened (a read-only
    /// folder, a file where the folder should be, a full disk): said in a
    /// clerk's words.
    #[error("{}", crate::tr!("台账 {}：{}", "ledger {}: {}", path.display(), crate::fsutil::Explained(source)))]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", crate::tr!("台账 {} 的结构版本是 {found}，比本程序认识的（{known}）新；请升级 disburse", "ledger {} has schema version {found}, newer than this program knows ({known}); upgrade disburse", path.display()))]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("{}", crate::tr!("另一个 disburse 正在运行，占用着锁 {}；请等它结束（如果并没有在运行的，锁会自动释放）", "another disburse run holds the lock {}; wait for it to finish (if none is running, the lock is released automatically)", _0.display()))]
    Locked(PathBuf),
    #[error("{}", crate::tr!("办公室 {_0} 的另一个 disburse 命令正在使用共享台账；请等它结束（它的连接断开时锁就释放，程序中途退出也一样）", "another disburse command of office {_0} is using the shared ledger; wait for it to finish (the lock goes with its connection, also if it died)"))]
    OfficeLocked(String),
    #[error("{}", crate::tr!("共享台账 {target}：{message}", "shared ledger {target}: {message}"))]
    Server { target: String, message: String },
    #[error("{}", crate::tr!("共享台账：{_0}", "shared ledger: {_0}"))]
    Pg(String),
    #[error("{}", crate::tr!("{_0}；没有记入任何内容：请重新运行（其间别的办公室已发放的人届时按 R08 暂缓）", "{_0}; nothing was committed: run again (the people another office paid meanwhile are then held R08)"))]
    Contended(String),
    #[error("{}", crate::tr!("{program} {period}：此人的发放已有记录{by}；没有记入任何内容", "{program} {period}: a payment for this person is already recorded{by}; nothing was committed"))]
    AlreadyPaid { program: String, period: String, by: String },
    #[error("{}", crate::tr!("前面出错后，这次发放的台账事务已回滚；没有记入任何内容", "the run's ledger transaction was rolled back after an earlier error; nothing was committed"))]
    RolledBack,
    #[error("{}", crate::tr!("台账：{_0}", "ledger: {_0}"))]
    Db(#[from] rusqlite::Error),
    #[error("{}", crate::tr!("台账 {}：{source}", "ledger {}: {source}", path.display()))]
    File { path: PathBuf, source: std::io::Error },
    #[error("{}", crate::tr!("台账锁 {}：{}", "ledger lock {}: {}", path.display(), crate::fsutil::Explained(source)))]
    LockIo { path: PathBuf, source: std::io::Error },
    #[error("{}", crate::tr!("台账里有读不懂的值：{_0}", "ledger holds a value it cannot read: {_0}"))]
    Corrupt(String),
    #[error("{}", crate::tr!("银行文件名 {name} 本办公室以前的发放已经用过：文件名不能重复（银行可能把新文件当成旧文件）；请在格式的 file_name 里加上 {{batch_id}}，如果那个文件不是本办公室发放写的，就把它移走；没有记入任何内容", "bank file name {name} was already published by an earlier run of this office: a name is never used twice (the bank may take the new file for the old one); make the format's file_name include {{batch_id}}, or move the file away if no run of this office wrote it; nothing was committed"))]
    FileNameUsed { name: String },
}

/// Kind of a batch: a normal run (发放) or a correction batch (更正发放).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    Run,
    Correction,
}

impl BatchKind {
    fn code(self) -> &'static str {
        match self {
            BatchKind::Run => "run",
            BatchKind::Correction => "correction",
        }
    }

    /// `R` or `C`, the letter inside references and batch names.
    pub fn letter(self) -> char {
        match self {
            BatchKind::Run => 'R',
            BatchKind::Correction => 'C',
        }
    }
}

/// A run about to be committed.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub period: Period,
    pub batch: String,
    pub kind: BatchKind,
    pub staging_dir: PathBuf,
    pub manifest_sha256: String,
    pub created_at: String,
    /// The signing key's fingerprint ([`crate::sign::key_fingerprint`]):
    /// `verify --config` checks the run against the key that signed it.
    pub key_fingerprint: String,
    /// Correction lines of the batch paid on a person's word (see [`Verified`]).
    pub verified: Vec<Verified>,
    /// The approval (审批: 文号, approver, date) each program was paid under (SPEC §9).
    pub approvals: Vec<crate::domain::Approval>,
}

/// Who checked that a beneficiary the bank reported deceased, or on the stop
/// list, is alive and entitled, for one correction line (its chain's first
/// original and its retry); kept in the ledger with the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub original_id: String,
    pub retry: u32,
    pub verified_by: String,
    /// What was checked (the death report, the stop list), as the clerk read it.
    pub reason: String,
}

/// A committed run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub period: Period,
    pub batch: String,
    pub staging_dir: PathBuf,
    pub published: bool,
}

/// A bank file as the ledger records it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub name: String,
    pub program: Program,
    pub format: String,
    pub lines: u64,
    pub total: Fen,
    pub sha256: String,
}

/// One payment line as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerLine {
    pub end_to_end_id: Text,
    pub program: Program,
    pub period: Period,
    pub id_number: Text,
    pub name: Text,
    pub township: Text,
    pub village: Text,
    pub payee_name: Text,
    pub account: Text,
    pub bank: Text,
    pub amount: Fen,
    pub bank_file: Text,
    pub status: PaymentStatus,
    pub reason_code: String,
    pub reason_text: String,
    /// For a correction: the original line it replaces (the first one in the chain).
    pub original_id: Option<String>,
    pub retry: u32,
    /// 项目类型 and 所属期 (SPEC §9): part of what makes one payment.
    pub kind: crate::domain::LineKind,
    /// The roster (or corrections file) row the line came from. Kept in the
    /// batch's payment record (records/<batch>/paid.csv), not in the ledger's
    /// tables: a backend returns `None` (why: a million more values to index
    /// and store, for a question only `trace` asks, which reads the record).
    pub source: Option<crate::domain::SourcePos>,
}

impl LedgerLine {
    /// The `covers` column: `YYYY-MM` or empty.
    pub fn covers_text(&self) -> String {
        self.kind.covers_text()
    }
}

/// What deciding a receipt line needs to know about the payment it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentState {
    pub period: Period,
    pub amount: Fen,
    pub status: PaymentStatus,
}

/// One receipt line, joined with the payment it names: all that deciding the
/// line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedLine<'a> {
    pub position: u64,
    pub end_to_end_id: &'a str,
    pub status: PaymentStatus,
    pub amount: Option<Fen>,
    /// The payment named, `None` for a reference this office never sent. Its
    /// status is the ledger's now (an earlier line of the receipt included).
    pub payment: Option<PaymentState>,
    /// The status an earlier line of the same receipt already decided for this
    /// payment (it replaces the ledger's status while deciding).
    pub pending: Option<PaymentStatus>,
    /// Every status earlier lines of the same receipt gave this payment, applied
    /// or not: a file that says two things about one payment is caught whatever
    /// the ledger held before.
    pub given: StatusSet,
}

/// A small set of payment statuses (one bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSet(u8);

impl StatusSet {
    const ALL: [PaymentStatus; 5] = [
        PaymentStatus::Sent,
        PaymentStatus::Pending,
        PaymentStatus::Settled,
        PaymentStatus::Failed,
        PaymentStatus::Returned,
    ];

    fn bit(s: PaymentStatus) -> u8 {
        1 << Self::ALL.iter().position(|x| *x == s).unwrap_or(0)
    }

    pub fn of(statuses: &[PaymentStatus]) -> StatusSet {
        StatusSet(statuses.iter().fold(0, |b, s| b | Self::bit(*s)))
    }

    pub fn with(self, s: PaymentStatus) -> StatusSet {
        StatusSet(self.0 | Self::bit(s))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> StatusSet {
        StatusSet(bits)
    }

    /// The settled, failed and returned statuses in the set.
    pub fn finals(self) -> Vec<PaymentStatus> {
        Self::ALL[2..].iter().copied().filter(|s| self.0 & Self::bit(*s) != 0).collect()
    }
}

/// What becomes of one staged line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply its status (replacing an earlier pending one of the same receipt).
    Apply,
    /// Nothing to change (the ledger already says so).
    Unchanged,
    /// Not applied; a person must look (counted as `flagged` in the receipts table).
    Flagged,
}

/// Receipts being applied, all in one transaction (see [`Ledger::begin_receipts`]):
/// each line is decided as it is read. Dropping it without
/// [`ReceiptBatch::commit`] leaves the ledger as it was.
pub trait ReceiptBatch {
    /// Whether a receipt with these bytes was applied before (in this batch too).
    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError>;
    /// The references of every line of one bank file (a group-level rejection covers them all).
    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<String>, LedgerError>;
    /// Whether this office sent a bank file of this name (a pain.002's
    /// `OrgnlMsgId` names our pain.001 file `<MsgId>.xml`): a group or batch
    /// status applies only to what we sent.
    fn sent_file(&self, bank_file: &str) -> Result<bool, LedgerError>;
    /// Starts a receipt: the lines pushed until [`ReceiptBatch::end_receipt`] are its.
    fn begin_receipt(&mut self, file_name: &str) -> Result<(), LedgerError>;
    /// Decides one line of the open receipt with `decide`, against the ledger as it
    /// stands (earlier lines and receipts of the batch included), and applies it if
    /// told to: a later line about a payment replaces an earlier one's update.
    fn push(
        &mut self,
        line: &ReceiptLine,
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Result<(), LedgerError>;
    /// Records the open receipt (its bytes' SHA-256 and its kind) with the counts of
    /// its verdicts, and closes it.
    fn end_receipt(&mut self, sha256: &str, kind: &str) -> Result<Applied, LedgerError>;
    /// Undoes everything the open receipt did, and closes it (a receipt applied
    /// before, or one to flag whole).
    fn discard_receipt(&mut self) -> Result<(), LedgerError>;
    /// Makes every recorded receipt durable at once.
    fn commit(self: Box<Self>) -> Result<(), LedgerError>;
}

/// What applying a receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub lines: u64,
    pub updated: u64,
    pub flagged: u64,
}

/// Lines and amount of one status bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    pub lines: u64,
    pub amount: Fen,
}

impl Bucket {
    fn add_many(&mut self, b: Bucket) {
        self.lines += b.lines;
        self.amount += b.amount;
    }
}

/// Per program status of a period (SPEC §6 `status`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProgramStatus {
    pub sent: Bucket,
    pub settled: Bucket,
    pub failed: Bucket,
    pub returned: Bucket,
    /// Sent with no final receipt yet (no receipt, or a provisional one).
    pub pending: Bucket,
    /// Correction lines (a subset of `sent`).
    pub reissued: Bucket,
}

impl ProgramStatus {
    /// sent = settled + failed + returned + pending, lines and amount.
    pub fn balances(&self) -> bool {
        let parts = [self.settled, self.failed, self.returned, self.pending];
        self.sent.lines == parts.iter().map(|b| b.lines).sum::<u64>()
            && self.sent.amount == parts.iter().map(|b| b.amount).sum::<Fen>()
    }

    fn add(&mut self, line: &LedgerLine) {
        self.add_lines(line.status, line.original_id.is_some(), Bucket { lines: 1, amount: line.amount });
    }

    /// Counts `b`, lines that are all in `status` and all corrections or all not.
    pub fn add_lines(&mut self, status: PaymentStatus, corrections: bool, b: Bucket) {
        self.sent.add_many(b);
        match status {
            PaymentStatus::Settled => self.settled.add_many(b),
            PaymentStatus::Failed => self.failed.add_many(b),
            PaymentStatus::Returned => self.returned.add_many(b),
            PaymentStatus::Sent | PaymentStatus::Pending => self.pending.add_many(b),
        }
        if corrections {
            self.reissued.add_many(b);
        }
    }
}

/// Per person ([`crate::domain::id_key`]): what a program paid them in a period
/// by the lines that stand (not failed or returned), added up. Keys, not ID
/// numbers and names: a million people are compared with the roster month after
/// month, and only the few dropped since need their details
/// ([`Ledger::people_named`]). An ID number not of the national form (none a
/// run pays: V02 holds it) has no key and is left out.
pub type PaidByPerson = HashMap<u64, Fen, foldhash::fast::RandomState>;

/// [`Ledger::people_named`]'s answer gathered line by line: per person, the
/// greatest ID number text and the greatest name of their lines (as SQL's `MAX`
/// gives them), in key order.
#[derive(Default)]
struct PeopleNamed(BTreeMap<u64, (String, String)>);

impl PeopleNamed {
    fn add(&mut self, key: u64, id_number: &str, name: &str) {
        let (kept_id, kept_name) = self.0.entry(key).or_default();
        if id_number > kept_id.as_str() {
            *kept_id = id_number.to_string();
        }
        if name > kept_name.as_str() {
            *kept_name = name.to_string();
        }
    }

    fn into_list(self) -> Vec<(u64, String, String)> {
        self.0.into_iter().map(|(k, (id, name))| (k, id, name)).collect()
    }
}

/// What the pipeline needs from a ledger. Implemented by [`SqliteLedger`].
pub trait Ledger {
    /// Runs committed but not yet published (a crash came between the two).
    fn staged_runs(&self) -> Result<Vec<RunRecord>, LedgerError>;
    /// Records that a run's files are all in place.
    fn mark_published(&mut self, run_id: i64) -> Result<(), LedgerError>;
    /// The next free batch number of `kind` in `period` (1, 2, …).
    fn next_batch_number(&self, period: Period, kind: BatchKind) -> Result<u32, LedgerError>;
    /// ID numbers with an original line for (program, period): R04.
    /// As [`crate::domain::IdNumber::key`]s: a million people as integers, not strings.
    fn paid_people(&self, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError>;
    /// (ID key, [`crate::domain::LineKind::key`]) of every original line other
    /// than a basic one `program` has in `period` (R04 of SPEC §9's line types).
    /// The default reads the period's lines.
    fn paid_other_lines(&self, program: Program, period: Period) -> Result<HashSet<(u64, u32)>, LedgerError> {
        Ok(self
            .payments_of_period(period)?
            .iter()
            .filter(|l| l.program == program && l.original_id.is_none() && l.kind != crate::domain::LineKind::BASIC)
            .filter_map(|l| crate::domain::id_key(&l.id_number).map(|k| (k, l.kind.key())))
            .collect())
    }
    /// The approvals runs of `period` were paid under, with each run's batch
    /// (`R001`…). The default: none recorded.
    fn approvals_of_period(&self, _period: Period) -> Result<Vec<(String, crate::domain::Approval)>, LedgerError> {
        Ok(Vec::new())
    }
    /// ID numbers (as keys) `program` paid in `period` by a line, original or
    /// correction, that has not failed or been returned: what R02 across runs
    /// compares with. The default reads the period's lines.
    fn live_people(&self, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError> {
        Ok(self
            .payments_of_period(period)?
            .iter()
            .filter(|l| l.program == program && !matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned))
            .filter_map(|l| crate::domain::id_key(&l.id_number))
            .collect())
    }
    /// Calls `f` with (program, ID number, account, payee name, village) of each
    /// line of `period` that stands (not failed or returned) and is paid into one
    /// of `accounts`: what the new accounts of a correction batch are compared
    /// with (R05). The default reads the period's lines; a backend should stream
    /// them, and look at a line's status only when its account is one of these
    /// (a correction batch names a few accounts, a period has a million lines).
    fn for_each_standing_line(
        &self,
        period: Period,
        accounts: &HashSet<&str>,
        f: &mut dyn FnMut(Program, &str, &str, &str, &str),
    ) -> Result<(), LedgerError> {
        for l in self.payments_of_period(period)? {
            if accounts.contains(l.account.as_str())
                && !matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)
            {
                f(l.program, &l.id_number, &l.account, &l.payee_name, &l.village);
            }
        }
        Ok(())
    }
    /// The latest period before `period` in which `program` paid, with each
    /// person's amount that reached or is on its way (not failed or returned).
    fn last_paid_before(&self, program: Program, period: Period)
        -> Result<Option<(Period, PaidByPerson)>, LedgerError>;
    /// Per person (ID key), what `program` paid them in `period`'s calendar
    /// year up to and including `period` (earlier batches), by lines that
    /// stand: what the annual cap (A02, SPEC §9) counts. Here period by period
    /// through [`Ledger::last_paid_before`]; a backend that can read the year's
    /// lines at once does (a December reads eleven months).
    fn paid_in_year(&self, program: Program, period: Period) -> Result<PaidByPerson, LedgerError> {
        let mut out = PaidByPerson::default();
        let mut before = if period.month == 12 {
            Period { year: period.year + 1, month: 1 }
        } else {
            Period { month: period.month + 1, ..period }
        };
        while let Some((q, amounts)) = self.last_paid_before(program, before)? {
            if q.year != period.year {
                break;
            }
            for (k, fen) in amounts {
                *out.entry(k).or_insert(Fen(0)) += fen;
            }
            before = q;
        }
        Ok(out)
    }
    /// (ID key, ID number, name) of each of `people` whom `program` paid in
    /// `period` by a line that stands, under the greatest name when their lines
    /// differ; people it did not pay so are left out. What the few people
    /// dropped since the last paid period are listed under (changes.csv), read
    /// for them alone rather than for everyone [`Ledger::last_paid_before`] gives.
    fn people_named(
        &self,
        program: Program,
        period: Period,
        people: &[u64],
    ) -> Result<Vec<(u64, String, String)>, LedgerError>;
    /// Opens a run's transaction: lines are added as they are written, and the
    /// files and manifest recorded at [`RunWriter::commit`]. Nothing of it is
    /// visible, or kept, unless that commit succeeds — a crash or an error before
    /// it leaves the ledger as it was.
    fn begin_run(&mut self, run: &NewRun) -> Result<Box<dyn RunWriter + '_>, LedgerError>;
    /// Commits a run, its files and its lines in one transaction.
    fn commit_run(&mut self, run: &NewRun, files: &[FileRecord], lines: &[LedgerLine]) -> Result<i64, LedgerError> {
        let mut w = self.begin_run(run)?;
        w.add_lines(lines)?;
        w.commit(files, &run.manifest_sha256)
    }
    /// SHA-256 of the newest committed run's manifest (the chain link).
    fn last_manifest_sha(&self) -> Result<Option<String>, LedgerError>;
    /// Bank files of a period (for the cumulative manifest).
    fn files_of_period(&self, period: Period) -> Result<Vec<FileRecord>, LedgerError>;
    /// The payment with this reference.
    fn payment(&self, end_to_end_id: &str) -> Result<Option<LedgerLine>, LedgerError>;
    /// Every line of one bank file (a group-level rejection covers them all).
    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<LedgerLine>, LedgerError>;
    /// Every line of a period.
    fn payments_of_period(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError>;

    /// Per program status of a period (`disburse status`). The default reads every
    /// line of the period; a backend should answer with one aggregate query, so
    /// that a million-line period is counted without being loaded.
    fn period_status(&self, period: Period) -> Result<BTreeMap<Program, ProgramStatus>, LedgerError> {
        Ok(status_of(&self.payments_of_period(period)?))
    }
    /// The lines of a period that `failures.csv` can need: failed or returned, a
    /// correction, or carrying a reason code. Same order as `payments_of_period`;
    /// why: a million settled lines need not be loaded to list ten thousand failures.
    fn failure_lines(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        let mut lines = self.payments_of_period(period)?;
        lines.retain(|l| {
            matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)
                || l.original_id.is_some()
                || !l.reason_code.is_empty()
        });
        Ok(lines)
    }
    /// Corrections made for an original line.
    fn corrections_of(&self, original_id: &str) -> Result<Vec<LedgerLine>, LedgerError>;
    /// Whether a receipt file with these bytes was applied before.
    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError>;
    /// Opens one transaction for the receipts of a command (see [`ReceiptBatch`]):
    /// a crash or an error before its commit leaves the ledger as it was.
    fn begin_receipts(&mut self) -> Result<Box<dyn ReceiptBatch + '_>, LedgerError>;
    /// The periods of the payments whose status a receipt (by its bytes'
    /// SHA-256) set and still sets: what its lists are rebuilt for when it is
    /// read again.
    fn receipt_periods(&self, sha256: &str) -> Result<Vec<Period>, LedgerError>;
    /// Who checked the person of a correction line paid despite a death report
    /// or the stop list (`reissue`'s `verified_by`), if anyone.
    fn verified_by(&self, end_to_end_id: &str) -> Result<Option<String>, LedgerError>;
    /// People the bank reported deceased (MD07) with no correction settled since:
    /// ID number → the reference that reported it. Later runs hold them (R03).
    fn reported_deceased(&self) -> Result<HashMap<String, String>, LedgerError>;
    /// Periods that have any payment.
    fn periods(&self) -> Result<Vec<Period>, LedgerError>;
    /// The SHA-256 of every committed batch's manifest (the continuity check
    /// compares the output folder's manifests with them).
    fn manifest_shas(&self) -> Result<HashSet<String>, LedgerError>;
    /// Whether the ledger holds anything: a run or a receipt (`ledger rebuild`
    /// never overwrites such a ledger without `--force`).
    fn holds_data(&self) -> Result<bool, LedgerError>;

    /// Records an audit event (SPEC §14), or replaces the earlier state of the
    /// event with the same `id` (a command writes its event when it starts and
    /// again when it ends). Committed at once, on its own: never part of a run's
    /// or a receipt batch's transaction, so it is called only while none is open.
    fn record_audit(&mut self, event: &crate::audit::AuditEvent) -> Result<(), LedgerError>;
    /// Every audit event, in the order they started (`started_at`, then `id`).
    fn audit_events(&self) -> Result<Vec<crate::audit::AuditEvent>, LedgerError>;
    /// How many commits the ledger holds: committed batches plus applied
    /// receipts. It only grows, by one with every batch or receipt committed, so
    /// two counts taken under the lock tell whether anything was committed between.
    fn commit_count(&self) -> Result<u64, LedgerError>;
    /// The lines of `period` still `sent` or `pending` whose batch was made
    /// (`NewRun::created_at`, RFC 3339 China time, compared as text) at or before
    /// `made_by`: the lines the bank has not answered (unanswered.csv). Same
    /// order as `payments_of_period`.
    fn unanswered(&self, period: Period, made_by: &str) -> Result<Vec<LedgerLine>, LedgerError>;
    /// How many lines [`Ledger::unanswered`] would return, and their amount
    /// (`status` counts them). The default reads them; a backend should answer
    /// with one aggregate query, so that a million-line period the bank never
    /// answered is counted without being loaded.
    fn unanswered_count(&self, period: Period, made_by: &str) -> Result<Bucket, LedgerError> {
        let lines = self.unanswered(period, made_by)?;
        Ok(Bucket { lines: lines.len() as u64, amount: lines.iter().map(|l| l.amount).sum() })
    }
    /// R08: people another office of a shared ledger already has an original line
    /// for in (program, period), as [`crate::domain::IdNumber::key`] → that
    /// office's code. An office's own ledger has no other office.
    fn paid_elsewhere(&self, _program: Program, _period: Period) -> Result<HashMap<u64, String>, LedgerError> {
        Ok(HashMap::new())
    }
    /// The provincial rollup (`status --all-offices`): per office code, the
    /// status of `period` by program. `None`: not a shared ledger.
    fn all_offices_status(&self, _period: Period) -> Result<Option<OfficesStatus>, LedgerError> {
        Ok(None)
    }
    /// Periods with a payment of any office (those of this office alone for an
    /// office's own ledger).
    fn all_periods(&self) -> Result<Vec<Period>, LedgerError> {
        self.periods()
    }
    /// The key fingerprint recorded for the run whose manifest has this SHA-256
    /// (`Some("")` for a run recorded before fingerprints were), `None` if no run
    /// of this office has that manifest.
    fn run_key_fingerprint(&self, manifest_sha256: &str) -> Result<Option<String>, LedgerError>;
}

/// Per office code, per program status of one period.
pub type OfficesStatus = BTreeMap<String, BTreeMap<Program, ProgramStatus>>;

/// A run being recorded (see [`Ledger::begin_run`]). Dropping it without
/// `commit` abandons the run.
pub trait RunWriter {
    /// Records lines of the run. The one-payment-per-person rule is enforced
    /// here: a line already paid is [`LedgerError::AlreadyPaid`].
    fn add_lines(&mut self, lines: &[LedgerLine]) -> Result<(), LedgerError>;
    /// Records the run's bank files and manifest, and commits; returns the run's id.
    fn commit(self: Box<Self>, files: &[FileRecord], manifest_sha256: &str) -> Result<i64, LedgerError>;
}

/// Per program status of a period, computed from its lines.
pub fn status_of(lines: &[LedgerLine]) -> BTreeMap<Program, ProgramStatus> {
    let mut out = BTreeMap::new();
    for l in lines {
        out.entry(l.program).or_insert_with(ProgramStatus::default).add(l);
    }
    out
}

/// An exclusive lock on a ledger, held for the whole of a command that writes.
/// Released when dropped, or by the OS if the process dies.
#[derive(Debug)]
pub struct Lock {
    _file: Option<File>,
    _office: Option<postgres::OfficeLock>,
}

impl Lock {
    /// The lock of the config's ledger: the file beside an SQLite ledger, or the
    /// office's advisory lock on a shared one.
    pub fn for_config(config: &crate::config::Config) -> Result<Lock, LedgerError> {
        match &config.ledger {
            crate::config::LedgerTarget::File(path) => Lock::acquire(path),
            crate::config::LedgerTarget::Server { .. } => {
                let held = postgres::OfficeLock::acquire(config)?;
                Ok(Lock { _file: None, _office: Some(held) })
            }
        }
    }

    /// Takes the lock next to the ledger at once, or fails with `Locked`.
    pub fn acquire(ledger_path: &Path) -> Result<Lock, LedgerError> {
        let path = lock_path(ledger_path);
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir)
                .map_err(|source| LedgerError::LockIo { path: path.clone(), source })?;
        }
        let mut options = File::options();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|source| LedgerError::LockIo { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: Some(file), _office: None }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LedgerError::Locked(path)),
            Err(std::fs::TryLockError::Error(source)) => Err(LedgerError::LockIo { path, source }),
        }
    }
}

fn lock_path(ledger_path: &Path) -> PathBuf {
    let mut p = ledger_path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}
