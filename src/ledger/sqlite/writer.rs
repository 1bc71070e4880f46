//! The run writer: a run's payment lines inserted as they are written, in one
//! transaction committed with its files and manifest.

use super::*;

/// Payment rows per INSERT statement: one statement per row spent most of a
/// million-line commit in per-statement overhead (15 × 64 parameters stays far
/// below SQLite's limit).
pub(super) const ROWS_PER_INSERT: usize = 64;
/// `OR ROLLBACK`: a line that breaks a unique index (a second payment) ends the
/// whole run's transaction, which is what a run wants anyway — and a statement
/// that cannot abort on its own needs no statement journal (SQLite keeps one for
/// every multi-row INSERT whose conflict resolution is ABORT: ~5% of a run's
/// ledger time, copying pages that were about to be written anyway).
pub(super) const PAYMENT_COLUMNS: &str =
    "INSERT OR ROLLBACK INTO payment_rows (run_id, program_id, period, person, version, amount_fen, file_id, \
     ref_seq, end_to_end_id, original_id, retry, line_type, covers) VALUES ";

/// `(?,?,…)` repeated `rows` times.
pub(super) fn payment_values(rows: usize) -> String {
    let one = "(?,?,?,?,?,?,?,?,?,?,?,?,?)";
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
pub(super) struct PaymentInserts<'c> {
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
        period: i64,
        lines: &[LedgerLine],
        resolved: &[Resolved],
        first_id: i64,
    ) -> Result<(), LedgerError> {
        let mut values = Vec::with_capacity(ROWS_PER_INSERT * PAYMENT_PARAMS);
        let (full, rest) = lines.split_at(lines.len() / ROWS_PER_INSERT * ROWS_PER_INSERT);
        let mut last_id = first_id - 1;
        let mut at = 0;
        for group in full.chunks(ROWS_PER_INSERT).chain(rest.chunks(1)) {
            values.clear();
            for (l, r) in group.iter().zip(&resolved[at..]) {
                payment_row(&mut values, run_id, period, l, r);
            }
            at += group.len();
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
pub(super) const PAYMENT_PARAMS: usize = 13;

/// One payment row's parameters, in [`PAYMENT_COLUMNS`] order.
pub(super) fn payment_row<'a>(values: &mut Vec<Value<'a>>, run_id: i64, period: i64, l: &'a LedgerLine, r: &Resolved) {
    values.extend([
        Value::Int(run_id),
        Value::Int(r.program_id),
        Value::Int(period),
        Value::Int(r.person),
        Value::Int(r.version),
        Value::Int(l.amount.0),
        Value::Int(r.file_id),
        r.seq.map_or(Value::Null, Value::Int),
        if r.seq.is_some() { Value::Null } else { Value::Text(&l.end_to_end_id) },
        l.original_id.as_deref().map_or(Value::Null, Value::Text),
        Value::Int(i64::from(l.retry)),
        Value::Text(l.kind.line_type.code()),
        Value::Text(l.kind.covers_str()),
    ]);
}

/// The error for a failed INSERT of `group`. A unique index refused a row (the
/// transaction is already rolled back: `OR ROLLBACK`): a payment already
/// recorded, before this run or earlier in it; the line named is one recorded
/// before if there is one.
pub(super) fn refused(conn: &Connection, group: &[LedgerLine], e: rusqlite::Error) -> LedgerError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.extended_code,
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    ));
    if !unique {
        return LedgerError::Db(e);
    }
    let recorded = |l: &&LedgerLine| {
        let (a, b, c) = reference_params(&l.end_to_end_id);
        let person = crate::domain::id_key(&l.id_number).and_then(|k| i64::try_from(k).ok());
        conn.query_row(
            concat!(
                "SELECT 1 WHERE EXISTS ",
                payment_id_of!(1, 2, 3),
                " OR EXISTS (SELECT 1 FROM payment_rows p JOIN program_codes c ON c.id = p.program_id \
                 WHERE p.period = ?4 AND c.code = ?5 AND p.person = ?6 AND p.original_id IS NULL AND ?7 IS NULL)"
            ),
            params![a, b, c, period_n(l.period), l.program.code(), person, l.original_id],
            |_| Ok(()),
        )
        .optional()
        .ok()
        .flatten()
        .is_some()
    };
    let l = group.iter().find(recorded).unwrap_or(&group[0]);
    LedgerError::AlreadyPaid { program: l.program.code().into(), period: l.period.to_string(), by: String::new() }
}

