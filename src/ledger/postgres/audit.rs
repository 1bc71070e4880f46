//! The audit trail of one office (schema_v3.sql) and the queries only audits
//! need: commits counted, and the lines the bank has not answered. The same
//! answers as the SQLite ledger's `audit.rs`.

use ::postgres::Client;

use super::queries::{select_lines, PERIOD_LINES_FROM};
use super::query_lines;
use crate::audit::AuditEvent;
use crate::domain::{Fen, Period};
use crate::ledger::{Bucket, LedgerError, LedgerLine};

/// Lines of office `$1` and period `$2` still without a final status whose run
/// was made at or before `$3` (RFC 3339, China time).
const UNANSWERED_WHERE: &str = "WHERE r.office = $1 AND r.period = $2 AND r.created_at <= $3 \
     AND COALESCE(s.status, 'sent') IN ('sent', 'pending')";

pub(super) fn record_audit(client: &mut Client, office: &str, e: &AuditEvent) -> Result<(), LedgerError> {
    let json = serde_json::to_string(e).map_err(|x| LedgerError::Corrupt(x.to_string()))?;
    let state = serde_json::to_value(e.state).map_err(|x| LedgerError::Corrupt(x.to_string()))?;
    client.execute(
        "INSERT INTO audit_events (office, id, started_at, state, event) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (office, id) DO UPDATE SET state = excluded.state, event = excluded.event",
        &[&office, &e.id, &e.started_at, &state.as_str().unwrap_or(""), &json],
    )?;
    Ok(())
}

pub(super) fn audit_events(client: &mut Client, office: &str) -> Result<Vec<AuditEvent>, LedgerError> {
    let rows = client.query("SELECT event FROM audit_events WHERE office = $1 ORDER BY started_at, id", &[&office])?;
    rows.iter()
        .map(|r| {
            let text: &str = r.try_get(0)?;
            serde_json::from_str(text).map_err(|e| LedgerError::Corrupt(format!("audit event: {e}")))
        })
        .collect()
}

pub(super) fn commit_count(client: &mut Client, office: &str) -> Result<u64, LedgerError> {
    let row = client.query_one(
        "SELECT (SELECT COUNT(*) FROM runs WHERE office = $1) + (SELECT COUNT(*) FROM receipts WHERE office = $1)",
        &[&office],
    )?;
    let n: i64 = row.try_get(0)?;
    Ok(n as u64)
}

pub(super) fn unanswered(
    client: &mut Client,
    office: &str,
    period: Period,
    made_by: &str,
) -> Result<Vec<LedgerLine>, LedgerError> {
    let sql = format!("{} {UNANSWERED_WHERE}", select_lines(PERIOD_LINES_FROM));
    query_lines(client, &sql, &[&office, &period.to_string(), &made_by])
}

pub(super) fn unanswered_count(
    client: &mut Client,
    office: &str,
    period: Period,
    made_by: &str,
) -> Result<Bucket, LedgerError> {
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) FROM {PERIOD_LINES_FROM} {UNANSWERED_WHERE}"
    );
    let row = client.query_one(&sql, &[&office, &period.to_string(), &made_by])?;
    let (lines, fen): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok(Bucket { lines: lines as u64, amount: Fen(fen) })
}
