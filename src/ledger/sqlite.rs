//! The SQLite ledger (embedded, the default). Schema migrations are SQL files
//! applied in order, tracked by `PRAGMA user_version`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::borrowed::{Borrowed, Value};
use super::{
    Applied, BatchKind, Bucket, FileRecord, Ledger, LedgerError, LedgerLine, NewRun, PaymentState, ProgramStatus,
    ReceiptBatch, RunRecord, RunWriter, StagedLine, Verdict,
};
use crate::domain::{Fen, PaymentStatus, Period, Program, ReceiptLine, Text};

const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
];

/// The payments of the runs of period `?N`, with their status rows: `r` a run,
/// `g` a stretch of its payments' ids, `p` a payment, `s` its status row if any.
/// How every query by period finds them since schema version 5
/// (schema_v5.sql): `runs` has an index on period, `payment_ranges` is keyed by
/// run and program, and CROSS JOIN keeps that order, so each stretch is read as
/// one range of rowids. A payment must also be of the stretch's run and program,
/// so a wrong stretch can never bring in another run's line.
macro_rules! period_lines_from {
    ($n:literal) => {
        concat!(
            "runs r CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?",
            $n,
            " CROSS JOIN payments p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
             AND p.program = g.program LEFT JOIN payment_status s ON s.payment_id = p.id"
        )
    };
}

/// Payment rows per INSERT statement: one statement per row spent most of a
/// million-line commit in per-statement overhead (15 × 64 parameters stays far
/// below SQLite's limit).
const ROWS_PER_INSERT: usize = 64;
/// `OR ROLLBACK`: a line that breaks a unique index (a second payment) ends the
/// whole run's transaction, which is what a run wants anyway — and a statement
/// that cannot abort on its own needs no statement journal (SQLite keeps one for
/// every multi-row INSERT whose conflict resolution is ABORT: ~5% of a run's
/// ledger time, copying pages that were about to be written anyway).
const PAYMENT_COLUMNS: &str = "INSERT OR ROLLBACK INTO payments (end_to_end_id, run_id, program, period, id_number, \
     name, township, village, payee_name, account, bank, amount_fen, bank_file, original_id, retry) VALUES ";

/// `(?,?,…)` repeated `rows` times.
fn payment_values(rows: usize) -> String {
    let one = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    let mut sql = String::from(PAYMENT_COLUMNS);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(one);
    }
    sql
}

/// The two INSERTs of a run's payment rows: `ROWS_PER_INSERT` rows at a time,
/// and one row for a chunk's remainder.
struct PaymentInserts<'c> {
    many: Borrowed<'c>,
    one: Borrowed<'c>,
}

impl<'c> PaymentInserts<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<PaymentInserts<'c>> {
        Ok(PaymentInserts {
            many: Borrowed::prepare(conn, &payment_values(ROWS_PER_INSERT))?,
            one: Borrowed::prepare(conn, &payment_values(1))?,
        })
    }

    /// Inserts the payment rows, many per statement, and checks that SQLite gave
    /// them the ids from `first_id` on. A row that breaks a unique index (the
    /// one-payment-per-person rule) rolls the whole transaction back, and is
    /// reported as [`LedgerError::AlreadyPaid`] with its program and period.
    ///
    /// Why the ids are checked and not given: SQLite gives a new row the largest
    /// id plus one, the cheapest insert there is; an id given in the statement
    /// costs a search of the table for it (it measured as much as the index that
    /// `payment_ranges` replaced). The check makes sure the stretches recorded are
    /// the ids written.
    fn insert(
        &mut self,
        conn: &Connection,
        run_id: i64,
        period: &str,
        lines: &[LedgerLine],
        first_id: i64,
    ) -> Result<(), LedgerError> {
        let mut values = Vec::with_capacity(ROWS_PER_INSERT * PAYMENT_PARAMS);
        let (full, rest) = lines.split_at(lines.len() / ROWS_PER_INSERT * ROWS_PER_INSERT);
        let mut last_id = first_id - 1;
        for group in full.chunks(ROWS_PER_INSERT).chain(rest.chunks(1)) {
            values.clear();
            group.iter().for_each(|l| payment_row(&mut values, run_id, period, l));
            let stmt = if group.len() == ROWS_PER_INSERT { &mut self.many } else { &mut self.one };
            stmt.execute(&values).map_err(|e| refused(conn, group, e))?;
            last_id = last_id.saturating_add(group.len() as i64);
            if conn.last_insert_rowid() != last_id {
                return Err(LedgerError::Corrupt(format!(
                    "payment {} was given id {}, not {last_id}: the run's ids are not one stretch",
                    group[group.len() - 1].end_to_end_id,
                    conn.last_insert_rowid()
                )));
            }
        }
        Ok(())
    }
}

/// Parameters per payment row (the columns of [`PAYMENT_COLUMNS`]).
const PAYMENT_PARAMS: usize = 15;

/// One payment row's parameters, in [`PAYMENT_COLUMNS`] order.
fn payment_row<'a>(values: &mut Vec<Value<'a>>, run_id: i64, period: &'a str, l: &'a LedgerLine) {
    values.extend([
        Value::Text(&l.end_to_end_id),
        Value::Int(run_id),
        Value::Text(l.program.code()),
        Value::Text(period),
        Value::Text(&l.id_number),
        Value::Text(&l.name),
        Value::Text(&l.township),
        Value::Text(&l.village),
        Value::Text(&l.payee_name),
        Value::Text(&l.account),
        Value::Text(&l.bank),
        Value::Int(l.amount.0),
        Value::Text(&l.bank_file),
        l.original_id.as_deref().map_or(Value::Null, Value::Text),
        Value::Int(i64::from(l.retry)),
    ]);
}

/// The error for a failed INSERT of `group`. A unique index refused a row (the
/// transaction is already rolled back: `OR ROLLBACK`): a payment already
/// recorded, before this run or earlier in it; the line named is one recorded
/// before if there is one.
fn refused(conn: &Connection, group: &[LedgerLine], e: rusqlite::Error) -> LedgerError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.extended_code,
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    ));
    if !unique {
        return LedgerError::Db(e);
    }
    let recorded = |l: &&LedgerLine| {
        conn.query_row(
            "SELECT 1 FROM payments WHERE end_to_end_id = ?1 OR (program = ?2 AND period = ?3 AND id_number = ?4 \
             AND original_id IS NULL AND ?5 IS NULL)",
            params![
                l.end_to_end_id.as_str(),
                l.program.code(),
                l.period.to_string(),
                l.id_number.as_str(),
                l.original_id
            ],
            |_| Ok(()),
        )
        .optional()
        .ok()
        .flatten()
        .is_some()
    };
    let l = group.iter().find(recorded).unwrap_or(&group[0]);
    LedgerError::AlreadyPaid { program: l.program.code().into(), period: l.period.to_string() }
}

/// A run being recorded: an open `BEGIN IMMEDIATE` transaction on the ledger's
/// connection, rolled back if dropped before [`RunWriter::commit`].
///
/// A bank file's row is written (as a placeholder, completed at commit) before
/// the first line naming it. Why: when a parent row arrives after its children,
/// SQLite settles the deferred foreign key by searching the children for it —
/// a search of the whole run per file without an index on the file name.
struct SqliteRun<'a> {
    conn: &'a Connection,
    inserts: PaymentInserts<'a>,
    run_id: i64,
    period: Period,
    /// `period` as stored (every line of a run is of the run's period).
    period_text: String,
    /// Files with a placeholder row, and the last one met (lines come file by file).
    placeholders: HashSet<Text>,
    last_file: Text,
    /// The id the next line gets, and the stretches of ids given so far.
    next_id: i64,
    ranges: Ranges,
    done: bool,
    /// The run's transaction went through a rollback journal: WAL mode is
    /// restored when it ends (see [`JournalForRun`]).
    journal: JournalForRun,
    /// The database file, to start its writeback as the run grows it.
    writeback: Writeback,
}

