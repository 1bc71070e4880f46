//! Receipts applied to the shared ledger as their lines are read: one
//! transaction for the command, a savepoint per receipt. Only this office's
//! payments are found: a receipt line naming another office's reference finds
//! nothing and is flagged, never applied by the wrong office.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use ::postgres::{Client, Statement};

use crate::domain::{Fen, PaymentStatus, Period, ReceiptLine};
use crate::ledger::{Applied, LedgerError, PaymentState, ReceiptBatch, StagedLine, StatusSet, Verdict};

pub(super) fn parse_status(s: &str) -> Result<PaymentStatus, LedgerError> {
    PaymentStatus::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("unknown status {s}")))
}

pub(super) fn receipt_seen(client: &mut Client, office: &str, sha256: &str) -> Result<bool, LedgerError> {
    Ok(client.query_opt("SELECT 1 FROM receipts WHERE office = $1 AND sha256 = $2", &[&office, &sha256])?.is_some())
}

/// The payment columns a receipt line needs, from `p` and its status row `s`.
const FOUND_COLUMNS: &str = "p.end_to_end_id, p.period, p.amount_fen, COALESCE(s.status, 'sent'), \
     s.end_to_end_id IS NOT NULL, s.receipt_id FROM payments p \
     LEFT JOIN payment_status s ON s.end_to_end_id = p.end_to_end_id";

/// Payments read ahead from the one a line named, in reference order: a
/// receipt lists a bank file's lines in order, so one query answers the next
/// [`READ_AHEAD`] lines instead of one round trip each.
const READ_AHEAD: i64 = 2048;

/// New status rows per INSERT.
const STATUS_ROWS: usize = 256;

/// A payment a receipt line names, as the ledger holds it now.
#[derive(Clone)]
struct Found {
    state: PaymentState,
    has_row: bool,
    receipt: Option<i64>,
}

/// A status row waiting for its INSERT.
struct NewStatus {
    e2e: String,
    period: String,
    status: PaymentStatus,
    code: String,
    text: String,
}

pub(super) struct PgReceipts<'c> {
    /// In a cell: two of the batch's reads take `&self`.
    client: RefCell<&'c mut Client>,
    office: &'c str,
    lookup: Statement,
    ahead: Statement,
    many: Statement,
    update: Statement,
    /// Payments read ahead, not yet named by a line.
    cache: HashMap<String, Found>,
    /// Lines to look up one by one before reading ahead again (after a
    /// reference read ahead found nothing: a receipt of unknown references).
    cold: u32,
    /// Payments whose status this batch wrote: read again through the transaction.
    written: HashSet<String>,
    buffer: Vec<NewStatus>,
    /// The statuses the open receipt gave each payment so far ([`StagedLine::given`]).
    given: HashMap<String, StatusSet>,
    receipt: Option<i64>,
    applied: Applied,
    open: bool,
}

impl<'c> PgReceipts<'c> {
    pub(super) fn begin(client: &'c mut Client, office: &'c str) -> Result<PgReceipts<'c>, LedgerError> {
        let lookup = client.prepare(&format!("SELECT {FOUND_COLUMNS} WHERE p.office = $1 AND p.end_to_end_id = $2"))?;
        let ahead = client.prepare(&format!(
            "SELECT {FOUND_COLUMNS} WHERE p.office = $1 AND p.end_to_end_id >= $2 ORDER BY p.end_to_end_id LIMIT $3"
        ))?;
        let values: Vec<String> = (0..STATUS_ROWS)
            .map(|i| {
                let b = i * 7;
                format!("(${},${},${},${},${},${},${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7)
            })
            .collect();
        let many = client.prepare(&format!(
            "INSERT INTO payment_status (end_to_end_id, office, period, status, reason_code, reason_text, receipt_id) \
             VALUES {}",
            values.join(",")
        ))?;
        let update = client.prepare(
            "UPDATE payment_status SET period = $2, status = $3, reason_code = $4, reason_text = $5, \
             receipt_id = $6, updated_at = NULL WHERE end_to_end_id = $1",
        )?;
        client.batch_execute("BEGIN")?;
        Ok(PgReceipts {
            client: RefCell::new(client),
            office,
            lookup,
            ahead,
            many,
            update,
            cache: HashMap::new(),
            cold: 0,
            written: HashSet::new(),
            buffer: Vec::with_capacity(STATUS_ROWS),
            given: HashMap::new(),
            receipt: None,
            applied: Applied::default(),
            open: true,
        })
    }

