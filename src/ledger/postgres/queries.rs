//! Read queries of the shared ledger. A period's lines are found through its
//! runs (`runs (office, period, batch)` then `payments_by_run`); every query
//! names the office, except the provincial ones (R08, `status --all-offices`).

/// A line's columns, `p` its payment and `s` its status row if any: none means
/// 'sent', no reason. The same columns, in the same order, as the SQLite ledger.
pub(super) const LINE_COLUMNS: &str =
    "p.end_to_end_id, p.program, p.period, p.id_number, p.name, p.township, p.village, \
     p.payee_name, p.account, p.bank, p.amount_fen, p.bank_file, COALESCE(s.status, 'sent'), \
     COALESCE(s.reason_code, ''), COALESCE(s.reason_text, ''), p.original_id, p.retry, p.line_type, p.covers";

/// Every payment, with its status row if it has one.
pub(super) const LINES_FROM: &str = "payments p LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id";

/// The payments of runs `r`, with their status rows.
pub(super) const PERIOD_LINES_FROM: &str = "runs r JOIN payments p ON p.run_id = r.id \
     LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id";

pub(super) fn select_lines(from: &str) -> String {
    format!("SELECT {LINE_COLUMNS} FROM {from}")
}

/// The lines of bank file `$2` of office `$1`: its run's lines that name it.
pub(super) fn payments_in_file_sql() -> String {
    format!(
        "{} WHERE f.office = $1 AND f.name = $2",
        select_lines(
            "bank_files f JOIN payments p ON p.run_id = f.run_id AND p.bank_file = f.name \
             LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id"
        )
    )
}

/// The people office `$1` paid in program `$3`, period `$2` (original lines): R04.
pub(super) const PAID_PEOPLE_SQL: &str = "SELECT p.id_number FROM runs r JOIN payments p ON p.run_id = r.id \
     WHERE r.office = $1 AND r.period = $2 AND p.program = $3 AND p.original_id IS NULL AND p.line_type = 'basic'";

/// The people other offices than `$1` paid in program `$3`, period `$2`, with
/// the office: R08. Every original line counts, whatever its status, as the
/// unique index `one_payment_per_person` counts it.
pub(super) const PAID_ELSEWHERE_SQL: &str = "SELECT p.id_number, MIN(r.office) FROM runs r \
     JOIN payments p ON p.run_id = r.id \
     WHERE r.office <> $1 AND r.period = $2 AND p.program = $3 AND p.original_id IS NULL GROUP BY p.id_number";

/// The last period before `$3` in which office `$1` paid program `$2`.
pub(super) const LAST_PERIOD_SQL: &str = "SELECT MAX(r.period) FROM runs r WHERE r.office = $1 AND r.period < $3 \
     AND EXISTS (SELECT 1 FROM payments p WHERE p.run_id = r.id AND p.program = $2)";

/// Per person, what office `$1` paid in program `$2`, period `$3` (failed and
/// returned lines were not paid). Without the names: only the few people
/// dropped since are named ([`NAMED_PEOPLE_SQL`]).
pub(super) const PAID_IN_PERIOD_SQL: &str = "SELECT p.id_number, CAST(SUM(p.amount_fen) AS BIGINT) \
     FROM runs r JOIN payments p ON p.run_id = r.id \
     LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id \
     WHERE r.office = $1 AND r.period = $3 AND p.program = $2 \
     AND COALESCE(s.status, 'sent') NOT IN ('failed', 'returned') GROUP BY p.id_number";

/// The greatest name each of the ID numbers `$4` was paid under by office `$1`
/// in program `$2`, period `$3`, by the lines that stand.
pub(super) const NAMED_PEOPLE_SQL: &str = "SELECT p.id_number, MAX(p.name) \
     FROM runs r JOIN payments p ON p.run_id = r.id \
     LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id \
     WHERE r.office = $1 AND r.period = $3 AND p.program = $2 AND p.id_number = ANY($4) \
     AND COALESCE(s.status, 'sent') NOT IN ('failed', 'returned') GROUP BY p.id_number";

/// Lines and amounts of period `$1` by program, status and whether a
/// correction: of office `$2`, or (`by_office`) of every office, the office last.
pub(super) fn period_status_sql(by_office: bool) -> String {
    let (office_col, filter, group) =
        if by_office { (", r.office", "", ", r.office") } else { ("", " AND r.office = $2", "") };
    format!(
        "SELECT p.program, COALESCE(s.status, 'sent'), p.original_id IS NOT NULL, COUNT(*), \
         CAST(SUM(p.amount_fen) AS BIGINT){office_col} FROM {PERIOD_LINES_FROM} WHERE r.period = $1{filter} \
         GROUP BY p.program, COALESCE(s.status, 'sent'), p.original_id IS NOT NULL{group}"
    )
}

/// People the bank reported deceased (MD07) to office `$1`, with no correction
/// settled since: ID number → the reference that reported it.
pub(super) const DECEASED_SQL: &str = "SELECT p.id_number, MAX(p.end_to_end_id) FROM payment_status s \
     JOIN payments p ON p.end_to_end_id = s.end_to_end_id WHERE s.office = $1 AND s.reason_code = 'MD07' \
     AND NOT EXISTS (SELECT 1 FROM payments c JOIN payment_status cs ON cs.end_to_end_id = c.end_to_end_id \
     WHERE cs.status = 'settled' AND c.original_id = COALESCE(p.original_id, p.end_to_end_id)) \
     GROUP BY p.id_number";