impl SqliteRun<'_> {
    /// Writes the placeholder row of `l`'s bank file, once.
    fn placeholder(&mut self, l: &LedgerLine) -> Result<(), LedgerError> {
        self.last_file.clone_from(&l.bank_file);
        if self.placeholders.contains(&l.bank_file) {
            return Ok(());
        }
        let placed = self
            .conn
            .prepare_cached(
                "INSERT INTO bank_files (name, run_id, program, period, format, lines, total_fen, sha256) \
                 VALUES (?1, ?2, ?3, ?4, '', 0, 0, '') ON CONFLICT (name) DO NOTHING",
            )?
            .execute(params![l.bank_file.as_str(), self.run_id, l.program.code(), self.period_text])?;
        if placed == 0 {
            // A run's lines name its own files: `payments_in_file` relies on it.
            return Err(LedgerError::Db(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
                Some(format!(
                    "line {} names bank file {}, which an earlier run recorded",
                    l.end_to_end_id, l.bank_file
                )),
            )));
        }
        self.placeholders.insert(l.bank_file.clone());
        Ok(())
    }

    /// A refused line (`OR ROLLBACK`) ends the transaction: nothing more may be
    /// written on this run, or it would be committed on its own.
    fn still_open(&self) -> Result<(), LedgerError> {
        if self.conn.is_autocommit() {
            return Err(LedgerError::RolledBack);
        }
        Ok(())
    }
}

/// A run's stretches of consecutive payment ids, one program each, in order
/// (the rows of `payment_ranges`, schema_v5.sql).
#[derive(Debug, Default, PartialEq)]
struct Ranges(Vec<(Program, i64, i64)>);

impl Ranges {
    /// Adds payment `id` of `program`: to the last stretch if it continues it.
    fn add(&mut self, program: Program, id: i64) {
        match self.0.last_mut() {
            Some((p, _, last)) if *p == program && *last + 1 == id => *last = id,
            _ => self.0.push((program, id, id)),
        }
    }
}

impl RunWriter for SqliteRun<'_> {
    fn add_lines(&mut self, lines: &[LedgerLine]) -> Result<(), LedgerError> {
        self.still_open()?;
        for l in lines {
            if l.period != self.period {
                return Err(LedgerError::Corrupt(format!(
                    "line {} is of period {}, not of its run's period {}",
                    l.end_to_end_id, l.period, self.period
                )));
            }
            if l.bank_file != self.last_file {
                self.placeholder(l)?;
            }
        }
        self.inserts.insert(self.conn, self.run_id, &self.period_text, lines, self.next_id)?;
        for l in lines {
            self.ranges.add(l.program, self.next_id);
            self.next_id += 1;
        }
        self.writeback.added(lines.len());
        Ok(())
    }

    fn commit(mut self: Box<Self>, files: &[FileRecord], manifest_sha256: &str) -> Result<i64, LedgerError> {
        self.still_open()?;
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO bank_files (name, run_id, program, period, format, lines, total_fen, sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut complete = self.conn.prepare_cached(
            "UPDATE bank_files SET program = ?3, format = ?5, lines = ?6, total_fen = ?7, sha256 = ?8 \
             WHERE name = ?1 AND run_id = ?2 AND period = ?4",
        )?;
        for file in files {
            let stmt = if self.placeholders.remove(file.name.as_str()) { &mut complete } else { &mut insert };
            stmt.execute(params![
                file.name,
                self.run_id,
                file.program.code(),
                self.period_text,
                file.format,
                file.lines as i64,
                file.total.0,
                file.sha256
            ])?;
        }
        drop((insert, complete));
        let mut range = self.conn.prepare_cached(
            "INSERT INTO payment_ranges (run_id, program, first_id, last_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (program, first, last) in &self.ranges.0 {
            range.execute(params![self.run_id, program.code(), first, last])?;
        }
        drop(range);
        if let Some(name) = self.placeholders.iter().next() {
            return Err(LedgerError::Db(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!("lines name bank file {name}, which the run did not write")),
            )));
        }
        self.conn
            .execute("UPDATE runs SET manifest_sha256 = ?1 WHERE id = ?2", params![manifest_sha256, self.run_id])?;
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(self.run_id)
    }
}

impl Drop for SqliteRun<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.journal.end(self.conn);
    }
}

/// Starts the writeback of the database file every [`Writeback::EVERY`] lines
/// (see [`crate::fsutil::start_writeback`]): the commit's fsync then waits for
/// the last pages only, not for the ~270 MB a million-line run adds (~0.1 s
/// alone at the end of a run).
struct Writeback {
    /// SQLite's own descriptor of the database file: never closed here, as
    /// closing any descriptor of a file drops the process's locks on it.
    file: Option<std::mem::ManuallyDrop<std::fs::File>>,
    lines: usize,
}

impl Writeback {
    /// About 9 MB of rows and index entries.
    const EVERY: usize = 32_768;

    fn of(conn: &Connection) -> Writeback {
        Writeback { file: database_file(conn), lines: 0 }
    }

    fn added(&mut self, lines: usize) {
        self.lines += lines;
        if self.lines >= Self::EVERY {
            self.lines = 0;
            if let Some(f) = &self.file {
                crate::fsutil::start_writeback(f);
            }
        }
    }
}

/// The descriptor SQLite's unix VFS opened the main database file with, if the
/// connection uses that VFS and the descriptor is that file (checked: same
/// device and inode as the connection's path).
#[cfg(target_os = "linux")]
fn database_file(conn: &Connection) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
    use rusqlite::ffi;
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::MetadataExt;
    let path = conn.path().filter(|p| !p.is_empty())?;
    let want = std::fs::metadata(path).ok()?;
    let db = c"main";
    let mut vfs: *mut ffi::sqlite3_vfs = std::ptr::null_mut();
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is the live connection's; both file controls only
    // write the pointer passed in. The VFS is checked to be "unix", whose files
    // are `unixFile`: { pMethod, pVfs, pInode, int h, ... } (sqlite3.c), so
    // `h` is read inside the object SQLite allocated for it. The descriptor is
    // then checked to be the database file before it is used.
    let fd = unsafe {
        let h = conn.handle();
        let ok = ffi::sqlite3_file_control(h, db.as_ptr(), ffi::SQLITE_FCNTL_VFS_POINTER, (&raw mut vfs).cast())
            == ffi::SQLITE_OK
            && ffi::sqlite3_file_control(h, db.as_ptr(), ffi::SQLITE_FCNTL_FILE_POINTER, (&raw mut file).cast())
                == ffi::SQLITE_OK;
        if !ok || vfs.is_null() || file.is_null() || (*file).pMethods.is_null() {
            return None;
        }
        if std::ffi::CStr::from_ptr((*vfs).zName).to_bytes() != b"unix" {
            return None;
        }
        *file.cast::<u8>().add(3 * std::mem::size_of::<usize>()).cast::<std::ffi::c_int>()
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is open (SQLite holds it for the connection's life, which
    // outlives the run); ManuallyDrop keeps it from ever being closed here.
    let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let got = f.metadata().ok()?;
    (got.dev() == want.dev() && got.ino() == want.ino()).then_some(f)
}

#[cfg(not(target_os = "linux"))]
fn database_file(_: &Connection) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
    None
}

/// How a run's transaction is journaled.
///
/// Why a rollback journal: a run only adds rows, and SQLite journals only the
/// pages that existed before the transaction — the new pages of a run go
/// straight into the database file, once. Through the WAL every page was
/// written twice, to the WAL and again at the checkpoint, and that checkpoint
/// ran alone at the end of the run: about half a second of a million-line run,
/// and a tenth of its CPU. Durability is the same (`synchronous=FULL` syncs the
/// journal and the database at commit; a crash leaves a hot journal that the
/// next open rolls back).
///
/// Leaving WAL needs the only connection to the file; when another process has
/// it open (a `status` reading), the run stays in WAL and is just slower.
/// Every other command — `returns` reads ahead on a second connection — and
/// every reader wants WAL, so it is restored when the transaction ends, and
/// [`SqliteLedger::open`] sets it again after a crash.
#[derive(Debug)]
struct JournalForRun {
    left_wal: bool,
}

impl JournalForRun {
    /// Leaves WAL for a rollback journal if no other connection is open.
    fn begin(conn: &Connection) -> Result<JournalForRun, LedgerError> {
        let mode = match conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0)) {
            Ok(mode) => mode,
            Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::DatabaseBusy => "busy".into(),
            Err(e) => return Err(e.into()),
        };
        let left_wal = mode.eq_ignore_ascii_case("delete");
        if !left_wal {
            tracing::debug!(event = "journal", mode = %mode, "another connection has the ledger open: the run stays in WAL mode");
        }
        Ok(JournalForRun { left_wal })
    }

    /// Back to WAL, after the transaction. The run is already committed or
    /// rolled back: failing here (a reader came in between) only leaves the
    /// ledger in rollback mode until the next open sets WAL.
    fn end(&mut self, conn: &Connection) {
        if std::mem::take(&mut self.left_wal) {
            let back = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
            if !matches!(&back, Ok(m) if m.eq_ignore_ascii_case("wal")) {
                tracing::warn!(event = "journal", result = ?back, "the ledger could not go back to WAL mode; its next open will");
            }
        }
    }
}

