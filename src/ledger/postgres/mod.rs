//! The shared ledger on PostgreSQL (or openGauss / KingbaseES, which derive from
//! it): many offices in one database, each row with its office's code. Schema
//! steps are SQL files applied in order by the program itself, under an advisory
//! lock so that offices starting together migrate once; each office's commands
//! hold an advisory lock of their own ([`OfficeLock`]), so offices never wait
//! for one another and the same office twice is refused (exit 3).

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use ::postgres::{Client, NoTls, Row};

use super::target::{mask_url, server_office_key};
use super::{
    BatchKind, Bucket, FileRecord, Ledger, LedgerError, LedgerLine, NewRun, OfficesStatus, PaidByPerson, PeopleNamed,
    ProgramStatus, ReceiptBatch, RunRecord, RunWriter,
};
use crate::domain::{Fen, Period, Program, Text};

mod audit;
mod pgpass;
mod queries;
mod receipts;
#[cfg(test)]
mod tests;
mod writer;

use queries::*;

const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
];

/// The advisory-lock key taken around migrations ("disb" and "schm").
const MIGRATION_KEY: i64 = 0x6469_7362_7363_686d;

/// A ledger in a shared PostgreSQL database, seen by one office.
pub struct PgLedger {
    /// In a cell: `postgres::Client` needs `&mut` for every statement, while the
    /// trait's reads take `&self`. The ledger is `Send`, not `Sync`: one thread
    /// at a time, so a borrow never finds another one open.
    client: RefCell<Client>,
    office: String,
}

impl PgLedger {
    /// Connects to `url` as office `office`, creating or migrating the schema.
    pub fn open(url: &str, office: &str) -> Result<PgLedger, LedgerError> {
        let mut client = connect(url)?;
        migrate(&mut client, url)?;
        Ok(PgLedger { client: RefCell::new(client), office: office.to_string() })
    }

    fn db(&self) -> RefMut<'_, Client> {
        self.client.borrow_mut()
    }

    /// The office this ledger writes as.
    pub fn office(&self) -> &str {
        &self.office
    }
}

/// Connects with the password from DISBURSE_LEDGER_PASSWORD or ~/.pgpass.
pub(super) fn connect(url: &str) -> Result<Client, LedgerError> {
    let target = mask_url(url);
    let fail = |message: String| LedgerError::Server { target: target.clone(), message };
    let mut config: ::postgres::Config = url.parse().map_err(|e: ::postgres::Error| fail(e.to_string()))?;
    if config.get_password().is_some() {
        return Err(fail("the URL carries a password; give it in DISBURSE_LEDGER_PASSWORD or ~/.pgpass".into()));
    }
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "postgres".into());
        config.user(&user);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(15));
    }
    config.application_name("disburse");
    let (host, socket) = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => (h.clone(), false),
        #[cfg(unix)]
        Some(::postgres::config::Host::Unix(p)) => (p.display().to_string(), true),
        None => ("localhost".to_string(), true),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default().to_string();
    let database = config.get_dbname().unwrap_or(&user).to_string();
    let t = pgpass::Target { host: &host, socket, port, database: &database, user: &user };
    if let Some(p) = pgpass::password(&t) {
        config.password(p);
    }
    config.connect(NoTls).map_err(|e| fail(error_text(&e)))
}

/// A server error as a clerk may read it: message and SQLSTATE, never the
/// DETAIL line (a unique violation's DETAIL repeats the full ID number).
pub(super) fn error_text(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let c = cause.to_string();
                if !s.contains(&c) {
                    s = format!("{s}: {c}");
                }
                source = cause.source();
            }
            s
        }
    }
}

impl From<::postgres::Error> for LedgerError {
    fn from(e: ::postgres::Error) -> LedgerError {
        LedgerError::Pg(error_text(&e))
    }
}

/// Brings the schema to the newest version, once, however many offices start
/// together: under a session advisory lock, read the version, apply the missing
/// steps and record the new version in one transaction.
fn migrate(client: &mut Client, url: &str) -> Result<(), LedgerError> {
    client.query_one("SELECT pg_advisory_lock($1)", &[&MIGRATION_KEY])?;
    let result = migrate_locked(client, url);
    let unlocked = client.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_KEY]);
    result?;
    unlocked?;
    Ok(())
}

