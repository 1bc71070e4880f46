//! pain.001 v03/v09: every file a test writes is validated with xmllint against the
//! ISO XSD; control totals, escaping, Chinese text and refusals are checked.

#[path = "bankfile_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The ISO 20022 schemas vendored under fixtures/xsd (see its SOURCES.md).
fn xsd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/xsd")
}
use disburse::bankfile::{BankFileError, Format, ParsedPayment, WrittenFile};
use disburse::domain::{Fen, Length, TextEncoding};

/// Validates with xmllint; fails (never skips) when xmllint is missing unless
/// DISBURSE_SKIP_XMLLINT=1.
fn xmllint(file: &Path, version: &str) {
    let xsd = xsd_dir().join(format!("pain.001.001.{version}.xsd"));
    let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(file).output();
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "{} is not valid against {}:\n{}",
            file.display(),
            xsd.display(),
            String::from_utf8_lossy(&o.stderr).chars().take(3000).collect::<String>()
        ),
        Err(e) if std::env::var("DISBURSE_SKIP_XMLLINT").as_deref() == Ok("1") => {
            eprintln!("xmllint not run ({e}); DISBURSE_SKIP_XMLLINT=1")
        }
        Err(e) => panic!("xmllint is needed to validate pain.001 ({e}); run `apt-get install -y libxml2-utils` or set DISBURSE_SKIP_XMLLINT=1"),
    }
}

fn expected(l: &disburse::domain::PaymentLine) -> ParsedPayment {
    ParsedPayment {
        end_to_end_id: l.end_to_end_id.to_string(),
        name: l.payee_name.to_string(),
        account: l.account.as_str().to_string(),
        id_number: Some(l.id_number.as_str().to_string()),
        amount: l.amount,
    }
}

fn write(name: &str, lines: &[disburse::domain::PaymentLine], dir: &Path) -> Result<Vec<WrittenFile>, BankFileError> {
    let (o, p) = (office(), payer());
    let f = Format::load(name, Path::new("/nonexistent")).unwrap();
    f.write(&batch(&o, &p, lines), dir)
}