/// A run being recorded: an open `BEGIN IMMEDIATE` transaction on the ledger's
/// connection, rolled back if dropped before [`RunWriter::commit`].
///
/// A bank file's row is written (as a placeholder, completed at commit) before
/// the first line naming it. Why: when a parent row arrives after its children,
/// SQLite settles the deferred foreign key by searching the children for it —
/// a search of the whole run per file without an index on the file name.
pub(super) struct SqliteRun<'a> {
    conn: &'a Connection,
    inserts: PaymentInserts<'a>,
    resolver: Resolver<'a>,
    run_id: i64,
    period: Period,
    /// `period` as stored (every line of a run is of the run's period).
    period_text: String,
    /// Files with a placeholder row (and its id), and the last one met (lines
    /// come file by file).
    placeholders: HashMap<Text, i64>,
    last_file: Text,
    last_file_id: i64,
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

impl<'a> SqliteRun<'a> {
    /// Opens a run's transaction and records the run as staged.
    pub(super) fn begin(conn: &'a Connection, run: &NewRun) -> Result<SqliteRun<'a>, LedgerError> {
        let mut journal = JournalForRun::begin(conn)?;
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;") {
            journal.end(conn);
            return Err(e.into());
        }
        let mut open = SqliteRun {
            conn,
            inserts: PaymentInserts::prepare(conn)?,
            resolver: Resolver::prepare(conn)?,
            run_id: 0,
            period: run.period,
            period_text: run.period.to_string(),
            placeholders: HashMap::new(),
            last_file: Text::default(),
            last_file_id: 0,
            next_id: 0,
            ranges: Ranges::default(),
            done: false,
            journal,
            writeback: Writeback::of(conn),
        };
        open.conn.execute(
            "INSERT INTO runs (period, batch, kind, state, staging_dir, manifest_sha256, created_at, key_fingerprint) \
             VALUES (?1, ?2, ?3, 'staged', ?4, ?5, ?6, ?7)",
            params![
                open.period_text,
                run.batch,
                run.kind.code(),
                run.staging_dir.to_string_lossy(),
                run.manifest_sha256,
                run.created_at,
                run.key_fingerprint
            ],
        )?;
        open.run_id = open.conn.last_insert_rowid();
        // Who vouched for a correction's person, in the batch's own transaction
        // (schema_v7.sql): the name is kept exactly when its line is.
        for v in &run.verified {
            open.conn.execute(
                "INSERT INTO verifications (run_id, original_id, retry, verified_by, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![open.run_id, v.original_id, v.retry, v.verified_by, v.reason],
            )?;
        }
        // The approval each program was paid under (schema_v10.sql).
        for a in &run.approvals {
            open.conn.execute(
                "INSERT INTO approvals (run_id, program, count, total, reference, approved_by, approved_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    open.run_id,
                    a.program.code(),
                    a.count as i64,
                    a.total.to_string(),
                    a.reference,
                    a.approved_by,
                    a.approved_on
                ],
            )?;
        }
        open.next_id = open.conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM payment_rows", [], |r| r.get(0))?;
        Ok(open)
    }

    /// Writes the placeholder row of `l`'s bank file, once.
    fn placeholder(&mut self, l: &LedgerLine) -> Result<(), LedgerError> {
        self.last_file.clone_from(&l.bank_file);
        if let Some(id) = self.placeholders.get(&l.bank_file) {
            self.last_file_id = *id;
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
            // A run's lines name its own files (`payments_in_file` relies on it),
            // and a name once published is never used again (SPEC §8).
            return Err(LedgerError::FileNameUsed { name: l.bank_file.to_string() });
        }
        self.last_file_id = self.conn.last_insert_rowid();
        self.placeholders.insert(l.bank_file.clone(), self.last_file_id);
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
pub(super) struct Ranges(pub(super) Vec<(Program, i64, i64)>);

impl Ranges {
    /// Adds payment `id` of `program`: to the last stretch if it continues it.
    pub(super) fn add(&mut self, program: Program, id: i64) {
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
        }
        let mut resolved = Vec::with_capacity(lines.len());
        for l in lines {
            if l.bank_file != self.last_file || self.last_file_id == 0 {
                self.placeholder(l)?;
            }
            resolved.push(self.resolver.resolve(self.run_id, l, self.last_file_id)?);
        }
        self.inserts.insert(self.conn, self.run_id, period_n(self.period), lines, &resolved, self.next_id)?;
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
            let stmt = if self.placeholders.remove(file.name.as_str()).is_some() { &mut complete } else { &mut insert };
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
        if let Some(name) = self.placeholders.keys().next() {
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
pub(super) struct Writeback {
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
pub(super) fn database_file(conn: &Connection) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
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
pub(super) fn database_file(_: &Connection) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
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
pub(super) struct JournalForRun {
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
