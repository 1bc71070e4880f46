//! Receipts applied as their lines are read, and the read-ahead thread that
//! fetches the payments a receipt is about to name.

use super::*;

/// Payment rows already met in the receipts being applied: a bit per rowid (the
/// ledger's rowids are dense), so a million-line receipt costs a few hundred KB.
pub(super) struct Seen {
    bits: Vec<u64>,
    sparse: HashSet<i64>,
}

impl Seen {
    fn new(max_rowid: i64) -> Seen {
        let words = if (0..1 << 34).contains(&max_rowid) { max_rowid as usize / 64 + 1 } else { 0 };
        Seen { bits: vec![0; words], sparse: HashSet::new() }
    }

    /// Marks `pid`; true if it was marked before.
    fn mark(&mut self, pid: i64) -> bool {
        match usize::try_from(pid).ok().filter(|p| p / 64 < self.bits.len()) {
            Some(p) => {
                let (w, b) = (p / 64, 1u64 << (p % 64));
                let before = self.bits[w] & b != 0;
                self.bits[w] |= b;
                before
            }
            None => !self.sparse.insert(pid),
        }
    }
}

/// The statuses the open receipt gave each payment so far, a byte per rowid (see
/// [`StagedLine::given`]): a million payments cost a megabyte.
pub(super) struct Given {
    bytes: Vec<u8>,
    sparse: HashMap<i64, u8>,
}

impl Given {
    fn new(max_rowid: i64) -> Given {
        let n = if (0..1 << 34).contains(&max_rowid) { max_rowid as usize + 1 } else { 0 };
        Given { bytes: vec![0; n], sparse: HashMap::new() }
    }

    fn clear(&mut self) {
        self.bytes.fill(0);
        self.sparse.clear();
    }

    fn get(&self, pid: i64) -> StatusSet {
        let b = match usize::try_from(pid).ok().and_then(|p| self.bytes.get(p)) {
            Some(b) => *b,
            None => self.sparse.get(&pid).copied().unwrap_or(0),
        };
        StatusSet::from_bits(b)
    }

    fn add(&mut self, pid: i64, s: PaymentStatus) {
        match usize::try_from(pid).ok().and_then(|p| self.bytes.get_mut(p)) {
            Some(b) => *b = StatusSet::from_bits(*b).with(s).bits(),
            None => {
                let b = self.sparse.entry(pid).or_insert(0);
                *b = StatusSet::from_bits(*b).with(s).bits();
            }
        }
    }
}

/// A TEXT column borrowed from the row (no copy per line).
pub(super) fn text_at<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, LedgerError> {
    Ok(row
        .get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))?)
}

pub(super) fn parse_status(s: &str) -> Result<PaymentStatus, LedgerError> {
    PaymentStatus::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("unknown status {s}")))
}

/// The payment a receipt line names and its status row, by the reference's
/// number in its family or the reference kept whole ([`payment_id_of`];
/// receipts come in payment order, so the pages it walks are the ones the
/// previous line walked).
pub(super) const LOOKUP_SQL: &str = concat!(
    "SELECT p.id, p.period, p.amount_fen, COALESCE(s.status, 'sent'), s.payment_id IS NOT NULL, \
     s.receipt_id FROM payment_rows p LEFT JOIN payment_status s ON s.payment_id = p.id WHERE p.id = ",
    payment_id_of!(1, 2, 3)
);

/// New status rows (a payment's first receipt, the common case) by plain
/// multi-row INSERTs; an upsert cost twice as much per row. `OR ROLLBACK`: no
/// statement journal, and a conflict (a bug) ends the whole transaction.
pub(super) fn status_insert_sql(rows: usize) -> String {
    let values = vec!["(?,?,?,?,?,?)"; rows].join(",");
    format!(
        "INSERT OR ROLLBACK INTO payment_status (payment_id, period, status, reason_code, reason_text, receipt_id) \
         VALUES {values}"
    )
}

