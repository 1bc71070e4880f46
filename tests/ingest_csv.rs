//! CSV rosters: encodings detected without being told, header search, row
//! numbers as a person sees them, and refusals of files that cannot be read.

use std::path::{Path, PathBuf};

use disburse::domain::{Cell, Field, Program, RosterRow};
use disburse::ingest::{read_roster, IngestError, RosterInfo};

const HEADER: &str = "乡镇,村(社区),姓名,身份证号,银行账号,金额";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gbk(s: &str) -> Vec<u8> {
    let (b, _, unmappable) = encoding_rs::GBK.encode(s);
    assert!(!unmappable);
    b.into_owned()
}

fn read(path: &Path) -> Result<(RosterInfo, Vec<RosterRow>), IngestError> {
    let mut rows = Vec::new();
    let info = read_roster(path, "rosters/2026-11/dibao.csv", Program::Dibao, None, &mut |r| rows.push(r))?;
    Ok((info, rows))
}

fn refused(path: &Path) -> String {
    read(path).map(|_| ()).unwrap_err().to_string()
}

fn body() -> String {
    format!("{HEADER}\n城关镇,东村,张三,11010519491231002X,6228480000000000017,396.00\n城关镇,西村,李四,110105194912310021,6228480000000000025,\"1,200.00\"\n")
}

#[test]
fn utf8_bom_and_gbk_are_detected_and_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("utf8.csv", body().into_bytes(), "UTF-8"),
        ("bom.csv", [b"\xEF\xBB\xBF".as_slice(), body().as_bytes()].concat(), "UTF-8 (BOM)"),
        ("gbk.csv", gbk(&body()), "GBK"),
    ];
    for (name, bytes, enc) in cases {
        let (info, rows) = read(&write(dir.path(), name, &bytes)).unwrap();
        assert_eq!(info.encoding, enc, "{name}");
        assert_eq!(info.data_rows, 2, "{name}");
        assert_eq!(rows[0].text(Field::Township), "城关镇", "{name}: the BOM must not stick to the first header");
        assert_eq!(rows[0].text(Field::Name), "张三", "{name}");
        assert_eq!(rows[1].text(Field::Name), "李四", "{name}");
        assert_eq!(rows[1].text(Field::Amount), "1,200.00", "{name}");
        assert_eq!(rows[0].pos.row, 2);
        assert_eq!(rows[0].pos.file, "rosters/2026-11/dibao.csv");
    }
}

/// A roster's path is often longer than a short text holds inline: its rows
/// share one kept copy instead of each carrying its own (see `file_text`).
#[test]
fn rows_share_their_rosters_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = read(&write(dir.path(), "d.csv", body().as_bytes())).unwrap();
    let name = "rosters/2026-11/dibao.csv";
    assert!(name.len() > 24, "the name must be too long to sit inline");
    for r in &rows {
        assert_eq!(r.pos.file, name);
        assert!(!r.pos.file.is_heap_allocated() && !r.pos.file.clone().is_heap_allocated());
        assert_eq!(r.pos.file.as_ptr(), disburse::domain::file_text(name).as_ptr(), "the one kept copy");
    }
}

#[test]
fn gbk_detected_when_chinese_only_appears_after_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = "township,village,name,id_number,account,amount\n".to_string();
    text.push_str(&"a,b,c,d,e,1\n".repeat(100));
    text.push_str("城关镇,东村,王五,x,y,2\n");
    let (info, rows) = read(&write(dir.path(), "late.csv", &gbk(&text))).unwrap();
    assert_eq!(info.encoding, "GBK");
    assert_eq!(rows.last().unwrap().text(Field::Name), "王五");
}

#[test]
fn utf8_file_that_turns_invalid_later_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("{HEADER}\n").into_bytes();
    for _ in 0..10_000 {
        bytes.extend_from_slice("城关镇,东村,张三,1,2,3\n".as_bytes());
    }
    // Past the 64 KiB detection window: a GBK-encoded line.
    bytes.extend_from_slice(&gbk("城关镇,东村,李四,1,2,3\n"));
    let err = refused(&write(dir.path(), "mixed.csv", &bytes));
    assert!(err.contains("line 10002") && err.contains("UTF-8"), "{err}");
}

#[test]
fn invalid_gbk_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = gbk(&format!("{HEADER}\n城关镇,东村,张三,1,2,3\n"));
    bytes.extend_from_slice(b"a,b,\x81\x20,1,2,3\n");
    let err = refused(&write(dir.path(), "bad.csv", &bytes));
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn tab_delimited_gbk_export_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = "乡镇\t村(社区)\t姓名\t身份证号\t银行账号\t金额\n城关镇\t东村\t张三\t1\t2\t1,200.00\n";
    let (info, rows) = read(&write(dir.path(), "tabs.txt", &gbk(text))).unwrap();
    assert_eq!((info.encoding, info.data_rows), ("GBK", 1));
    assert_eq!(rows[0].text(Field::Name), "张三");
    assert_eq!(rows[0].text(Field::Amount), "1,200.00");
}

