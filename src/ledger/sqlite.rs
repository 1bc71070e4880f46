//! The SQLite ledger (embedded, the default). Schema migrations are SQL files
//! applied in order, tracked by `PRAGMA user_version`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    Applied, BatchKind, FileRecord, Ledger, LedgerError, LedgerLine, NewRun, PaymentState, ReceiptRecord, ReceiptStage,
    RunRecord, RunWriter, StagedLine, Verdict,
};
use crate::domain::{Fen, PaymentStatus, Period, Program, ReceiptLine};

const MIGRATIONS: &[&str] = &[include_str!("schema_v1.sql"), include_str!("schema_v2.sql")];

/// Payment rows per INSERT statement: one statement per row spent most of a
/// million-line commit in per-statement overhead (16 × 64 parameters stays far
/// below SQLite's limit).
const ROWS_PER_INSERT: usize = 64;
const PAYMENT_COLUMNS: &str = "INSERT INTO payments (end_to_end_id, run_id, program, period, id_number, name, \
     township, village, payee_name, account, bank, amount_fen, bank_file, status, original_id, retry, updated_at) VALUES ";

/// `(?,?,…,'sent',?,?,?)` repeated `rows` times.
fn payment_values(rows: usize) -> String {
    let one = "(?,?,?,?,?,?,?,?,?,?,?,?,?,'sent',?,?,?)";
    let mut sql = String::from(PAYMENT_COLUMNS);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(one);
    }
    sql
}

/// Inserts the payment rows, many per statement. A chunk that breaks the
/// one-payment-per-person index is rolled back by SQLite (statement atomicity)
/// and replayed row by row, so the error names the line's program as before.
fn insert_payments(conn: &Connection, run_id: i64, lines: &[LedgerLine], ts: &str) -> Result<(), LedgerError> {
    let mut many = conn.prepare_cached(&payment_values(ROWS_PER_INSERT))?;
    let mut one = conn.prepare_cached(&payment_values(1))?;
    let chunks = lines.chunks_exact(ROWS_PER_INSERT);
    let rest = chunks.remainder();
    for chunk in chunks {
        let mut i = 1;
        for l in chunk {
            bind_payment(&mut many, &mut i, run_id, l, ts)?;
        }
        match many.raw_execute() {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                insert_one_by_one(&mut one, run_id, chunk, ts)?;
            }
            res => {
                res?;
            }
        }
    }
    insert_one_by_one(&mut one, run_id, rest, ts)
}

fn insert_one_by_one(
    stmt: &mut rusqlite::Statement<'_>,
    run_id: i64,
    lines: &[LedgerLine],
    ts: &str,
) -> Result<(), LedgerError> {
    for l in lines {
        let mut i = 1;
        bind_payment(stmt, &mut i, run_id, l, ts)?;
        let res = stmt.raw_execute();
        if let Err(rusqlite::Error::SqliteFailure(e, _)) = &res {
            if e.code == rusqlite::ErrorCode::ConstraintViolation {
                return Err(LedgerError::AlreadyPaid {
                    program: l.program.code().into(),
                    period: l.period.to_string(),
                });
            }
        }
        res?;
    }
    Ok(())
}

/// Binds one payment row's 16 parameters from index `*i` on.
fn bind_payment(
    stmt: &mut rusqlite::Statement<'_>,
    i: &mut usize,
    run_id: i64,
    l: &LedgerLine,
    ts: &str,
) -> Result<(), LedgerError> {
    let period = l.period.to_string();
    let values: [&dyn rusqlite::ToSql; 16] = [
        &l.end_to_end_id,
        &run_id,
        &l.program.code(),
        &period,
        &l.id_number,
        &l.name,
        &l.township,
        &l.village,
        &l.payee_name,
        &l.account,
        &l.bank,
        &l.amount.0,
        &l.bank_file,
        &l.original_id,
        &l.retry,
        &ts,
    ];
    for v in values {
        stmt.raw_bind_parameter(*i, v)?;
        *i += 1;
    }
    Ok(())
}