    fn receipt_id(&self) -> Result<i64, LedgerError> {
        self.receipt.ok_or_else(|| LedgerError::Corrupt("a receipt line came before its receipt was begun".into()))
    }

    fn found(row: &::postgres::Row) -> Result<(String, Found), LedgerError> {
        let period: Period = row.try_get::<_, &str>(1)?.parse().map_err(LedgerError::Corrupt)?;
        let amount: i64 = row.try_get(2)?;
        Ok((
            row.try_get(0)?,
            Found {
                state: PaymentState { period, amount: Fen(amount), status: parse_status(row.try_get(3)?)? },
                has_row: row.try_get(4)?,
                receipt: row.try_get(5)?,
            },
        ))
    }

    /// The payment `e2e` of this office, as the transaction sees it now.
    fn look_up(&mut self, e2e: &str) -> Result<Option<Found>, LedgerError> {
        if self.written.contains(e2e) {
            self.flush()?;
            let row = self.client.get_mut().query_opt(&self.lookup, &[&self.office, &e2e])?;
            return row.map(|r| Self::found(&r).map(|(_, f)| f)).transpose();
        }
        if let Some(f) = self.cache.remove(e2e) {
            return Ok(Some(f));
        }
        if self.cold > 0 {
            self.cold -= 1;
            let row = self.client.get_mut().query_opt(&self.lookup, &[&self.office, &e2e])?;
            return row.map(|r| Self::found(&r).map(|(_, f)| f)).transpose();
        }
        // Buffered rows must be in the table before reading ahead over them.
        self.flush()?;
        self.cache.clear();
        let rows = self.client.get_mut().query(&self.ahead, &[&self.office, &e2e, &READ_AHEAD])?;
        for r in &rows {
            let (id, f) = Self::found(r)?;
            if !self.written.contains(&id) {
                self.cache.insert(id, f);
            }
        }
        let hit = self.cache.remove(e2e);
        if hit.is_none() {
            self.cold = 64;
        }
        Ok(hit)
    }

    fn flush(&mut self) -> Result<(), LedgerError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let receipt_id = self.receipt_id()?;
        let rows = std::mem::take(&mut self.buffer);
        if rows.len() == STATUS_ROWS {
            let mut params: Vec<&(dyn ::postgres::types::ToSql + Sync)> = Vec::with_capacity(STATUS_ROWS * 7);
            let codes: Vec<&str> = rows.iter().map(|r| r.status.code()).collect();
            for (r, code) in rows.iter().zip(&codes) {
                params.extend([
                    &r.e2e as &(dyn ::postgres::types::ToSql + Sync),
                    &self.office,
                    &r.period,
                    code,
                    &r.code,
                    &r.text,
                    &receipt_id,
                ]);
            }
            self.client.get_mut().execute(&self.many, &params)?;
        } else {
            for r in &rows {
                self.client.get_mut().execute(
                    "INSERT INTO payment_status (end_to_end_id, office, period, status, reason_code, reason_text, \
                     receipt_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&r.e2e, &self.office, &r.period, &r.status.code(), &r.code, &r.text, &receipt_id],
                )?;
            }
        }
        self.buffer = rows;
        self.buffer.clear();
        Ok(())
    }

    fn end(&mut self) {
        self.buffer.clear();
        self.receipt = None;
        self.applied = Applied::default();
    }
}

