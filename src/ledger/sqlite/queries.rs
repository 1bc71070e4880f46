//! Read queries: a period's lines, statuses and people, found through the runs'
//! stretches of ids.

use super::*;

/// Runs `sql` (selecting [`LINE_COLUMNS`]) on `conn`, in reference order.
pub(super) fn query_lines(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<LedgerLine>, LedgerError> {
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
pub(super) const LAST_PERIOD_SQL: &str = "SELECT MAX(r.period) FROM runs r WHERE r.period < ?2 \
     AND EXISTS (SELECT 1 FROM payment_ranges g WHERE g.run_id = r.id AND g.program = ?1)";
/// The payment rows of program `?1` in period `?2`, without a person's
/// details: `r` a run of the period, `g` a stretch of its ids of the program,
/// `p` a row, found as [`period_lines_from`] finds a period's lines.
macro_rules! program_rows_from {
    () => {
        "runs r CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?2 AND g.program = ?1 \
         CROSS JOIN payment_rows p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
         AND p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = g.program)"
    };
}

/// What program `?1` paid from period `?2` to period `?3` (YYYY-MM), line by
/// line, as (row, person key, amount): `SqliteLedger::paid_between` adds a
/// person's standing lines up, for the previous month (R06) and the year so far
/// (the annual cap). From the payment rows alone: joining each line's person
/// for their ID number and name cost a million probes of `parties` and a
/// million strings every run after the first month, for the few people dropped
/// since ([`NAMED_PEOPLE_SQL`]). Nor is each line's status row probed: the
/// failed and returned lines are read first ([`UNPAID_IN_PERIODS_SQL`], a few)
/// and skipped. The `+`s keep `run_id` and `program_id` from being index
/// terms: over a range of periods SQLite otherwise built an automatic index of
/// every payment row of the ledger (history-sized, at every run) instead of
/// reading each stretch's rowid range.
pub(super) const PAID_IN_PERIODS_SQL: &str = "SELECT p.id, p.person, p.amount_fen FROM runs r \
     CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period BETWEEN ?2 AND ?3 AND g.program = ?1 \
     CROSS JOIN payment_rows p ON p.id BETWEEN g.first_id AND g.last_id AND +p.run_id = g.run_id \
     AND +p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = g.program)";
/// The lines from period `?1` to period `?2` (YYYY-MM) that failed or came
/// back: by the partial index `status_needing_a_person` (its condition word for
/// word, as SQLite needs), whatever the ledger's age.
pub(super) const UNPAID_IN_PERIODS_SQL: &str = "SELECT payment_id FROM payment_status \
     WHERE period BETWEEN ?1 AND ?2 AND (status IN ('failed', 'returned') OR reason_code <> '') \
     AND status IN ('failed', 'returned')";
/// Person, ID number and name of each line that stands of program `?1` in
/// period `?2` (YYYYMM) paid to a person of `temp.named_people`: originals by
/// `one_payment_per_person`, person by person, and the period's corrections by
/// `corrections_by_period` — a few people's lines, not the period's.
pub(super) const NAMED_PEOPLE_SQL: &str = "SELECT p.person, pa.id_number, pa.name FROM temp.named_people n \
     CROSS JOIN payment_rows p ON p.period = ?2 AND p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = ?1) \
     AND p.person = n.person AND p.original_id IS NULL \
     JOIN parties pa ON pa.person = p.person AND pa.version = p.version \
     LEFT JOIN payment_status s ON s.payment_id = p.id WHERE COALESCE(s.status, 'sent') NOT IN ('failed', 'returned') \
     UNION ALL SELECT p.person, pa.id_number, pa.name FROM payment_rows p \
     JOIN parties pa ON pa.person = p.person AND pa.version = p.version \
     LEFT JOIN payment_status s ON s.payment_id = p.id \
     WHERE p.period = ?2 AND p.original_id IS NOT NULL \
     AND p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = ?1) \
     AND p.person IN (SELECT n.person FROM temp.named_people n) \
     AND COALESCE(s.status, 'sent') NOT IN ('failed', 'returned')";
/// The people (person keys) program `?1` paid in period `?2` by a line
/// (original or correction) that has not failed or been returned (R02 across
/// runs), from the payment rows alone.
pub(super) const LIVE_PEOPLE_SQL: &str = concat!(
    "SELECT DISTINCT p.person FROM ",
    program_rows_from!(),
    " LEFT JOIN payment_status s ON s.payment_id = p.id WHERE COALESCE(s.status, 'sent') NOT IN ('failed', 'returned')"
);
/// Every version of every person: (account, person, version, ID number, payee,
/// village), the account first: `SqliteLedger::for_each_standing_line` reads
/// the rest only of the few whose account a correction batch names.
pub(super) const PARTIES_ACCOUNTS_SQL: &str =
    "SELECT pa.account, pa.person, pa.version, pa.id_number, pa.payee_name, pa.village FROM parties pa";
/// Every standing line of period `?1` (neither failed nor returned) as its
/// program (`program_codes` id), person and version, from the payment rows
/// alone (as [`PERIOD_STATUS_SQL`]).
pub(super) const STANDING_ROWS_SQL: &str = "SELECT p.program_id, p.person, p.version \
     FROM runs r CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?1 \
     CROSS JOIN payment_rows p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
     AND p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = g.program) \
     LEFT JOIN payment_status s ON s.payment_id = p.id \
     WHERE COALESCE(s.status, 'sent') NOT IN ('failed', 'returned')";
