//! Excel rosters: .xlsx written at test time with rust_xlsxwriter, and a small
//! committed .xls (BIFF8, made with python xlwt by fixtures/ingest/make_xls.py).

use std::path::{Path, PathBuf};

use disburse::domain::{Cell, Field, Program, RosterRow};
use disburse::ingest::{read_roster, IngestError, RosterInfo};
use rust_xlsxwriter::Workbook;

fn read(path: &Path, sheet: Option<&str>) -> Result<(RosterInfo, Vec<RosterRow>), IngestError> {
    let mut rows = Vec::new();
    let info = read_roster(path, "rosters/2026-11/dibao.xlsx", Program::Dibao, sheet, &mut |r| rows.push(r))?;
    Ok((info, rows))
}

/// A roster as village offices send it: a title row, headers in their own order,
/// full-width and spaced, numbers where text belongs, a blank row.
fn roster_xlsx(dir: &Path) -> PathBuf {
    let path = dir.join("dibao.xlsx");
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "见第二页").unwrap();
    let ws = wb.add_worksheet().set_name("花名册").unwrap();
    ws.write_string(0, 0, "示例县2026年11月低保发放名册").unwrap();
    let header =
        ["序号", "金 额", "姓　名", "银行账号", "村（社区）", "身份证号码", "ａｍｏｕｎｔ_x", "乡镇（街道）", "备注"];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(2, c as u16, *h).unwrap();
    }
    // Row 4 (index 3): an amount with a float artefact, an account typed as a number.
    ws.write_number(3, 0, 1.0).unwrap();
    ws.write_number(3, 1, 395.99999999999994).unwrap();
    ws.write_string(3, 2, "张三").unwrap();
    ws.write_number(3, 3, 6.22848e18).unwrap();
    ws.write_string(3, 4, "东村").unwrap();
    ws.write_number(3, 5, 110105194912310021.0).unwrap();
    ws.write_string(3, 7, "城关镇").unwrap();
    // Row 5 left blank; row 6 has only a 序号 (not a data row); row 7 is text.
    ws.write_number(5, 0, 2.0).unwrap();
    ws.write_string(6, 1, "396.00").unwrap();
    ws.write_string(6, 2, "李四").unwrap();
    ws.write_string(6, 3, "6228480000000000017").unwrap();
    ws.write_string(6, 4, "西村").unwrap();
    ws.write_string(6, 5, "11010519491231002X").unwrap();
    ws.write_string(6, 7, "城关镇").unwrap();
    ws.write_boolean(6, 8, true).unwrap();
    wb.save(&path).unwrap();
    path
}

#[test]
fn xlsx_named_sheet_with_title_shuffled_fullwidth_headers_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = roster_xlsx(dir.path());
    let (info, rows) = read(&path, Some("花名册")).unwrap();
    assert_eq!(info, RosterInfo { encoding: "xlsx", data_rows: 2 });
    let r = &rows[0];
    assert_eq!(r.pos.row, 4);
    assert_eq!(*r.cell(Field::Amount), Cell::Number("395.99999999999994".into()));
    assert_eq!(*r.cell(Field::Account), Cell::Number("6228480000000000000".into()));
    assert_eq!(*r.cell(Field::IdNumber), Cell::Number("110105194912310020".into()));
    assert_eq!(r.text(Field::Name), "张三");
    assert_eq!(r.text(Field::Township), "城关镇");
    assert_eq!(r.text(Field::Village), "东村");
    let r = &rows[1];
    assert_eq!(r.pos.row, 7, "blank rows and a row with only 序号 are skipped, numbers stay visible ones");
    assert_eq!(*r.cell(Field::Amount), Cell::Text("396.00".into()));
    assert_eq!(*r.cell(Field::IdNumber), Cell::Text("11010519491231002X".into()));
    assert_eq!(*r.cell(Field::Note), Cell::Text("TRUE".into()));
}

#[test]
fn first_sheet_is_the_default_and_a_missing_sheet_lists_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = roster_xlsx(dir.path());
    let err = read(&path, None).unwrap_err().to_string();
    assert!(err.contains("no header row"), "the first sheet 说明 has no roster: {err}");
    let err = read(&path, Some("Sheet9")).unwrap_err().to_string();
    assert!(err.contains("no sheet named 'Sheet9'") && err.contains("'说明', '花名册'"), "{err}");
}

#[test]
fn range_not_starting_at_a1_keeps_sheet_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offset.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let header = ["township", "Village", "NAME", "id_number", "Account", "AMOUNT"];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(4, 2 + c as u16, *h).unwrap();
        ws.write_string(5, 2 + c as u16, format!("v{c}")).unwrap();
    }
    wb.save(&path).unwrap();
    let (_, rows) = read(&path, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].pos.row, 6);
    assert_eq!(rows[0].text(Field::Township), "v0");
    assert_eq!(rows[0].text(Field::Amount), "v5");
}

#[test]
fn xlsx_duplicate_and_missing_headers_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["乡镇", "村居", "姓名", "身份证号", "卡号", "金额", "补贴金额"].iter().enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    wb.save(&path).unwrap();
    let err = read(&path, None).unwrap_err().to_string();
    assert!(err.contains("F '金额'") && err.contains("G '补贴金额'"), "{err}");

    let path = dir.path().join("missing.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["乡镇", "村居", "姓名", "金额"].iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    wb.save(&path).unwrap();
    let err = read(&path, None).unwrap_err().to_string();
    assert!(err.contains("row 2") && err.contains("身份证号 (id_number), 银行账号 (account)"), "{err}");
}

#[test]
fn a_zip_that_is_not_a_workbook_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photos.xlsx");
    // A minimal empty zip archive with one stored file that is not a workbook part.
    let mut zip = b"PK\x03\x04\x0a\0\0\0\0\0\0\0\0\0".to_vec();
    zip.extend_from_slice(&[0; 16]);
    std::fs::write(&path, &zip).unwrap();
    let err = read(&path, None).unwrap_err().to_string();
    assert!(err.contains("workbook could not be read"), "{err}");
}

#[test]
fn legacy_xls_is_read() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ingest/roster.xls");
    let (info, rows) = read(&path, Some("花名册")).unwrap();
    assert_eq!(info, RosterInfo { encoding: "xls", data_rows: 3 });
    let got: Vec<(u64, &str, &str)> =
        rows.iter().map(|r| (r.pos.row, r.text(Field::Name), r.text(Field::Village))).collect();
    assert_eq!(got, [(3, "张三", "东村"), (4, "李四", "西村"), (6, "王五", "南村")]);
    assert_eq!(*rows[0].cell(Field::Amount), Cell::Number("396".into()));
    assert_eq!(*rows[1].cell(Field::Amount), Cell::Number("395.99999999999994".into()));
    assert_eq!(*rows[1].cell(Field::Account), Cell::Number("6228480000000000000".into()));
    assert_eq!(*rows[2].cell(Field::Amount), Cell::Text("400.00".into()));
    assert_eq!(rows[0].text(Field::IdNumber), "11010519491231002X");
    assert_eq!(rows[0].text(Field::Township), "城关镇");
}