impl ReceiptBatch for PgReceipts<'_> {
    fn receipt_seen(&self, sha256: &str) -> Result<bool, LedgerError> {
        receipt_seen(&mut self.client.borrow_mut(), self.office, sha256)
    }

    fn payments_in_file(&self, bank_file: &str) -> Result<Vec<String>, LedgerError> {
        let sql = super::queries::payments_in_file_sql();
        let lines = super::query_lines(&mut self.client.borrow_mut(), &sql, &[&self.office, &bank_file])?;
        Ok(lines.into_iter().map(|l| l.end_to_end_id.into()).collect())
    }

    fn sent_file(&self, bank_file: &str) -> Result<bool, LedgerError> {
        let row = self.client.borrow_mut().query_opt(
            "SELECT 1 FROM bank_files WHERE office = $1 AND name = $2 AND format LIKE 'pain001%'",
            &[&self.office, &bank_file],
        )?;
        Ok(row.is_some())
    }

    fn begin_receipt(&mut self, file_name: &str) -> Result<(), LedgerError> {
        if self.receipt.is_some() {
            return Err(LedgerError::Corrupt("a receipt was begun while another was open".into()));
        }
        self.given.clear();
        self.client.get_mut().batch_execute("SAVEPOINT receipt")?;
        let row = self.client.get_mut().query_one(
            "INSERT INTO receipts (office, sha256, file_name, kind, applied, flagged, applied_at) \
             VALUES ($1, '(being applied)', $2, '', 0, 0, $3) RETURNING id",
            &[&self.office, &file_name, &now()],
        )?;
        self.receipt = Some(row.try_get(0)?);
        Ok(())
    }

    fn push(
        &mut self,
        line: &ReceiptLine,
        decide: &mut dyn FnMut(&StagedLine<'_>) -> Verdict,
    ) -> Result<(), LedgerError> {
        let receipt_id = self.receipt_id()?;
        self.applied.lines += 1;
        let found = self.look_up(&line.end_to_end_id)?;
        let pending = found.as_ref().filter(|f| f.receipt == Some(receipt_id)).map(|f| f.state.status);
        let given = match &found {
            Some(_) => {
                let set = self.given.entry(line.end_to_end_id.to_string()).or_default();
                let before = *set;
                *set = set.with(line.status);
                before
            }
            None => StatusSet::default(),
        };
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
                let e2e = line.end_to_end_id.to_string();
                let period = f.state.period.to_string();
                if f.has_row {
                    self.client.get_mut().execute(
                        &self.update,
                        &[&e2e, &period, &line.status.code(), &line.reason_code, &line.reason_text, &receipt_id],
                    )?;
                } else {
                    self.buffer.push(NewStatus {
                        e2e: e2e.clone(),
                        period,
                        status: line.status,
                        code: line.reason_code.clone(),
                        text: line.reason_text.clone(),
                    });
                    if self.buffer.len() == STATUS_ROWS {
                        self.flush()?;
                    }
                }
                self.written.insert(e2e);
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
        let (updated, flagged) = (a.updated as i64, a.flagged as i64);
        self.client.get_mut().execute(
            "UPDATE receipts SET sha256 = $1, kind = $2, applied = $3, flagged = $4 WHERE id = $5",
            &[&sha256, &kind, &updated, &flagged, &id],
        )?;
        self.client.get_mut().batch_execute("RELEASE SAVEPOINT receipt")?;
        self.end();
        Ok(a)
    }

    fn discard_receipt(&mut self) -> Result<(), LedgerError> {
        self.receipt_id()?;
        self.end();
        self.cache.clear();
        self.client.get_mut().batch_execute("ROLLBACK TO SAVEPOINT receipt; RELEASE SAVEPOINT receipt")?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), LedgerError> {
        if self.receipt.is_some() {
            return Err(LedgerError::Corrupt("a receipt was still open at the commit".into()));
        }
        self.client.get_mut().batch_execute("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PgReceipts<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.client.get_mut().batch_execute("ROLLBACK");
        }
    }
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