/// Status rows per INSERT: each statement run sets up its constraint checks
/// again (the CHECK's IN list, the partial indexes' conditions).
pub(super) const STATUS_ROWS_PER_INSERT: usize = 256;

pub(super) const STATUS_UPDATE_SQL: &str =
    "UPDATE OR ROLLBACK payment_status SET period = ?2, status = ?3, reason_code = ?4, \
     reason_text = ?5, receipt_id = ?6, updated_at = NULL WHERE payment_id = ?1";

/// A status row waiting for its multi-row INSERT; its texts interned.
#[derive(Clone, Copy)]
pub(super) struct NewStatus {
    pid: i64,
    status: PaymentStatus,
    text: u32,
}

/// Receipts applied as their lines are read ([`Ledger::begin_receipts`]): one
/// IMMEDIATE transaction for the whole command, a savepoint per receipt (so a
/// receipt found already applied, or to be flagged whole, is undone alone). Why:
/// staging a million lines in a scratch table and joining them back cost more
/// than deciding them; a line is now looked up, decided and written while the
/// parser reads the next ones on its own thread.
pub(super) struct SqliteReceipts<'c> {
    conn: &'c Connection,
    lookup: rusqlite::Statement<'c>,
    many: rusqlite::Statement<'c>,
    one: rusqlite::Statement<'c>,
    update: rusqlite::Statement<'c>,
    /// New status rows not yet written (at most `STATUS_ROWS_PER_INSERT`).
    buffer: Vec<NewStatus>,
    /// Distinct `[period, reason_code, reason_text]` of the rows written.
    texts: Vec<[String; 3]>,
    text_ids: HashMap<String, u32>,
    /// Scratch for the `period \0 code \0 reason` key of `text_ids`.
    key: String,
    /// Payments whose status this batch wrote: the scan's snapshot of them is stale.
    written: Seen,
    given: Given,
    scan: Scan,
    /// The open receipt's row id, and what it did so far.
    receipt: Option<i64>,
    applied: Applied,
    period_cache: Option<(i64, Period)>,
    /// Whether the open receipt has a savepoint, and how many receipts ended.
    savepoint: bool,
    ended: u64,
    /// False once committed; dropping an open batch rolls it back.
    open: bool,
}

impl<'c> SqliteReceipts<'c> {
    pub(super) fn begin(conn: &'c Connection, path: &Path) -> Result<SqliteReceipts<'c>, LedgerError> {
        let mut batch = SqliteReceipts {
            conn,
            lookup: conn.prepare("SELECT 1")?,
            many: conn.prepare("SELECT 1")?,
            one: conn.prepare("SELECT 1")?,
            update: conn.prepare("SELECT 1")?,
            buffer: Vec::with_capacity(STATUS_ROWS_PER_INSERT),
            texts: Vec::new(),
            text_ids: HashMap::new(),
            key: String::new(),
            written: Seen::new(0),
            given: Given::new(-1),
            scan: Scan::new(path),
            receipt: None,
            applied: Applied::default(),
            period_cache: None,
            savepoint: false,
            ended: 0,
            open: false,
        };
        // Foreign keys off for this transaction (the pragma only takes effect outside
        // one; dropping the batch turns them on again). The only key its writes touch
        // is a status row's receipt, the row this transaction just inserted, and
        // checking it looked up that row again for each of a million status rows.
        conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE")?;
        batch.open = true;
        // Prepared with the transaction open, so a failure below rolls it back on drop.
        batch.lookup = conn.prepare(LOOKUP_SQL)?;
        batch.many = conn.prepare(&status_insert_sql(STATUS_ROWS_PER_INSERT))?;
        batch.one = conn.prepare(&status_insert_sql(1))?;
        batch.update = conn.prepare(STATUS_UPDATE_SQL)?;
        let max: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM payment_rows", [], |r| r.get(0))?;
        batch.written = Seen::new(max);
        batch.given = Given::new(max);
        // Only in WAL mode does a reader never stand in the writer's way (in the
        // rollback-journal modes spilling the cache would wait for the scan).
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        batch.scan.enabled = mode.eq_ignore_ascii_case("wal");
        Ok(batch)
    }

    fn receipt_id(&self) -> Result<i64, LedgerError> {
        self.receipt.ok_or_else(|| LedgerError::Corrupt("a receipt line came before its receipt was begun".into()))
    }

    /// Writes the buffered new status rows.
    fn flush(&mut self) -> Result<(), LedgerError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let receipt_id = self.receipt_id()?;
        let result = if self.buffer.len() == STATUS_ROWS_PER_INSERT {
            bind_status(&mut self.many, &self.texts, &self.buffer, receipt_id)
        } else {
            self.buffer
                .iter()
                .try_for_each(|r| bind_status(&mut self.one, &self.texts, std::slice::from_ref(r), receipt_id))
        };
        self.buffer.clear();
        result
    }
}