#[test]
fn small_files_validate_and_round_trip() {
    let lines = vec![
        line(1, "张三", 76500, "402331000007"),
        line(2, "A&B <C> \"D\" 'E'", 1, "某县农村信用合作联社城关分社"),
        line(3, "欧阳娜娜", 123456789, ""),
    ];
    for (name, v) in
        [("pain001-v03", "03"), ("pain001-v09", "09"), ("pain001-v03-indented", "03"), ("pain001-v09-indented", "09")]
    {
        let dir = tempfile::tempdir().unwrap();
        let files = write(name, &lines, dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f.file_name, "DB202611R001.xml");
        assert_eq!((f.lines, f.total), (3, Fen(76500 + 1 + 123456789)));
        xmllint(&f.path, v);
        let bytes = std::fs::read(&f.path).unwrap();
        assert_eq!(f.size, bytes.len() as u64);
        assert_eq!(f.sha256, disburse::fsutil::sha256_hex(&bytes));
        let xml = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(xml.matches("<NbOfTxs>3</NbOfTxs>").count(), 2, "NbOfTxs at group and PmtInf level");
        assert_eq!(xml.matches("<CtrlSum>1235332.90</CtrlSum>").count(), 2, "CtrlSum at both levels");
        assert!(xml.contains(r#"<InstdAmt Ccy="CNY">0.01</InstdAmt>"#));
        assert!(xml.contains(r#"<InstdAmt Ccy="CNY">765.00</InstdAmt>"#));
        assert!(xml.contains("A&amp;B &lt;C&gt;"), "names escaped");
        assert!(xml.contains("<Cd>SSBE</Cd>") && xml.contains("<Cd>NIDN</Cd>") && xml.contains("<Cd>CNAPS</Cd>"));
        assert!(xml.contains("<MmbId>402331000007</MmbId>"));
        assert!(xml.contains("<Nm>某县农村信用合作联社城关分社</Nm>"));
        assert!(xml.contains("<CreDtTm>2026-11-20T09:30:00+08:00</CreDtTm>"));
        assert!(xml.contains("<Ustrd>2026年11月城乡最低生活保障金 张三</Ustrd>"));
        let flat: String = xml.lines().map(str::trim).collect();
        assert!(flat.contains("<Purp><Cd>BENE</Cd></Purp>"), "{flat}");
        if v == "09" {
            assert!(flat.contains("<ReqdExctnDt><Dt>2026-11-25</Dt></ReqdExctnDt>"));
        } else {
            assert!(xml.contains("<ReqdExctnDt>2026-11-25</ReqdExctnDt>"));
        }
        let f2 = Format::load(name, dir.path()).unwrap();
        let back = f2.read_payments(&bytes).unwrap();
        assert_eq!(back, lines.iter().map(expected).collect::<Vec<_>>());
        assert_eq!(f2.count_and_total(&bytes).unwrap(), (3, Fen(123533290)));
    }
}

#[test]
fn large_files_validate() {
    let lines = lines(20_000);
    let total: Fen = lines.iter().map(|l| l.amount).sum();
    for (name, v) in
        [("pain001-v03", "03"), ("pain001-v09", "09"), ("pain001-v03-indented", "03"), ("pain001-v09-indented", "09")]
    {
        let dir = tempfile::tempdir().unwrap();
        let files = write(name, &lines, dir.path()).unwrap();
        assert_eq!((files[0].lines, files[0].total), (20_000, total));
        xmllint(&files[0].path, v);
        let bytes = std::fs::read(&files[0].path).unwrap();
        let f = Format::load(name, dir.path()).unwrap();
        assert_eq!(f.count_and_total(&bytes).unwrap(), (20_000, total));
        let xml = String::from_utf8(bytes).unwrap();
        assert_eq!(xml.matches(&format!("<CtrlSum>{}</CtrlSum>", total.yuan_string())).count(), 2);
    }
}

#[test]
fn long_names_are_refused_never_cut() {
    let ok = "张".repeat(140);
    let dir = tempfile::tempdir().unwrap();
    let files = write("pain001-v09", &[line(1, &ok, 100, "")], dir.path()).unwrap();
    xmllint(&files[0].path, "09");
    let too_long = "张".repeat(141);
    let dir = tempfile::tempdir().unwrap();
    let err = write("pain001-v03", &[line(1, "张三", 100, ""), line(2, &too_long, 100, "")], dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("DB202611R0010000002") && msg.contains("141"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
    let err = write("pain001-v03", &[line(1, "张\n三", 100, "")], dir.path()).unwrap_err();
    assert!(err.to_string().contains("control"), "{err}");
}

#[test]
fn text_rules_and_tampering() {
    let f = Format::load("pain001-v03", Path::new("/nonexistent")).unwrap();
    let r = f.text_rules();
    assert_eq!((r.encoding, r.name_max), (TextEncoding::Utf8, Some(Length::Chars(140))));
    assert!(f.read_returns(b"x", "r.txt").is_err());
    let dir = tempfile::tempdir().unwrap();
    let files = write("pain001-v03", &lines(3), dir.path()).unwrap();
    let xml = std::fs::read_to_string(&files[0].path).unwrap();
    let sum = files[0].total.yuan_string();
    let bad = xml.replacen(&format!("<CtrlSum>{sum}</CtrlSum>"), "<CtrlSum>1.00</CtrlSum>", 1);
    assert!(f.count_and_total(bad.as_bytes()).unwrap_err().to_string().contains("CtrlSum"));
    let bad = xml.replacen("<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>4</NbOfTxs>", 2);
    assert!(f.count_and_total(bad.as_bytes()).is_err());
    assert!(f.read_payments(b"<Document><unclosed>").is_err());
    assert!(f.read_payments(&xml.as_bytes()[..xml.len() / 2]).is_err(), "a file cut short is refused");
}