#[test]
fn english_headers_any_case_shuffled_unknown_columns_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text = "No.,Amount,NAME,Account,ID_Number,Village,Township,Payee_Name,Remark\n\
                1,396,Zhang San,6228480000000000017,11010519491231002X,East,Town,Li Si,x\n";
    let (_, rows) = read(&write(dir.path(), "en.csv", text.as_bytes())).unwrap();
    let r = &rows[0];
    assert_eq!(r.text(Field::Amount), "396");
    assert_eq!(r.text(Field::Name), "Zhang San");
    assert_eq!(r.text(Field::Township), "Town");
    assert_eq!(r.text(Field::PayeeName), "Li Si");
    assert_eq!(r.cells.len(), 7, "only recognised columns are carried: {:?}", r.cells);
    assert_eq!(*r.cell(Field::Note), Cell::Empty);
}

#[test]
fn title_rows_blank_rows_trailing_separators_and_embedded_newlines_keep_visible_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "示例县2026年11月低保发放名册,,,,,\n\
                制表单位：示例县民政局\n\
                \n\
                序号, 乡　镇 ,村（社区）,姓 名,身份证号码,卡号,发放金额,备注,,\n\
                1,城关镇,东村,张三,11010519491231002X,6228480000000000017,396,,,\n\
                ,,,,,,,,,\n\
                2,城关镇,西村,李四,110105194912310021,6228480000000000025,200,\"两行\n备注\",,\n\
                \n\
                3,城关镇,南村,王五,110105194912310037\n\
                4,,,,,,,,\n\
                ,,,,,,,,,\n";
    let (info, rows) = read(&write(dir.path(), "layout.csv", text.as_bytes())).unwrap();
    let seen: Vec<(u64, &str)> = rows.iter().map(|r| (r.pos.row, r.text(Field::Name))).collect();
    assert_eq!(seen, vec![(5, "张三"), (7, "李四"), (10, "王五")]);
    assert_eq!(info.data_rows, 3);
    assert_eq!(rows[1].text(Field::Note), "两行\n备注");
    assert_eq!(*rows[2].cell(Field::Amount), Cell::Empty, "a short row has its missing cells empty");
}

#[test]
fn missing_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = "乡镇,村(社区),姓名,身份证号,备注\n城关镇,东村,张三,1,x\n";
    let err = refused(&write(dir.path(), "missing.csv", text.as_bytes()));
    assert!(err.starts_with("rosters/2026-11/dibao.csv: row 1"), "{err}");
    assert!(err.contains("银行账号 (account)") && err.contains("金额 (amount)"), "{err}");
    assert!(!err.contains("姓名 (name)"), "{err}");
}

#[test]
fn duplicate_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = "乡镇,村(社区),姓名,身份证号,银行账号,金额,账号\n";
    let err = refused(&write(dir.path(), "dup.csv", text.as_bytes()));
    assert!(err.contains("E '银行账号'") && err.contains("G '账号'") && err.contains("account"), "{err}");
}

#[test]
fn no_header_in_first_twenty_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}{HEADER}\n", "说明\n".repeat(20));
    let err = refused(&write(dir.path(), "late_header.csv", text.as_bytes()));
    assert!(err.contains("no header row found in the first 20 rows") && err.contains("身份证号"), "{err}");
    let text = format!("{}{HEADER}\n城关镇,东村,张三,1,2,3\n", "说明\n".repeat(19));
    let (_, rows) = read(&write(dir.path(), "header_20.csv", text.as_bytes())).unwrap();
    assert_eq!(rows[0].pos.row, 21);
}

#[test]
fn unreadable_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(&dir.path().join("nope.csv"));
    assert!(err.contains("dibao.csv: file not found"), "{err}");
    let err = refused(dir.path());
    assert!(err.contains("folder"), "{err}");
    let err = refused(&write(dir.path(), "empty.csv", b""));
    assert!(err.contains("empty"), "{err}");
    let err = refused(&write(dir.path(), "blank.csv", b"\xEF\xBB\xBF\n,,,\n\n"));
    assert!(err.contains("empty"), "{err}");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let err = refused(&write(dir.path(), "photo.csv", png));
    assert!(err.contains("not a CSV file or Excel workbook") && err.contains("PNG"), "{err}");
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let err = refused(&write(dir.path(), "junk.csv", &junk));
    assert!(err.contains("not a CSV file or Excel workbook") || err.contains("not valid"), "{err}");
    let err = refused(&write(dir.path(), "fake.xlsx", body().as_bytes()));
    assert!(err.contains("not an Excel workbook"), "{err}");
}

#[test]
fn messages_never_carry_full_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "乡镇,村(社区),姓名,11010519491231002X,6228480000000000017\n";
    let err = refused(&write(dir.path(), "odd.csv", text.as_bytes()));
    assert!(!err.contains("11010519491231002X") && !err.contains("6228480000000000017"), "{err}");
}

/// Streams many rows (a million in release builds).
#[test]
fn streams_many_rows() {
    let n: u64 = if cfg!(debug_assertions) { 20_000 } else { 1_000_000 };
    many_rows(n);
}

/// Speed is measured by `scripts/bench`, never asserted here.
fn many_rows(n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(w, "{HEADER}").unwrap();
        for i in 0..n {
            writeln!(w, "城关镇,东村,张{i},110105194912310021,6228480000000000017,396.00").unwrap();
        }
    }
    let mut count = 0u64;
    let mut last_row = 0;
    let info = read_roster(&path, "big.csv", Program::Dibao, None, &mut |r| {
        count += 1;
        last_row = r.pos.row;
    })
    .unwrap();
    assert_eq!((info.data_rows, count, last_row), (n, n, n + 1));
}