fn migrate_locked(client: &mut Client, url: &str) -> Result<(), LedgerError> {
    let known = MIGRATIONS.len() as i64;
    client.batch_execute("CREATE TABLE IF NOT EXISTS disburse_schema (version INTEGER NOT NULL)")?;
    let version: Option<i32> = client.query_one("SELECT MAX(version) FROM disburse_schema", &[])?.get(0);
    let version = i64::from(version.unwrap_or(0));
    if version > known {
        return Err(LedgerError::TooNew { path: PathBuf::from(mask_url(url)), found: version, known });
    }
    if version == known {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    for sql in MIGRATIONS.iter().skip(version as usize) {
        tx.batch_execute(sql)?;
    }
    tx.execute("DELETE FROM disburse_schema", &[])?;
    tx.execute("INSERT INTO disburse_schema (version) VALUES ($1)", &[&(known as i32)])?;
    tx.commit()?;
    tracing::info!(event = "ledger_migrated", from = version, to = known, "shared ledger schema migrated");
    Ok(())
}

/// An office's advisory lock on the shared ledger, held by a connection of its
/// own for as long as a writing command runs. The server drops it with the
/// connection, so a killed run never leaves it behind.
pub struct OfficeLock {
    client: Client,
    key: i64,
}

impl std::fmt::Debug for OfficeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OfficeLock")
    }
}