/// Program (its `program_codes` id), status row's status if any, whether a
/// correction, and amount of every line of period `?1`, from the payment rows
/// alone: [`SqliteLedger::period_status`] adds them up. Why neither the
/// `payments` view nor `GROUP BY`: the view joins `parties` for every line, and
/// the grouping sorted a million lines in a temporary B-tree, where a map of a
/// few dozen keys adds them up as they come (as `SqliteLedger::paid_between` does).
pub(super) const PERIOD_STATUS_SQL: &str = "SELECT p.program_id, s.status, p.original_id IS NOT NULL, p.amount_fen \
     FROM runs r CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?1 \
     CROSS JOIN payment_rows p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
     AND p.program_id = (SELECT c.id FROM program_codes c WHERE c.code = g.program) \
     LEFT JOIN payment_status s ON s.payment_id = p.id";
/// The periods with a payment.
pub(super) const PERIODS_SQL: &str = "SELECT DISTINCT r.period FROM runs r \
     WHERE EXISTS (SELECT 1 FROM payment_ranges g WHERE g.run_id = r.id) ORDER BY r.period";

/// A line's columns, `p` its payment and `s` its status row if any: none means
/// 'sent', no reason (schema_v3.sql).
pub(super) const LINE_COLUMNS: &str =
    "p.end_to_end_id, p.program, p.period, p.id_number, p.name, p.township, p.village, \
     p.payee_name, p.account, p.bank, p.amount_fen, p.bank_file, COALESCE(s.status, 'sent'), \
     COALESCE(s.reason_code, ''), COALESCE(s.reason_text, ''), p.original_id, p.retry, p.line_type, p.covers";
/// Every payment, with its status row if it has one.
pub(super) const LINES_FROM: &str = "payments p LEFT JOIN payment_status s ON s.payment_id = p.id";

/// The people (person keys) program `?1` paid in period `?2` (original lines
/// only), found through the period's runs and their stretches of ids as in
/// [`period_lines_from`], from the payment rows alone.
pub(super) const PAID_PEOPLE_SQL: &str =
    concat!("SELECT p.person FROM ", program_rows_from!(), " WHERE p.original_id IS NULL AND p.line_type = 'basic'");
/// The lines other than basic ones program `?1` has an original of in period
/// `?2`, with their type and covered month (R04 of SPEC §9's line types).
pub(super) const PAID_OTHER_LINES_SQL: &str = "SELECT p.id_number, p.line_type, p.covers FROM runs r \
     CROSS JOIN payment_ranges g ON g.run_id = r.id AND r.period = ?2 AND g.program = ?1 \
     CROSS JOIN payments p ON p.id BETWEEN g.first_id AND g.last_id AND p.run_id = g.run_id \
     AND p.program = g.program WHERE p.original_id IS NULL AND p.line_type <> 'basic'";

/// People reported deceased with no correction settled since (`s.reason_code =
/// 'MD07'` is the partial index `status_deceased`).
pub(super) const DECEASED_SQL: &str = "SELECT p.id_number, MAX(p.end_to_end_id) FROM payment_status s \
     JOIN payments p ON p.id = s.payment_id WHERE s.reason_code = 'MD07' AND NOT EXISTS (SELECT 1 FROM payments c \
     JOIN payment_status cs ON cs.payment_id = c.id WHERE cs.status = 'settled' \
     AND c.original_id = COALESCE(p.original_id, p.end_to_end_id)) GROUP BY p.id_number";

/// The query of [`Ledger::failure_lines`] (`?1` the period, `?2` as YYYYMM).
pub(super) fn failure_sql() -> String {
    format!(
        "{} WHERE s.period = ?1 AND (s.status IN ('failed', 'returned') OR s.reason_code <> '') \
         UNION ALL {} WHERE p.period_n = ?2 AND p.original_id IS NOT NULL \
         AND (s.payment_id IS NULL OR NOT (s.status IN ('failed', 'returned') OR s.reason_code <> ''))",
        select_lines("payment_status s JOIN payments p ON p.id = s.payment_id"),
        select_lines(LINES_FROM),
    )
}

pub(super) fn select_lines(from: &str) -> String {
    format!("SELECT {LINE_COLUMNS} FROM {from}")
}

pub(super) type ParsedLine = Result<LedgerLine, String>;

/// Column `i` of `r` as a [`Text`].
pub(super) fn text(r: &rusqlite::Row, i: usize) -> Result<Text, String> {
    let v = r.get_ref(i).map_err(|e| e.to_string())?;
    v.as_str().map(Text::new).map_err(|e| e.to_string())
}

pub(super) fn read_line(r: &rusqlite::Row) -> rusqlite::Result<ParsedLine> {
    let program: String = r.get(1)?;
    let period: String = r.get(2)?;
    let status: String = r.get(12)?;
    let parsed = (|| {
        Ok(LedgerLine {
            source: None,
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
            kind: {
                let (t, c): (String, String) =
                    (r.get(17).map_err(|e| e.to_string())?, r.get(18).map_err(|e| e.to_string())?);
                crate::domain::LineKind::from_columns(&t, &c).ok_or(format!("line type '{t}' / covers '{c}'"))?
            },
        })
    })();
    Ok(parsed)
}

pub(super) fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