/// A ledger in one SQLite file.
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
}

impl SqliteLedger {
    /// Opens (creating on first use) and migrates the ledger at `path`.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::create_private_dir(dir).map_err(|e| LedgerError::Open {
                path: path.into(),
                source: rusqlite::Error::InvalidPath(e.to_string().into()),
            })?;
        }
        let open_err = |source| LedgerError::Open { path: path.to_path_buf(), source };
        create_private_file(path).map_err(|e| LedgerError::Open {
            path: path.into(),
            source: rusqlite::Error::InvalidPath(e.to_string().into()),
        })?;
        let conn = Connection::open(path).map_err(open_err)?;
        // Durability: WAL with synchronous=FULL syncs the WAL at every commit, so a
        // committed run survives a power cut (NORMAL would not promise that).
        // A 32 MB page cache (default 2 MB): committing a million lines touches four
        // indexes; with the small cache their pages spill to the WAL mid-transaction.
        // (64 MB was measured too: a million-line run dirties ~300 MB, so pages
        // spill either way, and it cost no less CPU.)
        // journal_size_limit: after the checkpoint at commit the WAL is cut back to
        // 64 MB rather than keeping a million-line run's ~300 MB on disk.
        // 16 KB pages for a new ledger (before WAL mode, which fixes the size): a
        // million-line run writes its ~290 MB through the WAL and again at the
        // checkpoint one page per system call, and with 4 KB pages those calls and
        // the B-tree's page splits were a quarter of the ledger thread. A ledger
        // made with another page size keeps it.
        conn.execute_batch(
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768; \
             PRAGMA journal_size_limit=67108864;",
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
        // Query plans that do not depend on bound values: otherwise SQLite may
        // re-prepare a cached statement whenever a parameter it compared against a
        // partial index's condition changes — reissue looks up ~100k lines one at a
        // time, and spent more time re-parsing the lookup than running it.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(open_err)?;
        let mut ledger = SqliteLedger { conn, path: path.to_path_buf() };
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Brings the ledger to the newest schema: every missing step in one
    /// transaction (a crash leaves the old version, whole), with foreign keys off
    /// while tables are rebuilt and checked before the commit.
    fn migrate(&mut self) -> Result<(), LedgerError> {
        let known = MIGRATIONS.len() as i64;
        if self.version()? == known {
            return Ok(());
        }
        // Only outside a transaction does this pragma take effect.
        self.conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        let migrated = self.migrate_steps(known);
        self.conn.execute_batch("PRAGMA foreign_keys = ON")?;
        migrated
    }

    fn version(&self) -> Result<i64, LedgerError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate_steps(&mut self, known: i64) -> Result<(), LedgerError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(LedgerError::TooNew { path: self.path.clone(), found: version, known });
        }
        for sql in MIGRATIONS.iter().skip(version as usize) {
            tx.execute_batch(sql)?;
        }
        if version < 4 {
            // Version 4 finds a period's payments through their runs (schema_v4.sql).
            let astray: i64 = tx.query_row(
                "SELECT COUNT(*) FROM payments p JOIN runs r ON r.id = p.run_id WHERE p.period <> r.period",
                [],
                |r| r.get(0),
            )?;
            if astray > 0 {
                return Err(LedgerError::Corrupt(format!(
                    "{astray} payments are of another period than their run's; the ledger was left at schema \
                     version {version}"
                )));
            }
        }
        tx.pragma_update(None, "user_version", known)?;
        let broken: Option<String> = tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
        if let Some(table) = broken {
            return Err(LedgerError::Corrupt(format!(
                "table {table} has a row whose reference points nowhere; the ledger was left at schema version {version}"
            )));
        }
        tx.commit()?;
        Ok(())
    }

    /// The lines a payment has `WHERE where_sql`, with their status.
    fn lines(&self, where_sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<LedgerLine>, LedgerError> {
        self.query_lines(&format!("{} WHERE {where_sql}", select_lines(LINES_FROM)), args)
    }

    /// Runs `sql` (selecting [`LINE_COLUMNS`]), in reference order.
    fn query_lines(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<LedgerLine>, LedgerError> {
        query_lines(&self.conn, sql, args)
    }
}

/// Runs `sql` (selecting [`LINE_COLUMNS`]) on `conn`, in reference order.
fn query_lines(conn: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<LedgerLine>, LedgerError> {
    let sql = format!("{sql} ORDER BY 1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args, read_line)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r?.map_err(LedgerError::Corrupt)?);
    }
    Ok(out)
}

/// The last period before `?2` with a payment of program `?1`.
const LAST_PERIOD_SQL: &str = "SELECT MAX(r.period) FROM runs r WHERE r.period < ?2 \
     AND EXISTS (SELECT 1 FROM payment_ranges g WHERE g.run_id = r.id AND g.program = ?1)";
/// Per person, what program `?1` paid in period `?2` (failed and returned lines
/// were not paid).
const PAID_IN_PERIOD_SQL: &str = concat!(
    "SELECT p.id_number, SUM(p.amount_fen), MAX(p.name) FROM ",
    period_lines_from!(2),
    " WHERE g.program = ?1 AND COALESCE(s.status, 'sent') NOT IN ('failed', 'returned') GROUP BY p.id_number"
);
/// Lines and amounts of period `?1` by program, status and whether a correction.
const PERIOD_STATUS_SQL: &str = concat!(
    "SELECT p.program, COALESCE(s.status, 'sent'), p.original_id IS NOT NULL, COUNT(*), SUM(p.amount_fen) FROM ",
    period_lines_from!(1),
    " GROUP BY 1, 2, 3"
);
/// The periods with a payment.
const PERIODS_SQL: &str = "SELECT DISTINCT r.period FROM runs r \
     WHERE EXISTS (SELECT 1 FROM payment_ranges g WHERE g.run_id = r.id) ORDER BY r.period";

/// A line's columns, `p` its payment and `s` its status row if any: none means
/// 'sent', no reason (schema_v3.sql).
const LINE_COLUMNS: &str = "p.end_to_end_id, p.program, p.period, p.id_number, p.name, p.township, p.village, \
     p.payee_name, p.account, p.bank, p.amount_fen, p.bank_file, COALESCE(s.status, 'sent'), \
     COALESCE(s.reason_code, ''), COALESCE(s.reason_text, ''), p.original_id, p.retry";
/// Every payment, with its status row if it has one.
const LINES_FROM: &str = "payments p LEFT JOIN payment_status s ON s.payment_id = p.id";

/// The people program `?1` paid in period `?2` (original lines only), found
/// through the period's runs and their stretches of ids as in
/// [`period_lines_from`], without the status rows it does not need.
const PAID_PEOPLE_SQL: &str = "SELECT p.id_number FROM runs r \
     CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?2 AND g.program = ?1 \
     CROSS JOIN payments p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
     AND p.program = g.program WHERE p.original_id IS NULL";

/// People reported deceased with no correction settled since (`s.reason_code =
/// 'MD07'` is the partial index `status_deceased`).
const DECEASED_SQL: &str = "SELECT p.id_number, MAX(p.end_to_end_id) FROM payment_status s \
     JOIN payments p ON p.id = s.payment_id WHERE s.reason_code = 'MD07' AND NOT EXISTS (SELECT 1 FROM payments c \
     JOIN payment_status cs ON cs.payment_id = c.id WHERE cs.status = 'settled' \
     AND c.original_id = COALESCE(p.original_id, p.end_to_end_id)) GROUP BY p.id_number";

/// The query of [`Ledger::failure_lines`] (`?1` the period).
fn failure_sql() -> String {
    format!(
        "{} WHERE s.period = ?1 AND (s.status IN ('failed', 'returned') OR s.reason_code <> '') \
         UNION ALL {} WHERE p.period = ?1 AND p.original_id IS NOT NULL \
         AND (s.payment_id IS NULL OR NOT (s.status IN ('failed', 'returned') OR s.reason_code <> ''))",
        select_lines("payment_status s JOIN payments p ON p.id = s.payment_id"),
        select_lines(LINES_FROM),
    )
}

fn select_lines(from: &str) -> String {
    format!("SELECT {LINE_COLUMNS} FROM {from}")
}

type ParsedLine = Result<LedgerLine, String>;

/// Column `i` of `r` as a [`Text`].
fn text(r: &rusqlite::Row, i: usize) -> Result<Text, String> {
    let v = r.get_ref(i).map_err(|e| e.to_string())?;
    v.as_str().map(Text::new).map_err(|e| e.to_string())
}

fn read_line(r: &rusqlite::Row) -> rusqlite::Result<ParsedLine> {
    let program: String = r.get(1)?;
    let period: String = r.get(2)?;
    let status: String = r.get(12)?;
    let parsed = (|| {
        Ok(LedgerLine {
            end_to_end_id: text(r, 0)?,
            program: program.parse()?,
            period: period.parse()?,
            id_number: text(r, 3)?,
            name: text(r, 4)?,
            township: text(r, 5)?,
            village: text(r, 6)?,
            payee_name: text(r, 7)?,
            account: text(r, 8)?,
            bank: text(r, 9)?,
            amount: Fen(r.get(10).map_err(|e| e.to_string())?),
            bank_file: text(r, 11)?,
            status: PaymentStatus::parse(&status).ok_or(format!("unknown status {status}"))?,
            reason_code: r.get(13).map_err(|e| e.to_string())?,
            reason_text: r.get(14).map_err(|e| e.to_string())?,
            original_id: r.get(15).map_err(|e| e.to_string())?,
            retry: r.get(16).map_err(|e| e.to_string())?,
        })
    })();
    Ok(parsed)
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Payment rows already met in the receipts being applied: a bit per rowid (the
/// ledger's rowids are dense), so a million-line receipt costs a few hundred KB.
struct Seen {
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

/// A TEXT column borrowed from the row (no copy per line).
fn text_at<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, LedgerError> {
    Ok(row
        .get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))?)
}

fn parse_status(s: &str) -> Result<PaymentStatus, LedgerError> {
    PaymentStatus::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("unknown status {s}")))
}

/// The payment a receipt line names and its status row, by the unique index on
/// `end_to_end_id` (receipts come in payment order, so the pages it walks are
/// the ones the previous line walked).
const LOOKUP_SQL: &str = "SELECT p.id, p.period, p.amount_fen, COALESCE(s.status, 'sent'), s.payment_id IS NOT NULL, \
     s.receipt_id FROM payments p LEFT JOIN payment_status s ON s.payment_id = p.id WHERE p.end_to_end_id = ?1";

/// New status rows (a payment's first receipt, the common case) by plain
/// multi-row INSERTs; an upsert cost twice as much per row. `OR ROLLBACK`: no
/// statement journal, and a conflict (a bug) ends the whole transaction.
fn status_insert_sql(rows: usize) -> String {
    let values = vec!["(?,?,?,?,?,?)"; rows].join(",");
    format!(
        "INSERT OR ROLLBACK INTO payment_status (payment_id, period, status, reason_code, reason_text, receipt_id) \
         VALUES {values}"
    )
}

/// Status rows per INSERT: each statement run sets up its constraint checks
/// again (the CHECK's IN list, the partial indexes' conditions).
const STATUS_ROWS_PER_INSERT: usize = 256;

const STATUS_UPDATE_SQL: &str = "UPDATE OR ROLLBACK payment_status SET period = ?2, status = ?3, reason_code = ?4, \
     reason_text = ?5, receipt_id = ?6, updated_at = NULL WHERE payment_id = ?1";

/// A status row waiting for its multi-row INSERT; its texts interned.
#[derive(Clone, Copy)]
struct NewStatus {
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
struct SqliteReceipts<'c> {
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
    scan: Scan,
    /// The open receipt's row id, and what it did so far.
    receipt: Option<i64>,
    applied: Applied,
    period_cache: Option<(String, Period)>,
    /// Whether the open receipt has a savepoint, and how many receipts ended.
    savepoint: bool,
    ended: u64,
    /// False once committed; dropping an open batch rolls it back.
    open: bool,
}

impl<'c> SqliteReceipts<'c> {
    fn begin(conn: &'c Connection, path: &Path) -> Result<SqliteReceipts<'c>, LedgerError> {
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
        let max: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM payments", [], |r| r.get(0))?;
        batch.written = Seen::new(max);
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
fn bind_status(
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
struct Found {
    pid: i64,
    state: PaymentState,
    has_row: bool,
    /// The receipt that wrote its status row, if any.
    receipt: Option<i64>,
}

impl SqliteReceipts<'_> {
    fn look_up(&mut self, e2e: &str) -> Result<Option<Found>, LedgerError> {
        let mut rows = self.lookup.query([e2e])?;
        let Some(row) = rows.next()? else { return Ok(None) };
        let text = text_at(row, 1)?;
        let period = match &self.period_cache {
            Some((t, p)) if t == text => *p,
            _ => {
                let p: Period = text.parse().map_err(LedgerError::Corrupt)?;
                self.period_cache = Some((text.to_string(), p));
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

    fn begin_receipt(&mut self, file_name: &str) -> Result<(), LedgerError> {
        if self.receipt.is_some() {
            return Err(LedgerError::Corrupt("a receipt was begun while another was open".into()));
        }
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
        let staged = StagedLine {
            position: line.position,
            end_to_end_id: &line.end_to_end_id,
            status: line.status,
            amount: line.amount,
            payment: found.as_ref().map(|f| f.state),
            pending,
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
struct ScanRow {
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
struct Scan {
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
const SCAN_CHUNK: usize = 1024;
const SCAN_SKIP: i64 = 4096;

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
fn scan_from(path: &Path, from: i64, tx: &std::sync::mpsc::SyncSender<Vec<ScanRow>>) -> Result<(), LedgerError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let mut stmt = conn.prepare(
        "SELECT p.id, p.end_to_end_id, p.period, p.amount_fen, COALESCE(s.status, 'sent'), \
         s.payment_id IS NOT NULL, s.receipt_id FROM payments p LEFT JOIN payment_status s ON s.payment_id = p.id \
         WHERE p.id >= ?1 ORDER BY p.id",
    )?;
    let mut rows = stmt.query([from])?;
    let mut chunk = Vec::with_capacity(SCAN_CHUNK);
    let mut period_cache: Option<(String, Period)> = None;
    while let Some(row) = rows.next()? {
        let text = text_at(row, 2)?;
        let period = match &period_cache {
            Some((t, p)) if t == text => *p,
            _ => {
                let p: Period = text.parse().map_err(LedgerError::Corrupt)?;
                period_cache = Some((text.to_string(), p));
                p
            }
        };
        chunk.push(ScanRow {
            e2e: text_at(row, 1)?.to_string(),
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

fn receipt_seen(conn: &Connection, sha256: &str) -> Result<bool, LedgerError> {
    Ok(conn.query_row("SELECT 1 FROM receipts WHERE sha256 = ?1", params![sha256], |_| Ok(())).optional()?.is_some())
}

/// The lines of the file's run (its stretches of ids, schema_v5.sql) that name
/// the file: exact, as a run's lines may only name its own files
/// ([`SqliteRun`]), and a group-level rejection is rare, while an index of file
/// names cost every run 38 MB of index pages at a million lines (schema_v3.sql).
fn payments_in_file_sql() -> String {
    format!(
        "{} WHERE f.name = ?1 AND p.bank_file = ?1",
        select_lines(
            "bank_files f CROSS JOIN payment_ranges g ON g.run_id = f.run_id \
             CROSS JOIN payments p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
             LEFT JOIN payment_status s ON s.payment_id = p.id"
        )
    )
}

impl Ledger for SqliteLedger {
    fn staged_runs(&self) -> Result<Vec<RunRecord>, LedgerError> {
        let mut stmt =
            self.conn.prepare("SELECT id, period, batch, staging_dir FROM runs WHERE state = 'staged' ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, period, batch, dir) = row?;
            let period = period.parse().map_err(LedgerError::Corrupt)?;
            out.push(RunRecord { id, period, batch, staging_dir: dir.into(), published: false });
        }
        Ok(out)
    }

    fn mark_published(&mut self, run_id: i64) -> Result<(), LedgerError> {
        self.conn.execute("UPDATE runs SET state = 'published' WHERE id = ?1", params![run_id])?;
        Ok(())
    }

    fn next_batch_number(&self, period: Period, kind: BatchKind) -> Result<u32, LedgerError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM runs WHERE period = ?1 AND kind = ?2",
            params![period.to_string(), kind.code()],
            |r| r.get(0),
        )?;
        Ok(n as u32 + 1)
    }

    fn paid_people(&self, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(PAID_PEOPLE_SQL)?;
        let mut rows = stmt.query(params![program.code(), period.to_string()])?;
        let mut out = HashSet::new();
        while let Some(r) = rows.next()? {
            let id = text_at(r, 0)?;
            out.insert(crate::domain::id_key(id).ok_or_else(|| {
                LedgerError::Corrupt(format!("ID number '{}' is not 18 characters", crate::domain::mask_id(id)))
            })?);
        }
        Ok(out)
    }

    fn last_paid_before(
        &self,
        program: Program,
        period: Period,
    ) -> Result<Option<(Period, HashMap<String, (Fen, String)>)>, LedgerError> {
        let last: Option<String> = self
            .conn
            .query_row(LAST_PERIOD_SQL, params![program.code(), period.to_string()], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(last) = last else { return Ok(None) };
        let mut stmt = self.conn.prepare(PAID_IN_PERIOD_SQL)?;
        let rows = stmt.query_map(params![program.code(), last], |r| {
            Ok((r.get::<_, String>(0)?, (Fen(r.get(1)?), r.get::<_, String>(2)?)))
        })?;
        let map = rows.collect::<Result<HashMap<_, _>, _>>()?;
        Ok(Some((last.parse().map_err(LedgerError::Corrupt)?, map)))
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<Box<dyn RunWriter + '_>, LedgerError> {
        let mut journal = JournalForRun::begin(&self.conn)?;
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;") {
            journal.end(&self.conn);
            return Err(e.into());
        }
        let mut open = SqliteRun {
            conn: &self.conn,
            inserts: PaymentInserts::prepare(&self.conn)?,
            run_id: 0,
            period: run.period,
            period_text: run.period.to_string(),
            placeholders: HashSet::new(),
            last_file: Text::default(),
            next_id: 0,
            ranges: Ranges::default(),
            done: false,
            journal,
            writeback: Writeback::of(&self.conn),
        };
        open.conn.execute(
            "INSERT INTO runs (period, batch, kind, state, staging_dir, manifest_sha256, created_at) \
             VALUES (?1, ?2, ?3, 'staged', ?4, ?5, ?6)",
            params![
                open.period_text,
                run.batch,
                run.kind.code(),
                run.staging_dir.to_string_lossy(),
                run.manifest_sha256,
                run.created_at
            ],
        )?;
        open.run_id = open.conn.last_insert_rowid();
        open.next_id = open.conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM payments", [], |r| r.get(0))?;
        Ok(Box::new(open))
    }

    fn last_manifest_sha(&self) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT manifest_sha256 FROM runs ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .optional()?)
    }

    fn files_of_period(&self, period: Period) -> Result<Vec<FileRecord>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, program, format, lines, total_fen, sha256 FROM bank_files WHERE period = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![period.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, program, format, lines, total, sha256) = row?;
            let program = program.parse().map_err(LedgerError::Corrupt)?;
            out.push(FileRecord { name, program, format, lines: lines as u64, total: Fen(total), sha256 });
        }
        Ok(out)
    }

    fn payment(&self, end_to_end_id: &str) -> Result<Option<LedgerLine>, LedgerError> {
        Ok(self.lines("p.end_to_end_id = ?1", &[&end_to_end_id])?.pop())
    }

    /// Two parts, each from its own partial index: status rows that need a person
    /// (`status_needing_a_person`), and corrections (`corrections_by_period`) that
    /// are not already among the first.
    fn failure_lines(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = failure_sql();
        self.query_lines(&sql, &[&period.to_string()])
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        self.query_lines(&payments_in_file_sql(), &[&bank_file])
    }

    fn payments_of_period(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        self.query_lines(&select_lines(period_lines_from!(1)), &[&period.to_string()])
    }

    /// One aggregate over the period: `disburse status` on a million-line period
    /// had read every line into memory (600 MB).
    fn period_status(&self, period: Period) -> Result<BTreeMap<Program, ProgramStatus>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(PERIOD_STATUS_SQL)?;
        let mut rows = stmt.query(params![period.to_string()])?;
        let mut out: BTreeMap<Program, ProgramStatus> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let program: Program = text_at(r, 0)?.parse().map_err(LedgerError::Corrupt)?;
            let status = parse_status(text_at(r, 1)?)?;
            let lines: i64 = r.get(3)?;
            let b = Bucket { lines: lines as u64, amount: Fen(r.get(4)?) };
            out.entry(program).or_default().add_lines(status, r.get(2)?, b);
        }
        Ok(out)
    }

    /// `IS NOT NULL` spelled out: it is the partial index `one_correction_per_retry`'s
    /// condition, which `original_id = ?1` implies only for a bound value — SQLite
    /// then re-prepares the statement at every new value (reissue calls this once a
    /// line: ~100k re-prepares of a join at a million lines).
    fn corrections_of(&self, original_id: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        self.lines("p.original_id = ?1 AND p.original_id IS NOT NULL", &[&original_id])
    }

    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError> {
        receipt_seen(&self.conn, sha256)
    }

    fn begin_receipts(&mut self) -> Result<Box<dyn ReceiptBatch + '_>, LedgerError> {
        Ok(Box::new(SqliteReceipts::begin(&self.conn, &self.path)?))
    }

    fn reported_deceased(&self) -> Result<HashMap<String, String>, LedgerError> {
        let mut stmt = self.conn.prepare(DECEASED_SQL)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn periods(&self) -> Result<Vec<Period>, LedgerError> {
        let mut stmt = self.conn.prepare(PERIODS_SQL)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for p in rows {
            out.push(p?.parse().map_err(LedgerError::Corrupt)?);
        }
        Ok(out)
    }
}

/// Creates the ledger file owner-only (0600) before SQLite opens it: SQLite would
/// create it 0644, and its -wal/-shm files copy the main file's mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled SQLite is built without malloc statistics (`.cargo/config.toml`):
    /// their global mutex was 6% of a million-line run's ledger thread.
    #[test]
    fn sqlite_is_built_without_memory_statistics() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    }

    /// The descriptor read out of SQLite's file object is the ledger's own file
    /// (a wrong layout would name another descriptor, or none); an in-memory
    /// database has none. The descriptor stays open after it is dropped.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_database_file_descriptor_is_the_ledger_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let l = SqliteLedger::open(&path).unwrap();
        {
            let f = database_file(&l.conn).expect("the unix VFS's descriptor");
            let (got, want) = (f.metadata().unwrap(), std::fs::metadata(&path).unwrap());
            assert_eq!((got.dev(), got.ino()), (want.dev(), want.ino()));
            crate::fsutil::start_writeback(&f);
        }
        let n: i64 = l.conn.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "SQLite still reads through its descriptor");
        assert!(database_file(&Connection::open_in_memory().unwrap()).is_none());
    }

    /// A new ledger has 16 KB pages; one made with 4 KB pages keeps them (and works).
    #[test]
    fn new_ledgers_have_16k_pages() {
        let dir = tempfile::tempdir().unwrap();
        let page = |l: &SqliteLedger| -> i64 { l.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap() };
        let l = SqliteLedger::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page(&l), 16384);
        let old = dir.path().join("old.db");
        old_ledger(&old, 3);
        let mut l = SqliteLedger::open(&old).unwrap();
        assert_eq!(page(&l), 4096);
        l.commit_run(&run("R002"), &[file("f9")], &in_file("f9", &[line("E9", "110105194912310099", None, 0)]))
            .unwrap();
        assert_eq!(page(&l), 4096);
    }

    /// The queries of failures.csv and the death holds are answered from their
    /// partial indexes, not by reading the period (or the ledger).
    #[test]
    fn failure_and_death_queries_use_their_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let plan = |sql: &str| -> Vec<String> {
            let mut stmt = l.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let n = stmt.parameter_count();
            let args: Vec<&str> = vec!["2026-11"; n];
            stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let failures = plan(&failure_sql());
        for index in ["status_needing_a_person", "corrections_by_period"] {
            assert!(failures.iter().any(|d| d.contains(index)), "{index}: {failures:?}");
        }
        let deaths = plan(DECEASED_SQL);
        assert!(deaths.iter().any(|d| d.contains("status_deceased")), "{deaths:?}");
    }

    /// No index is on a payment's period or run (versions 4 and 5): every query
    /// by period goes through the runs of the period and their stretches of
    /// payment ids, read as rowid ranges, and none reads the whole ledger.
    #[test]
    fn period_queries_go_through_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = l.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let args: Vec<&str> = vec!["2026-11"; stmt.parameter_count()];
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3)).unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join(" | ")
        };
        let lines = select_lines(period_lines_from!(1));
        let in_file = payments_in_file_sql();
        for sql in [PAID_IN_PERIOD_SQL, PERIOD_STATUS_SQL, &lines, &in_file] {
            let p = plan(sql);
            assert!(p.contains("SEARCH p USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{sql}: {p}");
            assert!(p.contains("SEARCH g USING PRIMARY KEY (run_id="), "{sql}: {p}");
        }
        for sql in [LAST_PERIOD_SQL, PAID_IN_PERIOD_SQL, PERIOD_STATUS_SQL, PERIODS_SQL, &lines, &in_file] {
            let p = plan(sql);
            assert!(!p.contains("SCAN p") && !p.contains("SCAN payments") && !p.contains("SCAN g"), "{sql}: {p}");
        }
        // The rule's index begins with the ID number (schema_v6.sql).
        let first: String = l.conn.query_row("PRAGMA index_info(one_payment_per_person)", [], |r| r.get(2)).unwrap();
        assert_eq!(first, "id_number");
        let people = plan(PAID_PEOPLE_SQL);
        assert!(people.contains("SEARCH g USING PRIMARY KEY (run_id=? AND program=?)"), "{people}");
        assert!(people.contains("SEARCH p USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{people}");
    }

    fn line(e2e: &str, id: &str, original: Option<&str>, retry: u32) -> LedgerLine {
        LedgerLine {
            end_to_end_id: e2e.into(),
            program: Program::Dibao,
            period: "2026-11".parse().unwrap(),
            id_number: id.into(),
            name: "张三".into(),
            township: "镇".into(),
            village: "村".into(),
            payee_name: "张三".into(),
            account: "1234567890".into(),
            bank: Text::default(),
            amount: Fen(100),
            bank_file: "f1".into(),
            status: PaymentStatus::Sent,
            reason_code: String::new(),
            reason_text: String::new(),
            original_id: original.map(str::to_string),
            retry,
        }
    }

    /// `lines`, all in bank file `name` (a run's lines name its own files).
    fn in_file(name: &str, lines: &[LedgerLine]) -> Vec<LedgerLine> {
        lines.iter().map(|l| LedgerLine { bank_file: name.into(), ..l.clone() }).collect()
    }

    fn run(batch: &str) -> NewRun {
        NewRun {
            period: "2026-11".parse().unwrap(),
            batch: batch.into(),
            kind: BatchKind::Run,
            staging_dir: "s".into(),
            manifest_sha256: "m".into(),
            created_at: "t".into(),
        }
    }

    fn file(name: &str) -> FileRecord {
        FileRecord {
            name: name.into(),
            program: Program::Dibao,
            format: "x".into(),
            lines: 1,
            total: Fen(100),
            sha256: "h".into(),
        }
    }

    /// Many rows go in per statement: a duplicate inside a full chunk is still
    /// refused as AlreadyPaid and leaves nothing behind; a clean batch lands whole.
    #[test]
    fn chunked_inserts_keep_the_double_payment_guard() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let n = ROWS_PER_INSERT * 2 + 5;
        // 18 characters, as the ledger only ever holds validated ID numbers.
        let id = |prefix: u32, i: usize| format!("{prefix}{i:017}");
        let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:04}"), &id(1, i), None, 0)).collect();
        l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), n);
        let mut again: Vec<LedgerLine> = (0..n).map(|i| line(&format!("F{i:04}"), &id(2, i), None, 0)).collect();
        again[ROWS_PER_INSERT + 3].id_number = id(1, 7).into();
        let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &again)).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
        assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), n);
    }

    fn many_lines(n: usize) -> Vec<LedgerLine> {
        (0..n).map(|i| line(&format!("E{i:05}"), &format!("1{i:017}"), None, 0)).collect()
    }

    fn journal_mode(conn: &Connection) -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
    }

    fn wal_bytes(db: &Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    /// A run's new pages go into the database once, not through the WAL and
    /// again at a checkpoint; the ledger is in WAL mode again after it, whether
    /// the run committed or was dropped.
    #[test]
    fn a_run_writes_its_pages_once_and_leaves_wal_mode_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("l.db");
        let mut l = SqliteLedger::open(&db).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &many_lines(3000)).unwrap();
        assert_eq!(journal_mode(&l.conn), "wal");
        // Through the WAL, 3,000 rows leave ~1 MB in it (below the auto-checkpoint).
        assert!(wal_bytes(&db) < 64 * 1024, "{} bytes in the WAL", wal_bytes(&db));
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), 3000);

        let mut w = l.begin_run(&run("R002")).unwrap();
        w.add_lines(&in_file("f2", &[line("F1", "210105194912310021", None, 0)])).unwrap();
        drop(w);
        assert_eq!(journal_mode(&l.conn), "wal");
        assert!(l.payment("F1").unwrap().is_none());
        let ok: String = l.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    /// Another process reading the ledger keeps it in WAL mode: the run still
    /// records, through the WAL, and the reader is never locked out.
    #[test]
    fn a_run_with_a_reader_open_stays_in_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("l.db");
        let mut l = SqliteLedger::open(&db).unwrap();
        let reader = Connection::open(&db).unwrap();
        let count = |c: &Connection| -> i64 { c.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap() };
        assert_eq!(count(&reader), 0);
        let mut w = l.begin_run(&run("R001")).unwrap();
        w.add_lines(&many_lines(500)).unwrap();
        assert_eq!(count(&reader), 0, "the reader sees the ledger as it was");
        w.commit(&[file("f1")], "m").unwrap();
        assert_eq!(count(&reader), 500);
        assert!(wal_bytes(&db) > 0);
        assert_eq!(journal_mode(&l.conn), "wal");
    }

    /// A run's rows store the run's period: a line of another period is refused
    /// rather than recorded under the wrong month.
    #[test]
    fn a_line_of_another_period_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let mut odd = line("E1", "110105194912310021", None, 0);
        odd.period = "2026-10".parse().unwrap();
        let err = l.commit_run(&run("R001"), &[file("f1")], &[odd]).unwrap_err();
        assert!(matches!(&err, LedgerError::Corrupt(m) if m.contains("2026-10")), "{err:?}");
        assert!(l.files_of_period("2026-11".parse().unwrap()).unwrap().is_empty());
    }

    #[test]
    fn the_database_refuses_a_second_payment() {
        const A: &str = "110105194912310021";
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &[line("E1", A, None, 0)]).unwrap();
        let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &[line("E2", A, None, 0)])).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }));
        // Nothing of the refused run stays.
        assert_eq!(l.files_of_period("2026-11".parse().unwrap()).unwrap().len(), 1);
        assert_eq!(l.next_batch_number("2026-11".parse().unwrap(), BatchKind::Run).unwrap(), 2);
        // A linked correction is allowed once per retry.
        l.commit_run(&run("C001"), &[file("f3")], &in_file("f3", &[line("E3", A, Some("E1"), 1)])).unwrap();
        assert!(l.commit_run(&run("C002"), &[file("f4")], &in_file("f4", &[line("E4", A, Some("E1"), 1)])).is_err());
        assert_eq!(l.paid_people(Program::Dibao, "2026-11".parse().unwrap()).unwrap().len(), 1);
    }

    fn receipt_line(e2e: &str, status: PaymentStatus) -> ReceiptLine {
        ReceiptLine {
            file: String::new(),
            position: 0,
            end_to_end_id: e2e.into(),
            status,
            amount: None,
            reason_code: if status == PaymentStatus::Failed { "AC04".into() } else { String::new() },
            reason_text: String::new(),
        }
    }

    /// Applies `lines` as one receipt in a batch of its own, and commits.
    fn apply(
        l: &mut SqliteLedger,
        sha: &str,
        lines: &[ReceiptLine],
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Applied {
        let mut b = l.begin_receipts().unwrap();
        b.begin_receipt("r.xml").unwrap();
        for line in lines {
            b.push(line, decide).unwrap();
        }
        let a = b.end_receipt(sha, "k").unwrap();
        b.commit().unwrap();
        a
    }

    /// Applies every line whose status differs (the pending one counting), flags unknowns.
    fn plain(l: &StagedLine<'_>) -> Verdict {
        match l.payment {
            None => Verdict::Flagged,
            Some(p) if l.pending.unwrap_or(p.status) == l.status => Verdict::Unchanged,
            Some(_) => Verdict::Apply,
        }
    }

    /// A large receipt applies in one go; applying it again changes nothing; a
    /// batch dropped uncommitted leaves nothing.
    #[test]
    fn a_large_receipt_applies_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let n = 20_000;
        let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:06}"), &format!("P{i}"), None, 0)).collect();
        l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
        let status = |i: usize| if i % 10 == 5 { PaymentStatus::Failed } else { PaymentStatus::Settled };
        let mut receipt: Vec<ReceiptLine> = (0..n).map(|i| receipt_line(&format!("E{i:06}"), status(i))).collect();
        receipt.push(receipt_line("NOPE", PaymentStatus::Settled));
        let a = apply(&mut l, "a", &receipt, &mut plain);
        assert_eq!(a, Applied { lines: n as u64 + 1, updated: n as u64, flagged: 1 });
        assert!(l.receipt_seen("a").unwrap());
        let p = l.payment("E000005").unwrap().unwrap();
        assert_eq!((p.status, p.reason_code.as_str()), (PaymentStatus::Failed, "AC04"));
        assert_eq!(l.payment("E000006").unwrap().unwrap().status, PaymentStatus::Settled);
        let b = apply(&mut l, "b", &receipt, &mut plain);
        assert_eq!(b, Applied { lines: n as u64 + 1, updated: 0, flagged: 1 });
        {
            let mut b = l.begin_receipts().unwrap();
            b.begin_receipt("r.xml").unwrap();
            b.push(&receipt_line("E000001", PaymentStatus::Returned), &mut plain).unwrap();
            b.end_receipt("c", "k").unwrap();
        }
        assert!(!l.receipt_seen("c").unwrap());
        assert_eq!(l.payment("E000001").unwrap().unwrap().status, PaymentStatus::Settled);
    }

    /// Receipts of one batch see what earlier ones applied (the read-ahead scan's
    /// snapshot does not), in order or not; a discarded receipt leaves nothing.
    #[test]
    fn receipts_of_one_batch_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let n = 12_000;
        let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:06}"), &format!("P{i}"), None, 0)).collect();
        l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
        let e2e = |i: usize| format!("E{i:06}");
        // In order, then backwards with a gap, then in order again.
        let order: Vec<usize> = (0..5000).chain((5000..9000).rev()).chain(9500..n).collect();
        let mut b = l.begin_receipts().unwrap();
        b.begin_receipt("1.xml").unwrap();
        for &i in &order {
            b.push(&receipt_line(&e2e(i), PaymentStatus::Pending), &mut plain).unwrap();
        }
        assert_eq!(b.end_receipt("one", "k").unwrap().updated, order.len() as u64);
        b.begin_receipt("2.xml").unwrap();
        let mut met = Vec::new();
        for &i in &order {
            b.push(&receipt_line(&e2e(i), PaymentStatus::Settled), &mut |x| {
                met.push((x.payment.map(|p| p.status), x.pending));
                plain(x)
            })
            .unwrap();
        }
        assert!(met.iter().all(|m| *m == (Some(PaymentStatus::Pending), None)), "{:?}", &met[..3]);
        assert_eq!(b.end_receipt("two", "k").unwrap().updated, order.len() as u64);
        b.begin_receipt("3.xml").unwrap();
        b.push(&receipt_line(&e2e(9200), PaymentStatus::Failed), &mut plain).unwrap();
        b.push(&receipt_line(&e2e(1), PaymentStatus::Returned), &mut plain).unwrap();
        b.discard_receipt().unwrap();
        b.commit().unwrap();
        assert!(l.receipt_seen("two").unwrap());
        assert_eq!(l.payment(&e2e(1)).unwrap().unwrap().status, PaymentStatus::Settled);
        assert_eq!(l.payment(&e2e(7000)).unwrap().unwrap().status, PaymentStatus::Settled);
        assert_eq!(l.payment(&e2e(9200)).unwrap().unwrap().status, PaymentStatus::Sent);
    }

    /// Two lines about one payment in one receipt: the later one is decided against
    /// the earlier one's status and replaces it.
    #[test]
    fn a_later_line_replaces_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &[line("E1", "A", None, 0)]).unwrap();
        let lines =
            [PaymentStatus::Pending, PaymentStatus::Pending, PaymentStatus::Failed].map(|s| receipt_line("E1", s));
        let mut seen = Vec::new();
        let a = apply(&mut l, "a", &lines, &mut |x| {
            seen.push(x.pending);
            plain(x)
        });
        assert_eq!(seen, [None, Some(PaymentStatus::Pending), Some(PaymentStatus::Pending)]);
        assert_eq!(a, Applied { lines: 3, updated: 1, flagged: 0 });
        assert_eq!(l.payment("E1").unwrap().unwrap().status, PaymentStatus::Failed);
    }

    /// A ledger of schema version `v` with lines in every state: for 1 and 2
    /// (whose payments have the same columns) written as that version's code wrote
    /// them; for 3 and 4, a version 2 ledger taken there by their own migrations.
    /// Run 2's lines are not one stretch of ids: run 3's correction sits among them.
    fn old_ledger(path: &Path, v: usize) {
        old_ledger_v1_v2(path, v.min(2));
        for step in 3..=v {
            let c = Connection::open(path).unwrap();
            c.execute_batch(&format!(
                "PRAGMA foreign_keys = OFF; BEGIN; {} COMMIT; PRAGMA user_version = {step};",
                MIGRATIONS[step - 1]
            ))
            .unwrap();
        }
    }

    fn old_ledger_v1_v2(path: &Path, v: usize) {
        let c = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..v] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", v as i64).unwrap();
        c.execute_batch(
            "INSERT INTO runs VALUES (1, '2026-10', 'R001', 'run', 'published', 's1', 'm1', 't1'); \
             INSERT INTO runs VALUES (2, '2026-11', 'R001', 'run', 'published', 's2', 'm2', 't2'); \
             INSERT INTO runs VALUES (3, '2026-11', 'C001', 'correction', 'published', 's3', 'm3', 't3'); \
             INSERT INTO bank_files VALUES ('f0', 1, 'dibao', '2026-10', 'x', 1, 100, 'h0'); \
             INSERT INTO bank_files VALUES ('f1', 2, 'dibao', '2026-11', 'x', 5, 500, 'h1'); \
             INSERT INTO bank_files VALUES ('f2', 3, 'dibao', '2026-11', 'x', 1, 100, 'h2'); \
             INSERT INTO receipts VALUES ('r1', 'r.xml', 'k', 5, 0, 'u1');",
        )
        .unwrap();
        /// (end_to_end_id, run, period, person, file, status, reason, reason text, original, retry)
        type OldRow<'a> = (&'a str, i64, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str, Option<&'a str>, i64);
        let rows: [OldRow; 7] = [
            ("E0", 1, "2026-10", "A", "f0", "settled", "", "", None, 0),
            ("E1", 2, "2026-11", "A", "f1", "sent", "", "", None, 0),
            ("E2", 2, "2026-11", "B", "f1", "settled", "", "", None, 0),
            ("E3", 2, "2026-11", "C", "f1", "failed", "AC04", "账号错误", None, 0),
            ("E5", 3, "2026-11", "C", "f2", "settled", "", "", Some("E3"), 1),
            ("E4", 2, "2026-11", "D", "f1", "returned", "MD07", "死亡", None, 0),
            ("E6", 2, "2026-11", "E", "f1", "pending", "", "", None, 0),
        ];
        for (e2e, run, period, who, file, status, code, text, original, retry) in rows {
            c.execute(
                "INSERT INTO payments VALUES (?1, ?2, 'dibao', ?3, ?4, '张三', '镇', '村', '张三', '6222', '', 100, ?5, \
                 ?6, ?7, ?8, ?9, ?10, 'u0')",
                params![e2e, run, period, format!("1101051949123100{:02}", who.as_bytes()[0] - b'A'), file, status, code, text, original, retry],
            )
            .unwrap();
        }
    }

    /// Version 1, 2, 3 and 4 ledgers open as the current version with every line,
    /// status, reason, correction, file and receipt, and answer every question as
    /// before; the never-pay-twice rule and receipts keep working on the migrated ledger.
    #[test]
    fn older_ledgers_migrate_with_their_data() {
        let p11: Period = "2026-11".parse().unwrap();
        let id = |who: &str| format!("1101051949123100{:02}", who.as_bytes()[0] - b'A');
        for v in [1, 2, 3, 4, 5] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("l.db");
            old_ledger(&path, v);
            let mut l = SqliteLedger::open(&path).unwrap();
            assert_eq!(l.version().unwrap(), MIGRATIONS.len() as i64, "from v{v}");
            let ok: String = l.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(ok, "ok");
            let fk: Option<String> = l.conn.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional().unwrap();
            assert_eq!(fk, None);
            assert_eq!(
                stretches(&l),
                [(1, 1, 1), (2, 2, 4), (3, 5, 5), (2, 6, 7)],
                "from v{v}: run 2's lines are two stretches, around run 3's correction"
            );

            let e3 = l.payment("E3").unwrap().unwrap();
            assert_eq!(
                (e3.status, e3.reason_code.as_str(), e3.reason_text.as_str()),
                (PaymentStatus::Failed, "AC04", "账号错误")
            );
            assert_eq!((e3.id_number.as_str(), e3.bank_file.as_str(), e3.amount), (id("C").as_str(), "f1", Fen(100)));
            let states: Vec<(String, PaymentStatus)> =
                l.payments_of_period(p11).unwrap().into_iter().map(|l| (l.end_to_end_id.into(), l.status)).collect();
            use PaymentStatus::*;
            let want =
                [("E1", Sent), ("E2", Settled), ("E3", Failed), ("E4", Returned), ("E5", Settled), ("E6", Pending)];
            assert_eq!(states, want.map(|(e, s)| (e.to_string(), s)));
            let failures: Vec<String> =
                l.failure_lines(p11).unwrap().into_iter().map(|l| l.end_to_end_id.into()).collect();
            assert_eq!(failures, ["E3", "E4", "E5"]);
            let c = l.corrections_of("E3").unwrap();
            assert_eq!((c.len(), c[0].original_id.as_deref(), c[0].retry), (1, Some("E3"), 1));
            let of_f1: Vec<String> =
                l.payments_in_file("f1").unwrap().into_iter().map(|l| l.end_to_end_id.into()).collect();
            assert_eq!(of_f1, ["E1", "E2", "E3", "E4", "E6"]);
            assert_eq!(l.reported_deceased().unwrap(), HashMap::from([(id("D"), "E4".to_string())]));
            assert_eq!(l.paid_people(Program::Dibao, p11).unwrap().len(), 5);
            let (last, paid) = l.last_paid_before(Program::Dibao, "2026-12".parse().unwrap()).unwrap().unwrap();
            assert_eq!(last, p11);
            let mut who: Vec<&String> = paid.keys().collect();
            who.sort();
            assert_eq!(who, [&id("A"), &id("B"), &id("C"), &id("E")]);
            assert_eq!(l.periods().unwrap(), ["2026-10".parse().unwrap(), p11]);
            assert!(l.receipt_seen("r1").unwrap());
            assert_eq!(l.files_of_period(p11).unwrap().len(), 2);
            let sums = super::super::status_of(&l.payments_of_period(p11).unwrap());
            let d = &sums[&Program::Dibao];
            assert_eq!(
                (d.sent.lines, d.settled.lines, d.failed.lines, d.returned.lines, d.pending.lines),
                (6, 2, 1, 1, 2)
            );
            assert_eq!(l.period_status(p11).unwrap(), sums, "the aggregate query counts as the lines do");
            assert!(d.reissued.lines > 0 && d.balances());

            // Receipts and runs keep working on the migrated ledger.
            let a = apply(&mut l, "r2", &[receipt_line("E6", Settled), receipt_line("E2", Returned)], &mut plain);
            assert_eq!(a, Applied { lines: 2, updated: 2, flagged: 0 });
            assert_eq!(l.payment("E6").unwrap().unwrap().status, Settled);
            assert_eq!(l.payment("E2").unwrap().unwrap().status, Returned);
            assert_eq!(l.payment("E4").unwrap().unwrap().reason_code, "MD07");
            let err = l
                .commit_run(&run("R002"), &[file("f3")], &in_file("f3", &[line("E9", &id("A"), None, 0)]))
                .unwrap_err();
            assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
            l.commit_run(&run("R002"), &[file("f3")], &in_file("f3", &[line("E9", &id("F"), None, 0)])).unwrap();
            assert_eq!(l.paid_people(Program::Dibao, p11).unwrap().len(), 6);
            assert_eq!(stretches(&l).last(), Some(&(4, 8, 8)), "the new run's line after the last id");
        }
    }

    /// `payment_ranges` as (run, first id, last id), in id order.
    fn stretches(l: &SqliteLedger) -> Vec<(i64, i64, i64)> {
        let mut stmt =
            l.conn.prepare("SELECT run_id, first_id, last_id FROM payment_ranges ORDER BY first_id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    }

    /// The ids SQLite gives are checked, not assumed: past the largest id there
    /// is, it picks one at random, and the run is refused rather than recorded
    /// with stretches that miss its lines.
    #[test]
    fn a_run_whose_ids_are_not_one_stretch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &in_file("f1", &[line("E1", "A", None, 0)])).unwrap();
        l.conn.execute("UPDATE payments SET id = ?1", [i64::MAX - 1]).unwrap();
        let lines: Vec<LedgerLine> = ["B", "C", "D"].iter().map(|w| line(&format!("F{w}"), w, None, 0)).collect();
        let err = l.commit_run(&run("R002"), &[file("f2")], &in_file("f2", &lines)).unwrap_err();
        assert!(err.to_string().contains("not one stretch"), "{err}");
        let n: i64 = l.conn.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "nothing of the refused run is kept");
    }

    /// A run's ids are given in order, one stretch per program for as long as
    /// its lines come in a row; a stretch never spans two programs.
    #[test]
    fn a_runs_ids_are_kept_as_stretches_of_one_program() {
        let mut r = Ranges::default();
        for (program, id) in [(Program::Dibao, 7), (Program::Dibao, 8), (Program::Wubao, 9), (Program::Wubao, 10)] {
            r.add(program, id);
        }
        r.add(Program::Wubao, 12);
        r.add(Program::Dibao, 13);
        assert_eq!(
            r.0,
            [(Program::Dibao, 7, 8), (Program::Wubao, 9, 10), (Program::Wubao, 12, 12), (Program::Dibao, 13, 13)]
        );
    }

    /// Version 4 finds a period's payments through their runs: a ledger with a
    /// payment of another period than its run's is refused, and left as it was.
    #[test]
    fn a_payment_astray_from_its_runs_period_stops_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        old_ledger(&path, 3);
        Connection::open(&path).unwrap().execute("UPDATE payments SET period = '2026-09' WHERE id = 2", []).unwrap();
        let err = SqliteLedger::open(&path).err().expect("refused");
        assert!(err.to_string().contains("1 payments are of another period"), "{err}");
        let v: i64 = Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 3);
    }

    /// A refused line ends the run's transaction (`OR ROLLBACK`): the writer then
    /// refuses more lines and its commit, so nothing of the run can be committed.
    #[test]
    fn a_refused_line_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let a = "110105194912310021";
        let mut w = l.begin_run(&run("R001")).unwrap();
        w.add_lines(&[line("E1", a, None, 0)]).unwrap();
        let err = w.add_lines(&[line("E2", a, None, 0)]).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
        assert!(matches!(w.add_lines(&[line("E3", "110105194912310022", None, 0)]), Err(LedgerError::RolledBack)));
        assert!(matches!(w.commit(&[file("f1")], "m"), Err(LedgerError::RolledBack)));
        assert_eq!(l.next_batch_number("2026-11".parse().unwrap(), BatchKind::Run).unwrap(), 1);
        assert!(l.payment("E1").unwrap().is_none());
        assert!(l.payment("E3").unwrap().is_none());
    }

    /// Every bank file named by a run's lines must be recorded by that run's commit.
    #[test]
    fn lines_must_name_a_file_the_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let err = l.commit_run(&run("R001"), &[file("other")], &[line("E1", "A", None, 0)]).unwrap_err();
        assert!(err.to_string().contains("f1"), "{err}");
        assert!(l.payment("E1").unwrap().is_none());
        assert!(l.files_of_period("2026-11".parse().unwrap()).unwrap().is_empty());
        // ... and its own: a file of an earlier run is refused.
        l.commit_run(&run("R001"), &[file("f1")], &[line("E1", "A", None, 0)]).unwrap();
        let err = l.commit_run(&run("R002"), &[file("f2")], &[line("E2", "B", None, 0)]).unwrap_err();
        assert!(err.to_string().contains("earlier run"), "{err}");
        assert!(l.payment("E2").unwrap().is_none());
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.db");
        let _a = super::super::Lock::acquire(&p).unwrap();
        assert!(matches!(super::super::Lock::acquire(&p), Err(LedgerError::Locked(_))));
    }
}