impl OfficeLock {
    pub(crate) fn acquire(config: &crate::config::Config) -> Result<OfficeLock, LedgerError> {
        let crate::config::LedgerTarget::Server { url } = &config.ledger else {
            return Err(LedgerError::Corrupt("an office lock needs a shared ledger".into()));
        };
        let office = super::target::office_code(config)?;
        let mut client = connect(url)?;
        let key = server_office_key(office);
        let me = holder_name(std::process::id());
        client.execute(&format!("SET application_name = '{me}'"), &[])?;
        let deadline = std::time::Instant::now() + DEAD_HOLDER_WAIT;
        loop {
            let got: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.get(0);
            if got {
                return Ok(OfficeLock { client, key });
            }
            // Another command holds it. If that command is a process of this
            // machine that no longer exists (killed), the server has not yet
            // noticed its connection gone and drops the lock in a moment: wait
            // for that, briefly. A live holder is answered "locked" at once.
            if std::time::Instant::now() >= deadline || !holder_is_dead_here(&mut client, key)? {
                return Err(LedgerError::OfficeLocked(office.to_string()));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// How long a command waits for the server to drop a killed command's lock.
const DEAD_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The name a lock's connection gives itself: this machine and process.
fn holder_name(pid: u32) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c)).collect();
    format!("disburse lock {host} {pid}")
}

/// Whether the connection holding advisory lock `key` named itself as a
/// process of this machine that is gone.
fn holder_is_dead_here(client: &mut Client, key: i64) -> Result<bool, LedgerError> {
    let k = key as u64;
    let (hi, lo) = ((k >> 32) as i64, (k & 0xffff_ffff) as i64);
    let rows = client.query(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid \
         AND l.objid = $2::bigint::oid AND l.objsubid = 1",
        &[&hi, &lo],
    )?;
    let Some(row) = rows.first() else { return Ok(true) };
    let name: String = row.try_get(0)?;
    let Some(pid) = name.rsplit(' ').next().and_then(|p| p.parse::<u32>().ok()) else { return Ok(false) };
    if name != holder_name(pid) {
        return Ok(false);
    }
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let gone = unsafe { libc::kill(pid as libc::pid_t, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    Ok(gone)
}

impl Drop for OfficeLock {
    /// Released at once when the command ends normally, not when the server
    /// notices the connection gone a moment after the process exits (a command
    /// started right after would have been told "locked"); a killed command's
    /// lock still goes with its connection.
    fn drop(&mut self) {
        let _ = self.client.execute("SELECT pg_advisory_unlock($1)", &[&self.key]);
    }
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, LedgerError> {
    s.parse().map_err(LedgerError::Corrupt)
}

fn status_rows(rows: &[Row], by_office: bool) -> Result<OfficesStatus, LedgerError> {
    let mut out: OfficesStatus = BTreeMap::new();
    for r in rows {
        let office: String = if by_office { r.try_get(5)? } else { String::new() };
        let program: Program = parse(r.try_get(0)?)?;
        let status = receipts::parse_status(r.try_get(1)?)?;
        let corrections: bool = r.try_get(2)?;
        let lines: i64 = r.try_get(3)?;
        let amount: i64 = r.try_get(4)?;
        let b = Bucket { lines: lines as u64, amount: Fen(amount) };
        out.entry(office).or_default().entry(program).or_default().add_lines(status, corrections, b);
    }
    Ok(out)
}

impl Ledger for PgLedger {
    fn staged_runs(&self) -> Result<Vec<RunRecord>, LedgerError> {
        let rows = self.db().query(
            "SELECT id, period, batch, staging_dir FROM runs WHERE office = $1 AND state = 'staged' ORDER BY id",
            &[&self.office],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let dir: String = r.try_get(3)?;
            out.push(RunRecord {
                id: r.try_get(0)?,
                period: parse(r.try_get(1)?)?,
                batch: r.try_get(2)?,
                staging_dir: dir.into(),
                published: false,
            });
        }
        Ok(out)
    }

    fn mark_published(&mut self, run_id: i64) -> Result<(), LedgerError> {
        self.client
            .get_mut()
            .execute("UPDATE runs SET state = 'published' WHERE id = $1 AND office = $2", &[&run_id, &self.office])?;
        Ok(())
    }

    fn next_batch_number(&self, period: Period, kind: BatchKind) -> Result<u32, LedgerError> {
        let n: i64 = self
            .db()
            .query_one(
                "SELECT COUNT(*) FROM runs WHERE office = $1 AND period = $2 AND kind = $3",
                &[&self.office.as_str(), &period.to_string().as_str(), &kind.code()],
            )?
            .try_get(0)?;
        Ok(n as u32 + 1)
    }

    fn paid_people(&self, program: Program, period: Period) -> Result<HashSet<u64>, LedgerError> {
        let rows = self.db().query(PAID_PEOPLE_SQL, &[&self.office, &period.to_string(), &program.code()])?;
        let mut out = HashSet::with_capacity(rows.len());
        for r in &rows {
            out.insert(id_key_of(r.try_get(0)?)?);
        }
        Ok(out)
    }

    fn paid_elsewhere(&self, program: Program, period: Period) -> Result<HashMap<u64, String>, LedgerError> {
        let rows = self.db().query(PAID_ELSEWHERE_SQL, &[&self.office, &period.to_string(), &program.code()])?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            out.insert(id_key_of(r.try_get(0)?)?, r.try_get::<_, String>(1)?);
        }
        Ok(out)
    }

    fn last_paid_before(
        &self,
        program: Program,
        period: Period,
    ) -> Result<Option<(Period, PaidByPerson)>, LedgerError> {
        let mut client = self.db();
        let last: Option<String> =
            client.query_one(LAST_PERIOD_SQL, &[&self.office, &program.code(), &period.to_string()])?.try_get(0)?;
        let Some(last) = last else { return Ok(None) };
        let rows = client.query(PAID_IN_PERIOD_SQL, &[&self.office, &program.code(), &last])?;
        let mut map = PaidByPerson::with_capacity_and_hasher(rows.len(), Default::default());
        for r in rows {
            // An ID number not of the national form has no key (`PaidByPerson`).
            if let Some(k) = crate::domain::id_key(r.try_get(0)?) {
                *map.entry(k).or_insert(Fen(0)) += Fen(r.try_get(1)?);
            }
        }
        Ok(Some((parse(&last)?, map)))
    }

    /// The payments hold ID numbers as text: the keys are turned back into
    /// them (`x` too, which a key does not tell from `X`).
    fn people_named(
        &self,
        program: Program,
        period: Period,
        people: &[u64],
    ) -> Result<Vec<(u64, String, String)>, LedgerError> {
        if people.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = Vec::with_capacity(people.len());
        for id in people.iter().filter_map(|k| crate::domain::id_number_of_key(*k)) {
            if id.ends_with('X') {
                ids.push(id.replace('X', "x"));
            }
            ids.push(id);
        }
        let rows = self.db().query(NAMED_PEOPLE_SQL, &[&self.office, &program.code(), &period.to_string(), &ids])?;
        let mut named = PeopleNamed::default();
        for r in rows {
            let (id, name): (&str, &str) = (r.try_get(0)?, r.try_get(1)?);
            if let Some(k) = crate::domain::id_key(id) {
                named.add(k, id, name);
            }
        }
        Ok(named.into_list())
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<Box<dyn RunWriter + '_>, LedgerError> {
        Ok(Box::new(writer::PgRun::begin(self.client.get_mut(), &self.office, run)?))
    }

    fn last_manifest_sha(&self) -> Result<Option<String>, LedgerError> {
        let row = self.db().query_opt(
            "SELECT manifest_sha256 FROM runs WHERE office = $1 ORDER BY id DESC LIMIT 1",
            &[&self.office],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn files_of_period(&self, period: Period) -> Result<Vec<FileRecord>, LedgerError> {
        let rows = self.db().query(
            "SELECT name, program, format, lines, total_fen, sha256 FROM bank_files \
             WHERE office = $1 AND period = $2 ORDER BY name",
            &[&self.office, &period.to_string()],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let lines: i64 = r.try_get(3)?;
            let total: i64 = r.try_get(4)?;
            out.push(FileRecord {
                name: r.try_get(0)?,
                program: parse(r.try_get(1)?)?,
                format: r.try_get(2)?,
                lines: lines as u64,
                total: Fen(total),
                sha256: r.try_get(5)?,
            });
        }
        Ok(out)
    }

    fn payment(&self, end_to_end_id: &str) -> Result<Option<LedgerLine>, LedgerError> {
        let sql = format!("{} WHERE p.office = $1 AND p.end_to_end_id = $2", select_lines(LINES_FROM));
        Ok(query_lines(&mut self.db(), &sql, &[&self.office, &end_to_end_id])?.pop())
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        query_lines(&mut self.db(), &payments_in_file_sql(), &[&self.office, &bank_file])
    }

    fn payments_of_period(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = format!("{} WHERE r.office = $1 AND r.period = $2", select_lines(PERIOD_LINES_FROM));
        query_lines(&mut self.db(), &sql, &[&self.office, &period.to_string()])
    }

    fn period_status(&self, period: Period) -> Result<BTreeMap<Program, ProgramStatus>, LedgerError> {
        let rows = self.db().query(&period_status_sql(false), &[&period.to_string(), &self.office])?;
        Ok(status_rows(&rows, false)?.remove("").unwrap_or_default())
    }

    fn failure_lines(&self, period: Period) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = format!(
            "{} WHERE r.office = $1 AND r.period = $2 AND (s.status IN ('failed', 'returned') \
             OR s.reason_code <> '' OR p.original_id IS NOT NULL)",
            select_lines(PERIOD_LINES_FROM)
        );
        query_lines(&mut self.db(), &sql, &[&self.office, &period.to_string()])
    }

    fn corrections_of(&self, original_id: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        let sql = format!("{} WHERE p.office = $1 AND p.original_id = $2", select_lines(LINES_FROM));
        query_lines(&mut self.db(), &sql, &[&self.office, &original_id])
    }

    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError> {
        receipts::receipt_seen(&mut self.db(), &self.office, sha256)
    }

    fn begin_receipts(&mut self) -> Result<Box<dyn ReceiptBatch + '_>, LedgerError> {
        Ok(Box::new(receipts::PgReceipts::begin(self.client.get_mut(), &self.office)?))
    }

    fn receipt_periods(&self, sha256: &str) -> Result<Vec<Period>, LedgerError> {
        let rows = self.db().query(
            "SELECT DISTINCT s.period FROM receipts r JOIN payment_status s ON s.receipt_id = r.id \
             WHERE r.office = $1 AND r.sha256 = $2 ORDER BY 1",
            &[&self.office, &sha256],
        )?;
        rows.iter().map(|r| parse(r.try_get(0)?)).collect()
    }

    fn verified_by(&self, end_to_end_id: &str) -> Result<Option<String>, LedgerError> {
        let row = self.db().query_opt(
            "SELECT v.verified_by FROM payments p JOIN verifications v \
             ON v.original_id = p.original_id AND v.retry = p.retry WHERE p.office = $1 AND p.end_to_end_id = $2",
            &[&self.office, &end_to_end_id],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn reported_deceased(&self) -> Result<HashMap<String, String>, LedgerError> {
        let rows = self.db().query(DECEASED_SQL, &[&self.office])?;
        let mut out = HashMap::new();
        for r in rows {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    fn periods(&self) -> Result<Vec<Period>, LedgerError> {
        let rows = self.db().query(
            "SELECT DISTINCT r.period FROM runs r WHERE r.office = $1 \
             AND EXISTS (SELECT 1 FROM payments p WHERE p.run_id = r.id) ORDER BY r.period",
            &[&self.office],
        )?;
        rows.iter().map(|r| parse(r.try_get(0)?)).collect()
    }

    fn all_offices_status(&self, period: Period) -> Result<Option<OfficesStatus>, LedgerError> {
        let rows = self.db().query(&period_status_sql(true), &[&period.to_string()])?;
        Ok(Some(status_rows(&rows, true)?))
    }

    fn all_periods(&self) -> Result<Vec<Period>, LedgerError> {
        let rows = self.db().query(
            "SELECT DISTINCT r.period FROM runs r WHERE EXISTS (SELECT 1 FROM payments p WHERE p.run_id = r.id) \
             ORDER BY r.period",
            &[],
        )?;
        rows.iter().map(|r| parse(r.try_get(0)?)).collect()
    }

    fn manifest_shas(&self) -> Result<HashSet<String>, LedgerError> {
        let rows = self.db().query("SELECT manifest_sha256 FROM runs WHERE office = $1", &[&self.office])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn holds_data(&self) -> Result<bool, LedgerError> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE office = $1) OR EXISTS (SELECT 1 FROM receipts WHERE office = $1)",
            &[&self.office],
        )?;
        Ok(row.try_get(0)?)
    }

    fn record_audit(&mut self, event: &crate::audit::AuditEvent) -> Result<(), LedgerError> {
        audit::record_audit(&mut self.db(), &self.office, event)
    }

    fn audit_events(&self) -> Result<Vec<crate::audit::AuditEvent>, LedgerError> {
        audit::audit_events(&mut self.db(), &self.office)
    }

    fn commit_count(&self) -> Result<u64, LedgerError> {
        audit::commit_count(&mut self.db(), &self.office)
    }

    fn unanswered(&self, period: Period, made_by: &str) -> Result<Vec<LedgerLine>, LedgerError> {
        audit::unanswered(&mut self.db(), &self.office, period, made_by)
    }

    fn unanswered_count(&self, period: Period, made_by: &str) -> Result<Bucket, LedgerError> {
        audit::unanswered_count(&mut self.db(), &self.office, period, made_by)
    }

    fn run_key_fingerprint(&self, manifest_sha256: &str) -> Result<Option<String>, LedgerError> {
        let row = self.db().query_opt(
            "SELECT key_fingerprint FROM runs WHERE office = $1 AND manifest_sha256 = $2 ORDER BY id DESC LIMIT 1",
            &[&self.office, &manifest_sha256],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

/// An 18-character ID number as its integer key.
fn id_key_of(id: &str) -> Result<u64, LedgerError> {
    crate::domain::id_key(id)
        .ok_or_else(|| LedgerError::Corrupt(format!("ID number '{}' is not 18 characters", crate::domain::mask_id(id))))
}

/// A row's text column as a [`Text`].
fn text(r: &Row, i: usize) -> Result<Text, LedgerError> {
    Ok(Text::new(r.try_get::<_, &str>(i)?))
}

/// A line as [`LINE_COLUMNS`] selects it.
fn read_line(r: &Row) -> Result<LedgerLine, LedgerError> {
    let amount: i64 = r.try_get(10)?;
    let retry: i32 = r.try_get(16)?;
    Ok(LedgerLine {
        end_to_end_id: text(r, 0)?,
        program: parse(r.try_get(1)?)?,
        period: parse(r.try_get(2)?)?,
        id_number: text(r, 3)?,
        name: text(r, 4)?,
        township: text(r, 5)?,
        village: text(r, 6)?,
        payee_name: text(r, 7)?,
        account: text(r, 8)?,
        bank: text(r, 9)?,
        amount: Fen(amount),
        bank_file: text(r, 11)?,
        status: receipts::parse_status(r.try_get(12)?)?,
        reason_code: r.try_get(13)?,
        reason_text: r.try_get(14)?,
        original_id: r.try_get(15)?,
        retry: retry as u32,
        kind: crate::domain::LineKind::from_columns(r.try_get(17)?, r.try_get(18)?)
            .ok_or_else(|| LedgerError::Corrupt("a payment's line type or covered month is not one".into()))?,
        source: None,
    })
}

fn query_lines(
    client: &mut Client,
    sql: &str,
    args: &[&(dyn ::postgres::types::ToSql + Sync)],
) -> Result<Vec<LedgerLine>, LedgerError> {
    let rows = client.query(&format!("{sql} ORDER BY 1"), args)?;
    rows.iter().map(read_line).collect()
}
