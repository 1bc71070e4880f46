//! The month's lists read each record once ([`one_walk`]) are the lists read
//! twice ([`two_walks`]), byte for byte and cell for cell.

use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx};

use super::*;
use crate::domain::{Fen, LineKind, PaymentStatus};
use crate::pipeline::record::RecordWriter;
use crate::totals::RunTotals;

const PERIOD: Period = Period { year: 2026, month: 11 };

fn line(batch: &str, n: u64, program: Program, original: Option<&str>) -> LedgerLine {
    LedgerLine {
        end_to_end_id: Text::new(format!("XX202611{batch}{n:07}")),
        program,
        period: PERIOD,
        id_number: Text::new("11010519491231002X"),
        name: Text::new(format!("张{n}")),
        township: Text::new("城关镇"),
        village: Text::new(if n.is_multiple_of(2) { "东村" } else { "西村" }),
        payee_name: Text::new(format!("张{n}")),
        account: Text::new("6222021234567890123"),
        bank: Text::new(""),
        amount: Fen(10_000 + n as i64),
        bank_file: Text::new(format!("{}{batch}.xml", program.code())),
        status: PaymentStatus::Sent,
        reason_code: String::new(),
        reason_text: String::new(),
        original_id: original.map(str::to_string),
        retry: u32::from(original.is_some()),
        kind: LineKind::BASIC,
        source: None,
    }
}

/// A batch to record: its name and (program, lines, whether corrections) parts.
type Batch<'a> = (&'a str, &'a [(Program, u64, bool)]);

/// Records of the batches in `dir`.
fn records(dir: &Path, batches: &[Batch<'_>]) -> Records {
    let mut n = 0;
    batches
        .iter()
        .map(|(batch, parts)| {
            let mut w = RecordWriter::create(dir, batch).unwrap();
            for &(program, count, correction) in *parts {
                let lines: Vec<LedgerLine> = (0..count)
                    .map(|_| {
                        n += 1;
                        line(batch, n, program, correction.then_some("XX202611R0010000001"))
                    })
                    .collect();
                w.add(&lines).unwrap();
            }
            let entry = w.finish().unwrap();
            (batch.to_string(), dir.join(entry.path), entry.lines)
        })
        .collect()
}

/// The four lists and the totals, written by `walk` into `dir`.
fn lists(
    dir: &Path,
    records: &Records,
    walk: fn(&mut MonthLines, &Records, Period) -> Result<bool, PipelineError>,
) -> (Vec<PathBuf>, crate::report::MonthPaid) {
    let totals = RunTotals::default();
    let head =
        PaidHead { office_name: "某县民政局", period: PERIOD, generated_at: "2026-11-30 09:00", totals: &totals };
    let mut month = MonthLines::create(dir, head, Default::default()).unwrap();
    assert!(walk(&mut month, records, PERIOD).unwrap());
    month.finish().unwrap()
}

fn twice(month: &mut MonthLines, records: &Records, period: Period) -> Result<bool, PipelineError> {
    two_walks(month, records, period).map(|()| true)
}

fn cells(path: &Path) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let names = wb.sheet_names();
    names
        .into_iter()
        .map(|n| (n.clone(), wb.worksheet_range(&n).unwrap().rows().map(<[Data]>::to_vec).collect()))
        .collect()
}

#[test]
fn one_walk_writes_what_two_walks_write() {
    let dir = tempfile::tempdir().unwrap();
    let (p, q, r, y) = (Program::Dibao, Program::Wubao, Program::Youfu, Program::Yimin);
    // The run pays 特困 and 优抚; a late roster adds 低保 (before both) and 移民
    // (after both) and more 特困; the corrections are of 特困 and 优抚.
    let records = records(
        &dir.path().join("records"),
        &[
            ("R001", &[(q, 5, false), (r, 3, false)]),
            ("R002", &[(p, 2, false), (q, 1, false), (y, 2, false)]),
            ("C001", &[(q, 2, true), (r, 1, true)]),
        ],
    );
    let (once, paid_once) = lists(&dir.path().join("once"), &records, one_walk);
    let (two, paid_two) = lists(&dir.path().join("two"), &records, twice);
    assert_eq!(paid_once, paid_two);
    assert_eq!(once.len(), 4);
    for (a, b) in once.iter().zip(&two) {
        assert_eq!(a.file_name(), b.file_name());
        if a.extension().is_some_and(|e| e == "csv") {
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{}", a.display());
        } else {
            let (ca, cb) = (cells(a), cells(b));
            assert_eq!(ca, cb, "{}", a.display());
            assert_eq!(ca.len(), 4, "a sheet per program");
        }
    }
    let paid = std::fs::read_to_string(once.iter().find(|p| p.ends_with("paid.csv")).unwrap()).unwrap();
    assert_eq!(paid.lines().count(), 1 + 8 + 5 + 3, "every line of every batch");
}

#[test]
fn a_first_record_out_of_program_order_is_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(
        &dir.path().join("records"),
        &[("R001", &[(Program::Youfu, 2, false), (Program::Dibao, 2, false)]), ("C001", &[(Program::Dibao, 1, true)])],
    );
    let totals = RunTotals::default();
    let head = PaidHead { office_name: "某县", period: PERIOD, generated_at: "2026-11-30 09:00", totals: &totals };
    let out = dir.path().join("out");
    let mut month = MonthLines::create(&out, head, Default::default()).unwrap();
    assert!(!one_walk(&mut month, &records, PERIOD).unwrap());
    drop(month);
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "nothing of the abandoned walk is left: {left:?}");
}

#[test]
fn a_record_longer_than_its_manifest_says_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = records(
        &dir.path().join("records"),
        &[("R001", &[(Program::Dibao, 2, false)]), ("C001", &[(Program::Dibao, 3, true)])],
    );
    records[1].2 = 1;
    let totals = RunTotals::default();
    let head = PaidHead { office_name: "某县", period: PERIOD, generated_at: "2026-11-30 09:00", totals: &totals };
    let mut month = MonthLines::create(&dir.path().join("out"), head, Default::default()).unwrap();
    assert!(!one_walk(&mut month, &records, PERIOD).unwrap(), "held only as many lines as the manifest counts");
    // Later batches counted past the bound are not held at all.
    records[1].2 = HELD_LINES + 1;
    assert!(!one_walk(&mut month, &records, PERIOD).unwrap());
}
