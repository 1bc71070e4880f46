//! The reports made from the paid lines — `notice.csv`, `paid.csv`, 发放名册
//! (`roster.xlsx`) and 公示 (`notice.xlsx`) — written as the lines arrive, so a
//! run of a million lines never holds them all.
//!
//! The CSVs are written on the caller's thread; each workbook on a thread of its
//! own fed in bounded batches (the workbooks cost the most). Every file is
//! written beside its final name and renamed in only by [`PaidReports::finish`],
//! once all of them are complete: an error, or a `PaidReports` dropped unfinished,
//! leaves none of them behind.

use std::path::{Path, PathBuf};

use super::csvout::{self, CsvStream};
use super::xlsx::{ListFeed, ListHead, NOTICE, ROSTER};
use super::{ReportError, ReportSet, Staged};
use crate::domain::{PaymentLine, Period, Program};
use crate::totals::RunTotals;

/// What the line reports need before the first line.
#[derive(Debug, Clone, Copy)]
pub struct PaidHead<'a> {
    pub office_name: &'a str,
    pub period: Period,
    pub generated_at: &'a str,
    /// Known in full before the first line (the run's first pass).
    pub totals: &'a RunTotals,
}

/// The line reports being written; see the module documentation.
pub struct PaidReports {
    dir: PathBuf,
    notice_csv: CsvStream,
    paid_csv: Option<CsvStream>,
    roster: Option<ListFeed>,
    notice: ListFeed,
    /// Program of the last line pushed: lines must come grouped in `Program` order.
    last: Option<Program>,
}

impl PaidReports {
    /// Opens notice.csv and notice.xlsx, and for [`ReportSet::Run`] also paid.csv
    /// and roster.xlsx, in `reports_dir` (created if missing).
    pub fn create(reports_dir: &Path, head: PaidHead<'_>, set: ReportSet) -> Result<PaidReports, ReportError> {
        let list_head = ListHead {
            office_name: head.office_name.to_string(),
            period: head.period,
            generated_at: head.generated_at.to_string(),
        };
        let run = set == ReportSet::Run;
        let notice_csv = CsvStream::create(&reports_dir.join("notice.csv"), &csvout::NOTICE_HEADER)?;
        let paid_csv =
            if run { Some(CsvStream::create(&reports_dir.join("paid.csv"), &csvout::PAID_HEADER)?) } else { None };
        let roster = if run {
            Some(ListFeed::spawn(&reports_dir.join("roster.xlsx"), &ROSTER, list_head.clone())?)
        } else {
            None
        };
        let notice = ListFeed::spawn(&reports_dir.join("notice.xlsx"), &NOTICE, list_head)?;
        Ok(PaidReports { dir: reports_dir.to_path_buf(), notice_csv, paid_csv, roster, notice, last: None })
    }

    /// One paid line and the bank file it is in (`""` for `check`). Lines come
    /// grouped by program in `Program` order, roster order within a program:
    /// each workbook has one sheet per program, closed when the next begins.
    pub fn push(&mut self, line: &PaymentLine, bank_file: &str) -> Result<(), ReportError> {
        if let Some(last) = self.last.filter(|&last| last > line.program) {
            return Err(ReportError::LinesOutOfOrder { program: line.program, after: last });
        }
        self.last = Some(line.program);
        self.push_csv(line, bank_file)?;
        self.push_sheets(line)
    }

    /// The CSV rows of a line, in the order lines come.
    fn push_csv(&mut self, line: &PaymentLine, bank_file: &str) -> Result<(), ReportError> {
        csvout::notice_row(&mut self.notice_csv, line)?;
        if let Some(paid) = &mut self.paid_csv {
            csvout::paid_row(paid, line, bank_file)?;
        }
        Ok(())
    }

    /// The workbook rows of a line; lines must be grouped by program.
    fn push_sheets(&mut self, line: &PaymentLine) -> Result<(), ReportError> {
        if let Some(roster) = &mut self.roster {
            roster.push(line)?;
        }
        self.notice.push(line)
    }

    /// Finishes every file and renames them in; returns their paths in the order
    /// notice.csv, paid.csv, roster.xlsx, notice.xlsx (the `Run` ones only for a run).
    pub fn finish(self) -> Result<Vec<PathBuf>, ReportError> {
        let PaidReports { dir, notice_csv, paid_csv, roster, notice, .. } = self;
        let mut staged: Vec<Staged> = vec![notice_csv.finish()?];
        if let Some(paid) = paid_csv {
            staged.push(paid.finish()?);
        }
        // The notice thread keeps writing while the roster is awaited.
        if let Some(roster) = roster {
            staged.push(roster.finish()?);
        }
        staged.push(notice.finish()?);
        let mut written = Vec::with_capacity(staged.len());
        for s in staged {
            written.push(s.persist_no_sync()?);
        }
        crate::fsutil::sync_dir(&dir).map_err(|e| ReportError::io(&dir, e))?;
        Ok(written)
    }

    /// For [`super::write_reports`] over lines in any order (as it always
    /// accepted): CSV rows in the order given, workbook rows grouped by program.
    pub(super) fn push_all(&mut self, paid: &[PaymentLine], bank_files: &[String]) -> Result<(), ReportError> {
        let file = |i: usize| bank_files.get(i).map_or("", String::as_str);
        if paid.is_sorted_by_key(|l| l.program) {
            for (i, l) in paid.iter().enumerate() {
                self.push(l, file(i))?;
            }
            return Ok(());
        }
        for (i, l) in paid.iter().enumerate() {
            self.push_csv(l, file(i))?;
        }
        let programs: std::collections::BTreeSet<Program> = paid.iter().map(|l| l.program).collect();
        for p in programs {
            for l in paid.iter().filter(|l| l.program == p) {
                self.push_sheets(l)?;
            }
        }
        Ok(())
    }
}
