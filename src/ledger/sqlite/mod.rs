//! The SQLite ledger (embedded, the default). Schema migrations are SQL files
//! applied in order, tracked by `PRAGMA user_version`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::borrowed::{Borrowed, Value};
use super::{
    Applied, BatchKind, Bucket, FileRecord, Ledger, LedgerError, LedgerLine, NewRun, PaidByPerson, PaymentState,
    PeopleNamed, ProgramStatus, ReceiptBatch, RunRecord, RunWriter, StagedLine, StatusSet, Verdict,
};
use crate::domain::{Approval, Fen, PaymentStatus, Period, Program, ReceiptLine, Text};

const MIGRATIONS: &[&str] = &[
    include_str!("../schema_v1.sql"),
    include_str!("../schema_v2.sql"),
    include_str!("../schema_v3.sql"),
    include_str!("../schema_v4.sql"),
    include_str!("../schema_v5.sql"),
    include_str!("../schema_v6.sql"),
    include_str!("../schema_v7.sql"),
    include_str!("../schema_v8.sql"),
    include_str!("../schema_v9.sql"),
    include_str!("../schema_v10.sql"),
    V11,
];
const V11: &str = include_str!("../schema_v11.sql");

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

mod audit;
mod compact;
mod files;
mod queries;
mod receipts;
#[cfg(test)]
mod tests;
mod writer;

use compact::*;
use queries::*;
use receipts::*;
use writer::*;

/// A ledger in one SQLite file.
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
}