/// A run being recorded: an open `BEGIN IMMEDIATE` transaction on the ledger's
/// connection, rolled back if dropped before [`RunWriter::commit`]. Foreign keys
/// are checked at commit, so lines can name their bank file before the file's row exists.
struct SqliteRun<'a> {
    conn: &'a Connection,
    run_id: i64,
    ts: String,
    period: String,
    done: bool,
}

impl RunWriter for SqliteRun<'_> {
    fn add_lines(&mut self, lines: &[LedgerLine]) -> Result<(), LedgerError> {
        insert_payments(self.conn, self.run_id, lines, &self.ts)
    }

    fn commit(mut self: Box<Self>, files: &[FileRecord], manifest_sha256: &str) -> Result<i64, LedgerError> {
        let mut f = self.conn.prepare_cached(
            "INSERT INTO bank_files (name, run_id, program, period, format, lines, total_fen, sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for file in files {
            f.execute(params![
                file.name,
                self.run_id,
                file.program.code(),
                self.period,
                file.format,
                file.lines as i64,
                file.total.0,
                file.sha256
            ])?;
        }
        drop(f);
        self.conn
            .execute("UPDATE runs SET manifest_sha256 = ?1 WHERE id = ?2", params![manifest_sha256, self.run_id])?;
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(self.run_id)
    }
}

