//! Control files: approvals, stop list, corrections. Good files parse exactly; a
//! bad line refuses the whole file, naming the row and what is wrong.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use disburse::domain::Program;
use disburse::ingest::{read_approvals, read_corrections, read_stops, Correction, Stop, StopReason};
use rust_decimal_macros::dec;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn approvals_parse_exact_totals_in_any_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let text = "program,count,total,reference,approved_by,approved_on\n\
                dibao,1203,\"476,399.99\",民审〔2026〕11号,王科长,2026-11-05\n\
                \n\
                wubao,12,￥4800.005,,,\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    for (name, bytes) in [("utf8.csv", text.as_bytes().to_vec()), ("gbk.csv", gbk.into_owned())] {
        let a = read_approvals(&write(dir.path(), name, &bytes), "approvals.csv").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].program, a[0].count, a[0].total), (Program::Dibao, 1203, dec!(476399.99)));
        assert_eq!(a[0].reference, "民审〔2026〕11号");
        assert_eq!(a[0].approved_by, "王科长");
        assert_eq!(a[0].approved_on, "2026-11-05");
        assert_eq!(a[1].total, dec!(4800.005), "the total is kept exactly as written");
        assert_eq!(a[1].total.scale(), 3);
    }
}

#[test]
fn approvals_bad_lines_refuse_with_row() {
    let dir = tempfile::tempdir().unwrap();
    let head = "program,count,total,reference,approved_by,approved_on\n";
    let cases = [
        ("dibao,10,100\nbaoxian,1,1\n", "row 3, program", "unknown program 'baoxian'"),
        ("dibao,ten,100\n", "row 2, count", "'ten' is not a whole number"),
        ("dibao,10,1.2.3\n", "row 2, total", "'1.2.3' is not a number"),
        ("dibao,10,\n", "row 2, total", "amount is empty"),
        ("dibao,10,100\n\ndibao,11,110\n", "row 4, program", "approved twice (also on row 2)"),
    ];
    for (body, at, why) in cases {
        let path = write(dir.path(), "a.csv", format!("{head}{body}").as_bytes());
        let err = read_approvals(&path, "rosters/2026-11/approvals.csv").unwrap_err().to_string();
        assert!(err.starts_with(&format!("rosters/2026-11/approvals.csv: {at}")), "{err}");
        assert!(err.contains(why), "{err}");
    }
    let path = write(dir.path(), "b.csv", b"program,count,reference\ndibao,1,x\n");
    let err = read_approvals(&path, "approvals.csv").unwrap_err().to_string();
    assert!(err.contains("lacks the column(s) total") && err.contains("program,count,total,reference"), "{err}");
    let err = read_approvals(&dir.path().join("none.csv"), "approvals.csv").unwrap_err().to_string();
    assert!(err.contains("approvals.csv: file not found"), "{err}");
    let err = read_approvals(&write(dir.path(), "e.csv", b""), "approvals.csv").unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn stops_parse_normalised_ids_reasons_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{FEFF}id_number,reason,effective\n\
                 １１０１０５１９４９１２３１００２ｘ ,death,2026-10-15\n\
                110105194912310038,迁出,2026/11/01\n";
    let stops = read_stops(&write(dir.path(), "stops.csv", text.as_bytes()), "stops.csv").unwrap();
    assert_eq!(
        stops,
        [
            Stop {
                id_number: "11010519491231002X".into(),
                reason: StopReason::Death,
                effective: NaiveDate::from_ymd_opt(2026, 10, 15).unwrap(),
                row: 2,
                program: None,
            },
            Stop {
                id_number: "110105194912310038".into(),
                reason: StopReason::Moved,
                effective: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                row: 3,
                program: None,
            },
        ]
    );
}

#[test]
fn stops_bad_lines_refuse_with_row_and_masked_id() {
    let dir = tempfile::tempdir().unwrap();
    let head = "id_number,reason,effective\n11010519491231002X,death,2026-10-15\n";
    let cases = [
        ("110105194912310022,death,2026-10-15\n", "row 3, id_number", "check digit"),
        ("11010519491231002X,holiday,2026-10-15\n", "row 3, reason", "'holiday' is not one of"),
        ("11010519491231002X,prison,next week\n", "row 3, effective", "'next week' is not a date"),
    ];
    for (body, at, why) in cases {
        let path = write(dir.path(), "s.csv", format!("{head}{body}").as_bytes());
        let err = read_stops(&path, "stops.csv").unwrap_err().to_string();
        assert!(err.starts_with(&format!("stops.csv: {at}")) && err.contains(why), "{err}");
        assert!(!err.contains("110105194912310022"), "full ID in message: {err}");
    }
}

#[test]
fn corrections_parse_and_refuse_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = "end_to_end_id,account,bank,payee_name\n\
                DB202611R0010000042, 6228 4800 0000 0000 017 ,农业银行城关支行,张三\n\
                DB202611R0010000043,6228480000000000025,,\n";
    let c = read_corrections(&write(dir.path(), "c.csv", text.as_bytes()), "corrections.csv").unwrap();
    assert_eq!(
        c[0],
        Correction {
            end_to_end_id: "DB202611R0010000042".into(),
            account: "6228480000000000017".into(),
            bank: "农业银行城关支行".into(),
            payee_name: "张三".into(),
            payee_type: String::new(),
            verified_by: String::new(),
            row: 2,
        }
    );
    assert_eq!((c[1].bank.as_str(), c[1].payee_name.as_str(), c[1].row), ("", "", 3));

    let head = "end_to_end_id,account,bank,payee_name\nDB202611R0010000042,6228480000000000017,,\n";
    let cases = [
        ("DB202611R0010000043,6.22848E+18,,\n", "row 3, account", "float"),
        ("DB202611R0010000043,62284800000000000x7,,\n", "row 3, account", "only digits"),
        ("DB202611R0010000042,6228480000000000025,,\n", "row 3, end_to_end_id", "corrected twice"),
        (",6228480000000000025,,\n", "row 3, end_to_end_id", "not a payment reference"),
    ];
    for (body, at, why) in cases {
        let path = write(dir.path(), "c.csv", format!("{head}{body}").as_bytes());
        let err = read_corrections(&path, "corrections.csv").unwrap_err().to_string();
        assert!(err.starts_with(&format!("corrections.csv: {at}")) && err.contains(why), "{err}");
        assert!(!err.contains("6228480000000000025"), "full account in message: {err}");
    }
}
