//! The audit trail's table (schema_v9.sql) and the queries only audits need:
//! commits counted, and the lines the bank has not answered.

use super::*;
use crate::audit::AuditEvent;

/// Lines of period `?1` still without a final status whose run was made at or
/// before `?2` (RFC 3339, China time): the condition on `r` is checked once per
/// run, so a period's fresh runs cost nothing.
fn unanswered_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM {} WHERE r.created_at <= ?2 AND COALESCE(s.status, 'sent') IN ('sent', 'pending')",
        period_lines_from!(1)
    )
}

pub(super) fn record_audit(conn: &Connection, e: &AuditEvent) -> Result<(), LedgerError> {
    let json = serde_json::to_string(e).map_err(|x| LedgerError::Corrupt(x.to_string()))?;
    let state = serde_json::to_value(e.state).map_err(|x| LedgerError::Corrupt(x.to_string()))?;
    conn.execute(
        "INSERT INTO audit_events (id, started_at, state, event) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, event = excluded.event",
        params![e.id, e.started_at, state.as_str().unwrap_or(""), json],
    )?;
    Ok(())
}

pub(super) fn audit_events(conn: &Connection) -> Result<Vec<AuditEvent>, LedgerError> {
    let mut stmt = conn.prepare("SELECT event FROM audit_events ORDER BY started_at, id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        let text = r?;
        out.push(serde_json::from_str(&text).map_err(|e| LedgerError::Corrupt(format!("audit event: {e}")))?);
    }
    Ok(out)
}

pub(super) fn commit_count(conn: &Connection) -> Result<u64, LedgerError> {
    let n: i64 =
        conn.query_row("SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM receipts)", [], |r| r.get(0))?;
    Ok(n as u64)
}

pub(super) fn unanswered(conn: &Connection, period: Period, made_by: &str) -> Result<Vec<LedgerLine>, LedgerError> {
    query_lines(conn, &unanswered_sql(LINE_COLUMNS), &[&period.to_string(), &made_by])
}

pub(super) fn unanswered_count(conn: &Connection, period: Period, made_by: &str) -> Result<Bucket, LedgerError> {
    let sql = unanswered_sql("COUNT(*), COALESCE(SUM(p.amount_fen), 0)");
    let (lines, fen): (i64, i64) =
        conn.prepare_cached(&sql)?.query_row(params![period.to_string(), made_by], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Bucket { lines: lines as u64, amount: Fen(fen) })
}
