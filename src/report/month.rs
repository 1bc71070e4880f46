//! The whole month (SPEC §13): a period's `paid.csv`, `notice.csv`, 发放名册
//! (`roster.xlsx`) and 公示 (`notice.xlsx`) list every line paid so far in the
//! period with its batch (the workbooks' 批次 column; in paid.csv the batch is
//! in each end_to_end_id and bank_file, its columns staying the contract's),
//! read back from the batches' payment records.
//!
//! Why rebuilt from the records rather than appended: each batch's reports are
//! written into its staging folder and renamed over the period's, so a second
//! batch (one corrected line, a late roster) left a list of one person where
//! the month's 名册 and 公示 had been. The records are the signed account of
//! every batch; the lists are drawn from them, batch after batch, so a later
//! batch never replaces an earlier one's lines.
//!
//! Memory stays flat: the CSVs take the lines as they are read; the workbooks,
//! whose sheets are one per program, take them in a second walk, program by
//! program (the caller reads each program's stretches of the records again),
//! so nothing is held.
//!
//! The 公示 is for the public: it lists each beneficiary once. A correction
//! line (更正发放, a new account for a failed payment) is the same person and
//! the same money as the line it corrects, so it appears on the 名册 and in
//! paid.csv (where the bank reconciliation needs it) but not a second time on
//! the 公示.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::paid::{batch_label, LineExtras, PaidHead, PaidReports};
use super::{ReportError, ReportSet};
use crate::domain::{PaymentLine, Program};
use crate::totals::{PlaceKey, Tally};

/// What the month's lines add up to, per program and per place: the paid part
/// of `report.html` across every batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthPaid {
    /// Lines of run batches (a correction re-pays a line already counted).
    pub programs: BTreeMap<Program, Tally>,
    pub places: BTreeMap<PlaceKey, Tally>,
    /// Correction lines, per program.
    pub corrections: BTreeMap<Program, Tally>,
    /// Lines per batch, in the order the batches came.
    pub batches: Vec<(String, Tally)>,
}

/// The month's line reports being written.
pub struct MonthLines {
    reports: PaidReports,
    paid: MonthPaid,
}

impl MonthLines {
    /// Opens the four lists in `reports_dir`, written beside their names and
    /// renamed in by [`MonthLines::finish`].
    pub fn create(
        reports_dir: &Path,
        head: PaidHead<'_>,
        notice: crate::config::Notice,
    ) -> Result<MonthLines, ReportError> {
        let extras = LineExtras { batch: Some(String::new()), notice };
        let reports = PaidReports::create_with(reports_dir, head, ReportSet::Run, extras)?;
        Ok(MonthLines { reports, paid: MonthPaid::default() })
    }

    /// First walk, every line of every batch in batch order: the CSV rows and
    /// the totals. `correction` for a line of a correction batch.
    pub fn push_csv(
        &mut self,
        line: &PaymentLine,
        bank_file: &str,
        batch: &str,
        correction: bool,
    ) -> Result<(), ReportError> {
        self.reports.push_paid_csv(line, bank_file, !correction)?;
        let p = &mut self.paid;
        match p.batches.last_mut() {
            Some((b, t)) if b == batch => t.add_fen(line.amount),
            _ => {
                let mut t = Tally::default();
                t.add_fen(line.amount);
                p.batches.push((batch.to_string(), t));
            }
        }
        if correction {
            p.corrections.entry(line.program).or_default().add_fen(line.amount);
            return Ok(());
        }
        p.programs.entry(line.program).or_default().add_fen(line.amount);
        let key =
            PlaceKey { program: line.program, township: line.township.to_string(), village: line.village.to_string() };
        p.places.entry(key).or_default().add_fen(line.amount);
        Ok(())
    }

    /// Second walk, program by program in `Program` order (batch order within
    /// one): the workbook rows.
    pub fn push_sheet(&mut self, line: &PaymentLine, batch: &str, correction: bool) -> Result<(), ReportError> {
        self.reports.push_sheets(line, &batch_label(batch), !correction)
    }

    /// Finishes the lists and renames them in; returns their paths and the totals.
    pub fn finish(self) -> Result<(Vec<PathBuf>, MonthPaid), ReportError> {
        Ok((self.reports.finish()?, self.paid))
    }
}