/// Binds `rows` (6 parameters each) to `stmt` and runs it.
pub(super) fn bind_status(
    stmt: &mut rusqlite::Statement<'_>,
    texts: &[[String; 3]],
    rows: &[NewStatus],
    receipt_id: i64,
) -> Result<(), LedgerError> {
    let mut i = 1;
    for d in rows {
        let [period, code, reason] = &texts[d.text as usize];
        stmt.raw_bind_parameter(i, d.pid)?;
        stmt.raw_bind_parameter(i + 1, period.as_str())?;
        stmt.raw_bind_parameter(i + 2, d.status.code())?;
        stmt.raw_bind_parameter(i + 3, code.as_str())?;
        stmt.raw_bind_parameter(i + 4, reason.as_str())?;
        stmt.raw_bind_parameter(i + 5, receipt_id)?;
        i += 6;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// A payment a receipt line names, as the ledger holds it now.
pub(super) struct Found {
    pid: i64,
    state: PaymentState,
    has_row: bool,
    /// The receipt that wrote its status row, if any.
    receipt: Option<i64>,
}

impl SqliteReceipts<'_> {
    fn look_up(&mut self, e2e: &str) -> Result<Option<Found>, LedgerError> {
        let (a, b, c) = reference_params(e2e);
        let mut rows = self.lookup.query(params![a, b, c])?;
        let Some(row) = rows.next()? else { return Ok(None) };
        let n: i64 = row.get(1)?;
        let period = match &self.period_cache {
            Some((t, p)) if *t == n => *p,
            _ => {
                let p = period_from_n(n)?;
                self.period_cache = Some((n, p));
                p
            }
        };
        Ok(Some(Found {
            pid: row.get(0)?,
            state: PaymentState { period, amount: Fen(row.get(2)?), status: parse_status(text_at(row, 3)?)? },
            has_row: row.get(4)?,
            receipt: row.get(5)?,
        }))
    }

    /// The interned `[period, code, reason]`.
    fn text_id(&mut self, period: Period, code: &str, reason: &str) -> u32 {
        use std::fmt::Write;
        self.key.clear();
        let _ = write!(self.key, "{period}\0{code}\0{reason}");
        if let Some(&t) = self.text_ids.get(self.key.as_str()) {
            return t;
        }
        let t = self.texts.len() as u32;
        self.texts.push([period.to_string(), code.to_string(), reason.to_string()]);
        self.text_ids.insert(self.key.clone(), t);
        t
    }

    fn end(&mut self) {
        self.buffer.clear();
        self.receipt = None;
        self.applied = Applied::default();
    }
}

impl ReceiptBatch for SqliteReceipts<'_> {
    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError> {
        receipt_seen(self.conn, sha256)
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<String>, LedgerError> {
        Ok(query_lines(self.conn, &payments_in_file_sql(), &[&bank_file])?
            .into_iter()
            .map(|l| l.end_to_end_id.into())
            .collect())
    }

    fn sent_file(&self, bank_file: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM bank_files WHERE name = ?1 AND format LIKE 'pain001%'",
                params![bank_file],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn begin_receipt(&mut self, file_name: &str) -> Result<(), LedgerError> {
        if self.receipt.is_some() {
            return Err(LedgerError::Corrupt("a receipt was begun while another was open".into()));
        }
        self.given.clear();
        // The batch's first receipt needs no savepoint: undoing it is undoing the
        // transaction. Why: with a savepoint open SQLite copies every page it changes
        // that existed before into a sub-journal (~5% of a million-line receipt).
        self.savepoint = self.ended > 0;
        if self.savepoint {
            self.conn.execute_batch("SAVEPOINT receipt")?;
        }
        // The SHA-256 is filled in at the end (the file is hashed while its lines are read).
        self.conn.execute(
            "INSERT INTO receipts (sha256, file_name, kind, applied, flagged, applied_at) \
             VALUES ('(being applied)', ?1, '', 0, 0, ?2)",
            params![file_name, now()],
        )?;
        self.receipt = Some(self.conn.last_insert_rowid());
        Ok(())
    }

    fn push(
        &mut self,
        line: &ReceiptLine,
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Result<(), LedgerError> {
        let receipt_id = self.receipt_id()?;
        self.applied.lines += 1;
        let mut found = match self.scan.take(&line.end_to_end_id) {
            Some(f) => Some(f),
            None => {
                let f = self.look_up(&line.end_to_end_id)?;
                if let Some(f) = &f {
                    self.scan.follow(f.pid, self.applied.lines);
                }
                f
            }
        };
        if let Some(pid) = found.as_ref().map(|f| f.pid) {
            if self.written.mark(pid) {
                // Written earlier in this batch (perhaps still in the buffer): the scan's
                // snapshot is stale, the ledger as the transaction sees it is not.
                self.flush()?;
                found = self.look_up(&line.end_to_end_id)?;
            }
        }
        let pending = found.as_ref().filter(|f| f.receipt == Some(receipt_id)).map(|f| f.state.status);
        let given = found.as_ref().map_or(StatusSet::default(), |f| self.given.get(f.pid));
        if let Some(f) = &found {
            self.given.add(f.pid, line.status);
        }
        let staged = StagedLine {
            position: line.position,
            end_to_end_id: &line.end_to_end_id,
            status: line.status,
            amount: line.amount,
            payment: found.as_ref().map(|f| f.state),
            pending,
            given,
        };
        match (decide(&staged), found) {
            (Verdict::Apply, Some(f)) => {
                self.applied.updated += u64::from(pending.is_none());
                let text = self.text_id(f.state.period, &line.reason_code, &line.reason_text);
                let row = NewStatus { pid: f.pid, status: line.status, text };
                if f.has_row {
                    bind_status(&mut self.update, &self.texts, &[row], receipt_id)?;
                } else {
                    self.buffer.push(row);
                    if self.buffer.len() == STATUS_ROWS_PER_INSERT {
                        self.flush()?;
                    }
                }
            }
            (Verdict::Apply, None) => {
                return Err(LedgerError::Corrupt(format!(
                    "receipt line {} ({}) was to be applied but names no payment",
                    line.position, line.end_to_end_id
                )))
            }
            (Verdict::Unchanged, _) => {}
            (Verdict::Flagged, _) => self.applied.flagged += 1,
        }
        Ok(())
    }

    fn end_receipt(&mut self, sha256: &str, kind: &str) -> Result<Applied, LedgerError> {
        let id = self.receipt_id()?;
        self.flush()?;
        let a = self.applied;
        self.conn.execute(
            "UPDATE receipts SET sha256 = ?1, kind = ?2, applied = ?3, flagged = ?4 WHERE id = ?5",
            params![sha256, kind, a.updated as i64, a.flagged as i64, id],
        )?;
        if self.savepoint {
            self.conn.execute_batch("RELEASE receipt")?;
        }
        self.end();
        self.ended += 1;
        Ok(a)
    }

    fn discard_receipt(&mut self) -> Result<(), LedgerError> {
        self.receipt_id()?;
        self.end();
        if self.savepoint {
            self.conn.execute_batch("ROLLBACK TO receipt; RELEASE receipt")?;
        } else {
            // A scan's snapshot is only sure while this connection holds the write
            // lock: scans start again after it is taken again.
            self.scan.stop();
            self.conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE")?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), LedgerError> {
        if self.receipt.is_some() {
            return Err(LedgerError::Corrupt("a receipt was still open at the commit".into()));
        }
        // The scan's read snapshot would keep the checkpoint from finishing.
        self.scan.stop();
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

/// A payment row as the scan read it.
pub(super) struct ScanRow {
    e2e: String,
    found: Found,
}

/// Payments read ahead in id order, on a second (read-only) connection and its own
/// thread. Why: receipts come in payment order, so the next line names the next
/// payment; a sequential read on another core replaces a million index lookups on
/// the thread that writes. The payment rows never change while receipts are
/// applied, and a status this batch wrote is read again through the transaction
/// (`written`), so the scan's snapshot (the ledger before the batch) is enough.
/// Any failure of the scan only means lookups.
pub(super) struct Scan {
    path: PathBuf,
    rx: Option<std::sync::mpsc::Receiver<Vec<ScanRow>>>,
    chunk: std::collections::VecDeque<ScanRow>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// How often the scan was (re)started: bounded, for a receipt in no order.
    starts: u64,
    enabled: bool,
}

/// Rows the scan sends at a time, and how far ahead a line may name a payment
/// before the scan is restarted there rather than read through.
pub(super) const SCAN_CHUNK: usize = 1024;
pub(super) const SCAN_SKIP: i64 = 4096;

impl Scan {
    fn new(path: &Path) -> Scan {
        Scan {
            path: path.to_path_buf(),
            rx: None,
            chunk: Default::default(),
            threads: Vec::new(),
            starts: 0,
            enabled: false,
        }
    }

    /// The next scanned payment if the line names it.
    fn take(&mut self, e2e: &str) -> Option<Found> {
        if self.chunk.is_empty() {
            let rx = self.rx.as_ref()?;
            match rx.recv() {
                Ok(rows) => self.chunk = rows.into(),
                Err(_) => {
                    self.rx = None;
                    return None;
                }
            }
        }
        match self.chunk.front() {
            Some(r) if r.e2e == e2e => self.chunk.pop_front().map(|r| r.found),
            _ => None,
        }
    }

    /// A line named payment `pid`, which the scan did not have next: skip to just
    /// after it, or start the scan there.
    fn follow(&mut self, pid: i64, lines: u64) {
        while let Some(head) = self.chunk.front().map(|r| r.found.pid) {
            if head > pid {
                return;
            }
            if pid - head > SCAN_SKIP {
                break;
            }
            self.chunk.pop_front();
            if self.chunk.is_empty() {
                if let Some(rows) = self.rx.as_ref().and_then(|rx| rx.recv().ok()) {
                    self.chunk = rows.into();
                }
            }
        }
        if !self.chunk.is_empty() && self.chunk.front().is_some_and(|r| r.found.pid > pid) {
            return;
        }
        if !self.enabled || self.starts * SCAN_SKIP as u64 > lines + SCAN_SKIP as u64 {
            return;
        }
        self.stop();
        self.starts += 1;
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let path = self.path.clone();
        self.threads.push(std::thread::spawn(move || {
            let _ = scan_from(&path, pid + 1, &tx);
        }));
        self.rx = Some(rx);
    }

    /// Ends every scan thread.
    fn stop(&mut self) {
        self.rx = None;
        self.chunk.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends the payments from id `from` on, in id order, until the receiver is gone.
pub(super) fn scan_from(
    path: &Path,
    from: i64,
    tx: &std::sync::mpsc::SyncSender<Vec<ScanRow>>,
) -> Result<(), LedgerError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // A reference is put together here from its family's prefix (the family
    // changes once per run and program: rows come in id order) and its number,
    // rather than by SQL: a join and a printf per row were a third of the scan.
    let mut stmt = conn.prepare(
        "SELECT p.id, p.end_to_end_id, p.period, p.amount_fen, COALESCE(s.status, 'sent'), \
         s.payment_id IS NOT NULL, s.receipt_id, p.run_id, p.program_id, p.ref_seq FROM payment_rows p \
         LEFT JOIN payment_status s ON s.payment_id = p.id WHERE p.id >= ?1 ORDER BY p.id",
    )?;
    let mut family = conn.prepare("SELECT ref_prefix FROM families WHERE run_id = ?1 AND program_id = ?2")?;
    let mut rows = stmt.query([from])?;
    let mut chunk = Vec::with_capacity(SCAN_CHUNK);
    let mut period_cache: Option<(i64, Period)> = None;
    let mut prefix_cache: Option<((i64, i64), String)> = None;
    while let Some(row) = rows.next()? {
        let e2e = match row.get_ref(1)?.as_str_or_null() {
            Ok(Some(whole)) => whole.to_string(),
            _ => {
                let key: (i64, i64) = (row.get(7)?, row.get(8)?);
                let seq: i64 = row.get(9)?;
                if prefix_cache.as_ref().map(|(k, _)| *k) != Some(key) {
                    let prefix: String = family.query_row(params![key.0, key.1], |r| r.get(0))?;
                    prefix_cache = Some((key, prefix));
                }
                let prefix = prefix_cache.as_ref().map_or("", |(_, p)| p.as_str());
                let mut e2e = String::with_capacity(prefix.len() + 7);
                e2e.push_str(prefix);
                use std::fmt::Write;
                let _ = write!(e2e, "{seq:07}");
                e2e
            }
        };
        let n: i64 = row.get(2)?;
        let period = match &period_cache {
            Some((t, p)) if *t == n => *p,
            _ => {
                let p = period_from_n(n)?;
                period_cache = Some((n, p));
                p
            }
        };
        chunk.push(ScanRow {
            e2e,
            found: Found {
                pid: row.get(0)?,
                state: PaymentState { period, amount: Fen(row.get(3)?), status: parse_status(text_at(row, 4)?)? },
                has_row: row.get(5)?,
                receipt: row.get(6)?,
            },
        });
        if chunk.len() == SCAN_CHUNK && tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(SCAN_CHUNK))).is_err()
        {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    Ok(())
}

impl Drop for SqliteReceipts<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ = self.conn.execute_batch("PRAGMA foreign_keys = ON");
    }
}

pub(super) fn receipt_seen(conn: &Connection, sha256: &str) -> Result<bool, LedgerError> {
    Ok(conn.query_row("SELECT 1 FROM receipts WHERE sha256 = ?1", params![sha256], |_| Ok(())).optional()?.is_some())
}

/// The lines of the file's run (its stretches of ids, schema_v5.sql) that name
/// the file: exact, as a run's lines may only name its own files
/// ([`SqliteRun`]), and a group-level rejection is rare, while an index of file
/// names cost every run 38 MB of index pages at a million lines (schema_v3.sql).
pub(super) fn payments_in_file_sql() -> String {
    format!(
        "{} WHERE f.name = ?1 AND p.bank_file = ?1",
        select_lines(
            "bank_files f CROSS JOIN payment_ranges g ON g.run_id = f.run_id \
             CROSS JOIN payments p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
             LEFT JOIN payment_status s ON s.payment_id = p.id"
        )
    )
}