impl SqliteLedger {
    /// Opens (creating on first use) and migrates the ledger at `path`.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::create_private_dir(dir).map_err(|source| LedgerError::Io { path: path.into(), source })?;
        }
        let open_err = |source| LedgerError::Open { path: path.to_path_buf(), source };
        create_private_file(path).map_err(|source| LedgerError::Io { path: path.into(), source })?;
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
        // Schema v11 rebuilds the payments into rows of integers: none may be lost.
        let compacted = MIGRATIONS.iter().position(|m| *m == V11).unwrap_or(0) as i64;
        let before: Option<i64> = if version <= compacted && version > 0 {
            Some(tx.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0))?)
        } else {
            None
        };
        for sql in MIGRATIONS.iter().skip(version as usize) {
            tx.execute_batch(sql)?;
        }
        if let Some(before) = before {
            let after: i64 = tx.query_row("SELECT COUNT(*) FROM payment_rows", [], |r| r.get(0))?;
            if after != before {
                return Err(LedgerError::Corrupt(format!(
                    "{} of {before} payments could not be carried into the compact layout (a payment's bank file \
                     or program is missing); the ledger was left at schema version {version}",
                    before - after
                )));
            }
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

impl SqliteLedger {
    /// Each program by its `program_codes` id.
    fn program_ids(&self) -> Result<HashMap<i64, Program>, LedgerError> {
        let mut codes = HashMap::new();
        let mut stmt = self.conn.prepare_cached("SELECT id, code FROM program_codes")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            codes.insert(r.get(0)?, text_at(r, 1)?.parse().map_err(LedgerError::Corrupt)?);
        }
        Ok(codes)
    }

    /// Per person, what `program` paid from period `from` to `to` (YYYY-MM) by
    /// lines that stand. The failed and returned lines are read first (a few,
    /// by their partial index) and skipped: a status probe a line was most of
    /// the read, which R06 makes every month and the annual cap over the year.
    fn paid_between(&self, program: Program, from: &str, to: &str) -> Result<PaidByPerson, LedgerError> {
        let mut unpaid = self.conn.prepare_cached(UNPAID_IN_PERIODS_SQL)?;
        let unpaid: HashSet<i64> = unpaid.query_map(params![from, to], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare_cached(PAID_IN_PERIODS_SQL)?;
        let mut rows = stmt.query(params![program.code(), from, to])?;
        let mut map = PaidByPerson::default();
        while let Some(r) = rows.next()? {
            if unpaid.contains(&r.get::<_, i64>(0)?) {
                continue;
            }
            // A negative person is an ID number not of the national form: no key.
            if let Ok(k) = u64::try_from(r.get::<_, i64>(1)?) {
                *map.entry(k).or_insert(Fen(0)) += Fen(r.get(2)?);
            }
        }
        Ok(map)
    }

    /// The people `sql` selects for (`?1` program, `?2` period), as ID number keys.
    fn people(&self, sql: &str, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![program.code(), period.to_string()])?;
        let mut out = HashSet::new();
        while let Some(r) = rows.next()? {
            out.insert(key_of_person(r.get(0)?)?);
        }
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
        self.people(PAID_PEOPLE_SQL, program, period)
    }

    fn live_people(&self, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError> {
        self.people(LIVE_PEOPLE_SQL, program, period)
    }

    fn paid_other_lines(&self, program: Program, period: Period) -> Result<HashSet<(u64, u32)>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(PAID_OTHER_LINES_SQL)?;
        let mut rows = stmt.query(params![program.code(), period.to_string()])?;
        let mut out = HashSet::new();
        while let Some(r) = rows.next()? {
            let (id, line_type, covers) = (text_at(r, 0)?, text_at(r, 1)?, text_at(r, 2)?);
            let kind = crate::domain::LineKind::from_columns(line_type, covers)
                .ok_or_else(|| LedgerError::Corrupt(format!("line type '{line_type}' / covers '{covers}'")))?;
            if let Some(k) = crate::domain::id_key(id) {
                out.insert((k, kind.key()));
            }
        }
        Ok(out)
    }

    fn approvals_of_period(&self, period: Period) -> Result<Vec<(String, Approval)>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.batch, a.program, a.count, a.total, a.reference, a.approved_by, a.approved_on \
             FROM approvals a JOIN runs r ON r.id = a.run_id WHERE r.period = ?1 ORDER BY r.id, a.program",
        )?;
        let mut rows = stmt.query(params![period.to_string()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let approval = Approval {
                program: text_at(r, 1)?.parse().map_err(LedgerError::Corrupt)?,
                count: r.get::<_, i64>(2)? as u64,
                total: text_at(r, 3)?.parse().map_err(|_| LedgerError::Corrupt("approval total".into()))?,
                reference: text_at(r, 4)?.to_string(),
                approved_by: text_at(r, 5)?.to_string(),
                approved_on: text_at(r, 6)?.to_string(),
            };
            out.push((text_at(r, 0)?.to_string(), approval));
        }
        Ok(out)
    }

    /// Neither the period's lines nor `parties` is loaded: `parties` is read
    /// through once for the people paid into one of `accounts` (each row's
    /// account compared here, its other texts read only when it matches), then
    /// the period's payment rows, for the lines of those people's versions that
    /// stand. Before, the period's lines were read through the `payments` view,
    /// a `parties` probe each, and the accounts first went into a temporary
    /// table one insert at a time: ~3 s of a 100,000-line correction batch
    /// against a million-line period.
    fn for_each_standing_line(
        &self,
        period: Period,
        accounts: &HashSet<&str>,
        f: &mut dyn FnMut(Program, &str, &str, &str, &str),
    ) -> Result<(), LedgerError> {
        if accounts.is_empty() {
            return Ok(());
        }
        // The people paid into those accounts, then the period's standing lines of them.
        let mut people: HashMap<(i64, i64), [String; 4]> = HashMap::new();
        {
            let mut stmt = self.conn.prepare_cached(PARTIES_ACCOUNTS_SQL)?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let account = text_at(r, 0)?;
                if !accounts.contains(account) {
                    continue;
                }
                let texts = [text_at(r, 3)?, account, text_at(r, 4)?, text_at(r, 5)?].map(str::to_string);
                people.insert((r.get(1)?, r.get(2)?), texts);
            }
        }
        if people.is_empty() {
            return Ok(());
        }
        let codes = self.program_ids()?;
        let mut stmt = self.conn.prepare_cached(STANDING_ROWS_SQL)?;
        let mut rows = stmt.query(params![period.to_string()])?;
        while let Some(r) = rows.next()? {
            let Some([id, account, payee_name, village]) = people.get(&(r.get(1)?, r.get(2)?)) else { continue };
            let program_id: i64 = r.get(0)?;
            let program =
                *codes.get(&program_id).ok_or_else(|| LedgerError::Corrupt(format!("program id {program_id}")))?;
            f(program, id, account, payee_name, village);
        }
        Ok(())
    }

    fn last_paid_before(
        &self,
        program: Program,
        period: Period,
    ) -> Result<Option<(Period, PaidByPerson)>, LedgerError> {
        let last: Option<String> = self
            .conn
            .query_row(LAST_PERIOD_SQL, params![program.code(), period.to_string()], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(last) = last else { return Ok(None) };
        let map = self.paid_between(program, &last, &last)?;
        Ok(Some((last.parse().map_err(LedgerError::Corrupt)?, map)))
    }

    /// The year's lines in one read, not a read and a map per month.
    fn paid_in_year(&self, program: Program, period: Period) -> Result<PaidByPerson, LedgerError> {
        self.paid_between(program, &Period { month: 1, ..period }.to_string(), &period.to_string())
    }

    /// The people go into a temporary table the query walks: each one's
    /// originals are a probe of `one_payment_per_person`.
    fn people_named(
        &self,
        program: Program,
        period: Period,
        people: &[u64],
    ) -> Result<Vec<(u64, String, String)>, LedgerError> {
        if people.is_empty() {
            return Ok(Vec::new());
        }
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS named_people (person INTEGER PRIMARY KEY); \
             DELETE FROM temp.named_people;",
        )?;
        {
            let mut add = self.conn.prepare_cached("INSERT OR IGNORE INTO temp.named_people VALUES (?1)")?;
            for k in people.iter().filter_map(|k| i64::try_from(*k).ok()) {
                add.execute([k])?;
            }
        }
        let mut named = PeopleNamed::default();
        {
            let mut stmt = self.conn.prepare_cached(NAMED_PEOPLE_SQL)?;
            let mut rows = stmt.query(params![program.code(), period_n(period)])?;
            while let Some(r) = rows.next()? {
                named.add(key_of_person(r.get(0)?)?, text_at(r, 1)?, text_at(r, 2)?);
            }
        }
        self.conn.execute_batch("DELETE FROM temp.named_people")?;
        Ok(named.into_list())
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<Box<dyn RunWriter + '_>, LedgerError> {
        Ok(Box::new(SqliteRun::begin(&self.conn, run)?))
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
        let (a, b, c) = reference_params(end_to_end_id);
        Ok(self.lines(concat!("p.id = ", payment_id_of!(1, 2, 3)), &[&a, &b, &c])?.pop())
    }

    /// Two parts, each from its own partial index: status rows that need a person
    /// (`status_needing_a_person`), and corrections (`corrections_by_period`) that
    /// are not already among the first.
    fn failure_lines(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = failure_sql();
        self.query_lines(&sql, &[&period.to_string(), &period_n(period)])
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        self.query_lines(&payments_in_file_sql(), &[&bank_file])
    }

    fn payments_of_period(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        self.query_lines(&select_lines(period_lines_from!(1)), &[&period.to_string()])
    }

    /// One pass over the period's lines, added up by program, status and
    /// whether a correction: `disburse status` on a million-line period had read
    /// every line into memory (600 MB).
    fn period_status(&self, period: Period) -> Result<BTreeMap<Program, ProgramStatus>, LedgerError> {
        let codes = self.program_ids()?;
        let mut stmt = self.conn.prepare_cached(PERIOD_STATUS_SQL)?;
        let mut rows = stmt.query(params![period.to_string()])?;
        let mut sums: HashMap<(i64, PaymentStatus, bool), Bucket> = HashMap::new();
        while let Some(r) = rows.next()? {
            let status = match r.get_ref(1)? {
                rusqlite::types::ValueRef::Null => PaymentStatus::Sent,
                _ => parse_status(text_at(r, 1)?)?,
            };
            let b = sums.entry((r.get(0)?, status, r.get(2)?)).or_default();
            b.lines += 1;
            b.amount += Fen(r.get(3)?);
        }
        let mut out: BTreeMap<Program, ProgramStatus> = BTreeMap::new();
        for ((id, status, correction), b) in sums {
            let program = *codes.get(&id).ok_or_else(|| LedgerError::Corrupt(format!("program id {id}")))?;
            out.entry(program).or_default().add_lines(status, correction, b);
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

    fn receipt_periods(&self, sha256: &str) -> Result<Vec<Period>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT s.period FROM receipts r JOIN payment_status s ON s.receipt_id = r.id \
             WHERE r.sha256 = ?1 ORDER BY 1",
        )?;
        let rows = stmt.query_map(params![sha256], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for p in rows {
            out.push(p?.parse().map_err(LedgerError::Corrupt)?);
        }
        Ok(out)
    }

    fn verified_by(&self, end_to_end_id: &str) -> Result<Option<String>, LedgerError> {
        let (a, b, c) = reference_params(end_to_end_id);
        Ok(self
            .conn
            .query_row(
                concat!(
                    "SELECT v.verified_by FROM payment_rows p JOIN verifications v \
                     ON v.original_id = p.original_id AND v.retry = p.retry WHERE p.id = ",
                    payment_id_of!(1, 2, 3)
                ),
                params![a, b, c],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn reported_deceased(&self) -> Result<HashMap<String, String>, LedgerError> {
        let mut stmt = self.conn.prepare(DECEASED_SQL)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn manifest_shas(&self) -> Result<HashSet<String>, LedgerError> {
        let mut stmt = self.conn.prepare("SELECT manifest_sha256 FROM runs")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn holds_data(&self) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM receipts)", [], |r| r.get(0))?)
    }

    fn record_audit(&mut self, event: &crate::audit::AuditEvent) -> Result<(), LedgerError> {
        audit::record_audit(&self.conn, event)
    }

    fn audit_events(&self) -> Result<Vec<crate::audit::AuditEvent>, LedgerError> {
        audit::audit_events(&self.conn)
    }

    fn commit_count(&self) -> Result<u64, LedgerError> {
        audit::commit_count(&self.conn)
    }

    fn unanswered(&self, period: Period, made_by: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        audit::unanswered(&self.conn, period, made_by)
    }

    fn unanswered_count(&self, period: Period, made_by: &str) -> Result<Bucket, LedgerError> {
        audit::unanswered_count(&self.conn, period, made_by)
    }

    fn run_key_fingerprint(&self, manifest_sha256: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT key_fingerprint FROM runs WHERE manifest_sha256 = ?1 ORDER BY id DESC LIMIT 1",
                params![manifest_sha256],
                |r| r.get(0),
            )
            .optional()?)
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