impl Drop for SqliteRun<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
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
        // A 32 MB page cache (default 2 MB): committing a million lines touches four
        // indexes; with the small cache their pages spill to the WAL mid-transaction.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;",
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
        let mut ledger = SqliteLedger { conn, path: path.to_path_buf() };
        ledger.migrate()?;
        Ok(ledger)
    }

    fn migrate(&mut self) -> Result<(), LedgerError> {
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(LedgerError::TooNew { path: self.path.clone(), found: version, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn lines(&self, where_sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = format!("SELECT {LINE_COLUMNS} FROM payments WHERE {where_sql} ORDER BY end_to_end_id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, read_line)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.map_err(LedgerError::Corrupt)?);
        }
        Ok(out)
    }
}

const LINE_COLUMNS: &str = "end_to_end_id, program, period, id_number, name, township, village, payee_name, \
     account, bank, amount_fen, bank_file, status, reason_code, reason_text, original_id, retry";

type ParsedLine = Result<LedgerLine, String>;

fn read_line(r: &rusqlite::Row) -> rusqlite::Result<ParsedLine> {
    let program: String = r.get(1)?;
    let period: String = r.get(2)?;
    let status: String = r.get(12)?;
    let parsed = (|| {
        Ok(LedgerLine {
            end_to_end_id: r.get(0).map_err(|e| e.to_string())?,
            program: program.parse()?,
            period: period.parse()?,
            id_number: r.get(3).map_err(|e| e.to_string())?,
            name: r.get(4).map_err(|e| e.to_string())?,
            township: r.get(5).map_err(|e| e.to_string())?,
            village: r.get(6).map_err(|e| e.to_string())?,
            payee_name: r.get(7).map_err(|e| e.to_string())?,
            account: r.get(8).map_err(|e| e.to_string())?,
            bank: r.get(9).map_err(|e| e.to_string())?,
            amount: Fen(r.get(10).map_err(|e| e.to_string())?),
            bank_file: r.get(11).map_err(|e| e.to_string())?,
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

/// The scratch tables of `returns`. TEMP: they live in this connection only and
/// never reach the ledger file, so staging needs no schema change and a crash
/// leaves nothing behind. `receipt_apply` holds, per payment row, the status and
/// reason to apply (a later line of the same receipt replaces an earlier one).
const STAGE_TABLES: &str = "\
    CREATE TEMP TABLE IF NOT EXISTS receipt_lines (seq INTEGER PRIMARY KEY, receipt INTEGER NOT NULL, \
        position INTEGER NOT NULL, e2e TEXT NOT NULL, status TEXT NOT NULL, amount_fen INTEGER, \
        reason_code TEXT NOT NULL, reason_text TEXT NOT NULL); \
    CREATE TEMP TABLE IF NOT EXISTS receipt_apply (pid INTEGER PRIMARY KEY, status TEXT NOT NULL, \
        reason_code TEXT NOT NULL, reason_text TEXT NOT NULL); \
    DELETE FROM temp.receipt_lines; DELETE FROM temp.receipt_apply;";

/// Staging into `temp.receipt_lines`, inside one (temp-only) transaction so a
/// million inserts cost one commit.
struct SqliteStage<'c> {
    conn: &'c Connection,
    insert: rusqlite::Statement<'c>,
    open: bool,
}

impl ReceiptStage for SqliteStage<'_> {
    fn push(&mut self, receipt: u32, l: &ReceiptLine) -> Result<(), LedgerError> {
        self.insert.execute(params![
            receipt,
            l.position as i64,
            l.end_to_end_id,
            l.status.code(),
            l.amount.map(|a| a.0),
            l.reason_code,
            l.reason_text
        ])?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), LedgerError> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteStage<'_> {
    fn drop(&mut self) {
        if self.open {
            // The rollback brings back what an earlier stage held: clear that too.
            let _ = self.conn.execute_batch("ROLLBACK; DELETE FROM temp.receipt_lines;");
        }
    }
}

/// Payment rows already met in the receipt being decided: a bit per rowid (the
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

impl SqliteLedger {
    /// Decides the staged lines of receipt `index`, filling `temp.receipt_apply`.
    fn decide_staged(
        tx: &rusqlite::Transaction<'_>,
        index: u32,
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Result<Applied, LedgerError> {
        let max: i64 = tx.query_row("SELECT COALESCE(MAX(rowid), 0) FROM payments", [], |r| r.get(0))?;
        let mut seen = Seen::new(max);
        let mut out = Applied::default();
        let mut query = tx.prepare(
            "SELECT r.reason_code, r.position, r.e2e, r.status, r.amount_fen, p.rowid, p.period, p.amount_fen, \
             p.status, r.reason_text \
             FROM temp.receipt_lines r LEFT JOIN payments p ON p.end_to_end_id = r.e2e \
             WHERE r.receipt = ?1 ORDER BY r.seq",
        )?;
        let mut put = tx.prepare(
            "INSERT OR REPLACE INTO temp.receipt_apply (pid, status, reason_code, reason_text) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut pending = tx.prepare("SELECT status FROM temp.receipt_apply WHERE pid = ?1")?;
        let mut period_cache: Option<(String, Period)> = None;
        let mut rows = query.query([index])?;
        while let Some(row) = rows.next()? {
            let pid: Option<i64> = row.get(5)?;
            let payment = match pid {
                None => None,
                Some(_) => {
                    let text = text_at(row, 6)?;
                    let period = match &period_cache {
                        Some((t, p)) if t == text => *p,
                        _ => {
                            let p: Period = text.parse().map_err(LedgerError::Corrupt)?;
                            period_cache = Some((text.to_string(), p));
                            p
                        }
                    };
                    let status = parse_status(text_at(row, 8)?)?;
                    Some(PaymentState { period, amount: Fen(row.get(7)?), status })
                }
            };
            let earlier = match pid {
                Some(pid) if seen.mark(pid) => {
                    let s: Option<String> = pending.query_row([pid], |r| r.get(0)).optional()?;
                    s.as_deref().map(parse_status).transpose()?
                }
                _ => None,
            };
            let line = StagedLine {
                position: row.get::<_, i64>(1)? as u64,
                end_to_end_id: text_at(row, 2)?,
                status: parse_status(text_at(row, 3)?)?,
                amount: row.get::<_, Option<i64>>(4)?.map(Fen),
                payment,
                pending: earlier,
            };
            out.lines += 1;
            match (decide(&line), pid) {
                (Verdict::Apply, Some(pid)) => {
                    put.execute(params![pid, line.status.code(), text_at(row, 0)?, text_at(row, 9)?])?;
                }
                (Verdict::Apply, None) => {
                    return Err(LedgerError::Corrupt(format!(
                        "receipt line {} ({}) was to be applied but names no payment",
                        line.position, line.end_to_end_id
                    )))
                }
                (Verdict::Unchanged, _) => {}
                (Verdict::Flagged, _) => out.flagged += 1,
            }
        }
        out.updated = tx.query_row("SELECT COUNT(*) FROM temp.receipt_apply", [], |r| r.get::<_, i64>(0))? as u64;
        Ok(out)
    }
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
        let mut stmt = self.conn.prepare_cached(
            "SELECT id_number FROM payments WHERE program = ?1 AND period = ?2 AND original_id IS NULL",
        )?;
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
            .query_row(
                "SELECT MAX(period) FROM payments WHERE program = ?1 AND period < ?2",
                params![program.code(), period.to_string()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let Some(last) = last else { return Ok(None) };
        let mut stmt = self.conn.prepare(
            "SELECT id_number, SUM(amount_fen), MAX(name) FROM payments WHERE program = ?1 AND period = ?2 \
             AND status NOT IN ('failed', 'returned') GROUP BY id_number",
        )?;
        let rows = stmt.query_map(params![program.code(), last], |r| {
            Ok((r.get::<_, String>(0)?, (Fen(r.get(1)?), r.get::<_, String>(2)?)))
        })?;
        let map = rows.collect::<Result<HashMap<_, _>, _>>()?;
        Ok(Some((last.parse().map_err(LedgerError::Corrupt)?, map)))
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<Box<dyn RunWriter + '_>, LedgerError> {
        self.conn.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;")?;
        let mut open =
            SqliteRun { conn: &self.conn, run_id: 0, ts: now(), period: run.period.to_string(), done: false };
        open.conn.execute(
            "INSERT INTO runs (period, batch, kind, state, staging_dir, manifest_sha256, created_at) \
             VALUES (?1, ?2, ?3, 'staged', ?4, ?5, ?6)",
            params![
                open.period,
                run.batch,
                run.kind.code(),
                run.staging_dir.to_string_lossy(),
                run.manifest_sha256,
                run.created_at
            ],
        )?;
        open.run_id = open.conn.last_insert_rowid();
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
        Ok(self.lines("end_to_end_id = ?1", &[&end_to_end_id])?.pop())
    }

    fn failure_lines(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        self.lines(
            // The condition of the partial index `payments_needing_a_person` (schema_v2.sql).
            "period = ?1 AND (status IN ('failed', 'returned') OR original_id IS NOT NULL OR reason_code <> '')",
            &[&period.to_string()],
        )
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        self.lines("bank_file = ?1", &[&bank_file])
    }

    fn payments_of_period(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        self.lines("period = ?1", &[&period.to_string()])
    }

    fn corrections_of(&self, original_id: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        self.lines("original_id = ?1", &[&original_id])
    }

    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM receipts WHERE sha256 = ?1", params![sha256], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn stage_receipts(&self) -> Result<Box<dyn ReceiptStage + '_>, LedgerError> {
        // The bundled SQLite keeps TEMP tables in memory: a million staged lines
        // would cost ~100 MB. On a (deleted-on-close) file with an 8 MB cache the
        // memory stays flat. Set before the temp database opens (it resets it).
        self.conn.execute_batch("PRAGMA temp_store = FILE; PRAGMA temp.cache_size = -8192;")?;
        self.conn.execute_batch("BEGIN")?;
        let mut stage = SqliteStage { conn: &self.conn, insert: self.conn.prepare("SELECT 1")?, open: true };
        self.conn.execute_batch(STAGE_TABLES)?;
        stage.insert = self.conn.prepare(
            "INSERT INTO temp.receipt_lines (receipt, position, e2e, status, amount_fen, reason_code, reason_text) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        Ok(Box::new(stage))
    }

    fn apply_staged_receipt(
        &mut self,
        index: u32,
        receipt: &ReceiptRecord,
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Result<Applied, LedgerError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM temp.receipt_apply", [])?;
        let applied = Self::decide_staged(&tx, index, decide)?;
        let ts = now();
        // Driven by the rows to change (rowid order), so a ten-line receipt touches
        // ten rows, not an index of every payment.
        tx.execute(
            "UPDATE payments SET (status, reason_code, reason_text) = \
             (SELECT a.status, a.reason_code, a.reason_text FROM temp.receipt_apply a WHERE a.pid = payments.rowid), \
             updated_at = ?1 WHERE rowid IN (SELECT pid FROM temp.receipt_apply)",
            params![ts],
        )?;
        tx.execute(
            "INSERT INTO receipts (sha256, file_name, kind, applied, flagged, applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![receipt.sha256, receipt.file_name, receipt.kind, applied.updated as i64, applied.flagged as i64, ts],
        )?;
        tx.execute("DELETE FROM temp.receipt_apply", [])?;
        tx.commit()?;
        Ok(applied)
    }

    fn reported_deceased(&self) -> Result<HashMap<String, String>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id_number, MAX(p.end_to_end_id) FROM payments p WHERE p.reason_code = 'MD07' \
             AND NOT EXISTS (SELECT 1 FROM payments c WHERE c.status = 'settled' \
                 AND c.original_id = COALESCE(p.original_id, p.end_to_end_id)) GROUP BY p.id_number",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn periods(&self) -> Result<Vec<Period>, LedgerError> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT period FROM payments ORDER BY period")?;
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

    /// failures.csv's query is answered from the partial index, not by reading the period.
    #[test]
    fn failure_lines_use_their_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {LINE_COLUMNS} FROM payments WHERE period = ?1 AND \
             (status IN ('failed', 'returned') OR original_id IS NOT NULL OR reason_code <> '')"
        );
        let mut stmt = l.conn.prepare(&sql).unwrap();
        let plan: Vec<String> =
            stmt.query_map(["2026-11"], |r| r.get::<_, String>(3)).unwrap().map(|r| r.unwrap()).collect();
        assert!(plan.iter().any(|d| d.contains("payments_needing_a_person")), "{plan:?}");
    }

    /// A ledger written by schema version 1 is brought to version 2 when opened, its lines kept.
    #[test]
    fn a_version_1_ledger_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let l = SqliteLedger::open(&path).unwrap();
        let v: i64 = l.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 2);
        let n: i64 = l
            .conn
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'payments_needing_a_person'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
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
            bank: String::new(),
            amount: Fen(100),
            bank_file: "f1".into(),
            status: PaymentStatus::Sent,
            reason_code: String::new(),
            reason_text: String::new(),
            original_id: original.map(str::to_string),
            retry,
        }
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
        again[ROWS_PER_INSERT + 3].id_number = id(1, 7);
        let err = l.commit_run(&run("R002"), &[file("f2")], &again).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }), "{err:?}");
        assert_eq!(l.paid_people(Program::Dibao, p).unwrap().len(), n);
    }

    #[test]
    fn the_database_refuses_a_second_payment() {
        const A: &str = "110105194912310021";
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &[line("E1", A, None, 0)]).unwrap();
        let err = l.commit_run(&run("R002"), &[file("f2")], &[line("E2", A, None, 0)]).unwrap_err();
        assert!(matches!(err, LedgerError::AlreadyPaid { .. }));
        // Nothing of the refused run stays.
        assert_eq!(l.files_of_period("2026-11".parse().unwrap()).unwrap().len(), 1);
        assert_eq!(l.next_batch_number("2026-11".parse().unwrap(), BatchKind::Run).unwrap(), 2);
        // A linked correction is allowed once per retry.
        l.commit_run(&run("C001"), &[file("f3")], &[line("E3", A, Some("E1"), 1)]).unwrap();
        assert!(l.commit_run(&run("C002"), &[file("f4")], &[line("E4", A, Some("E1"), 1)]).is_err());
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

    fn record(sha: &str) -> ReceiptRecord {
        ReceiptRecord { sha256: sha.into(), file_name: "r.xml".into(), kind: "k".into() }
    }

    /// Applies every line whose status differs (the pending one counting), flags unknowns.
    fn plain(l: &StagedLine<'_>) -> Verdict {
        match l.payment {
            None => Verdict::Flagged,
            Some(p) if l.pending.unwrap_or(p.status) == l.status => Verdict::Unchanged,
            Some(_) => Verdict::Apply,
        }
    }

    /// A large staged receipt applies in one go; staging it again and deciding it
    /// against the ledger changes nothing; an unfinished stage leaves nothing staged.
    #[test]
    fn a_large_staged_receipt_applies_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        let n = 20_000;
        let lines: Vec<LedgerLine> = (0..n).map(|i| line(&format!("E{i:06}"), &format!("P{i}"), None, 0)).collect();
        l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
        let status = |i: usize| if i % 10 == 5 { PaymentStatus::Failed } else { PaymentStatus::Settled };
        let stage_all = |l: &SqliteLedger| {
            let mut st = l.stage_receipts().unwrap();
            for i in 0..n {
                st.push(0, &receipt_line(&format!("E{i:06}"), status(i))).unwrap();
            }
            st.push(0, &receipt_line("NOPE", PaymentStatus::Settled)).unwrap();
            st.finish().unwrap();
        };
        stage_all(&l);
        let a = l.apply_staged_receipt(0, &record("a"), &mut plain).unwrap();
        assert_eq!(a, Applied { lines: n as u64 + 1, updated: n as u64, flagged: 1 });
        assert!(l.receipt_seen("a").unwrap());
        let p = l.payment("E000005").unwrap().unwrap();
        assert_eq!((p.status, p.reason_code.as_str()), (PaymentStatus::Failed, "AC04"));
        assert_eq!(l.payment("E000006").unwrap().unwrap().status, PaymentStatus::Settled);
        stage_all(&l);
        let b = l.apply_staged_receipt(0, &record("b"), &mut plain).unwrap();
        assert_eq!(b, Applied { lines: n as u64 + 1, updated: 0, flagged: 1 });
        // Dropped unfinished: nothing stays staged for the next apply.
        {
            let mut st = l.stage_receipts().unwrap();
            st.push(0, &receipt_line("E000001", PaymentStatus::Returned)).unwrap();
        }
        let c = l.apply_staged_receipt(0, &record("c"), &mut plain).unwrap();
        assert_eq!(c, Applied::default());
        assert_eq!(l.payment("E000001").unwrap().unwrap().status, PaymentStatus::Settled);
    }

    /// Two lines about one payment in one receipt: the later one is decided against
    /// the earlier one's status and replaces it.
    #[test]
    fn a_later_line_replaces_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        l.commit_run(&run("R001"), &[file("f1")], &[line("E1", "A", None, 0)]).unwrap();
        let mut st = l.stage_receipts().unwrap();
        st.push(0, &receipt_line("E1", PaymentStatus::Pending)).unwrap();
        st.push(0, &receipt_line("E1", PaymentStatus::Pending)).unwrap();
        st.push(0, &receipt_line("E1", PaymentStatus::Failed)).unwrap();
        st.finish().unwrap();
        let mut seen = Vec::new();
        let a = l
            .apply_staged_receipt(0, &record("a"), &mut |x| {
                seen.push(x.pending);
                plain(x)
            })
            .unwrap();
        assert_eq!(seen, [None, Some(PaymentStatus::Pending), Some(PaymentStatus::Pending)]);
        assert_eq!(a, Applied { lines: 3, updated: 1, flagged: 0 });
        assert_eq!(l.payment("E1").unwrap().unwrap().status, PaymentStatus::Failed);
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.db");
        let _a = super::super::Lock::acquire(&p).unwrap();
        assert!(matches!(super::super::Lock::acquire(&p), Err(LedgerError::Locked(_))));
    }
}
