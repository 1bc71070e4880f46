//! `disburse returns` applied through the real binary: lines about the same
//! reference in one receipt, known and unknown references mixed, and a whole
//! bank answer applied twice (once as the same bytes, once as other bytes).

mod common;

use common::{expect, office, read_csv, text};
use disburse::domain::PaymentStatus;
use disburse::ledger::{Ledger, SqliteLedger};
use std::path::Path;

fn receipt(txs: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKRPT7</MsgId><CreDtTm>2026-10-27T09:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>DB202610R001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>DB202610R001</OrgnlPmtInfId>
{txs}</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"#
    )
}

fn tx(e2e: &str, sts: &str) -> String {
    let reason = if sts == "RJCT" {
        "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>已销户</AddtlInf></StsRsnInf>"
    } else {
        ""
    };
    format!("<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{sts}</TxSts>{reason}</TxInfAndSts>\n")
}

fn status_of(dir: &Path, e2e: &str) -> (PaymentStatus, String) {
    let l = SqliteLedger::open(&dir.join("state/ledger.db")).unwrap();
    let p = l.payment(e2e).unwrap().unwrap();
    (p.status, p.reason_code)
}

fn flag_rows(dir: &Path) -> Vec<Vec<String>> {
    let flags = dir.join("out/flags");
    let mut all = Vec::new();
    for f in std::fs::read_dir(flags).unwrap() {
        all.extend(read_csv(&f.unwrap().path()).into_iter().skip(1));
    }
    all
}

fn e2e(n: u32) -> String {
    format!("DB202610R001{n:07}")
}

/// Within one receipt a later line about the same reference is decided against
/// the earlier one: pending then settled applies settled; failed then settled is
/// the file contradicting itself: both lines flagged, nothing applied for it.
#[test]
fn the_same_reference_twice_in_one_receipt() {
    let (tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let body =
        [tx(&e2e(1), "PDNG"), tx(&e2e(2), "RJCT"), tx(&e2e(1), "ACSC"), tx(&e2e(2), "ACSC"), tx(&e2e(3), "ACSC")]
            .concat();
    let path = tmp.path().join("twice.xml");
    std::fs::write(&path, receipt(&body)).unwrap();
    let out = expect(&["returns", "--config", c, path.to_str().unwrap()], 2);
    assert!(text(&out).contains("2 updated"), "{}", text(&out));
    assert_eq!(status_of(dir, &e2e(1)).0, PaymentStatus::Settled);
    assert_eq!(status_of(dir, &e2e(2)), (PaymentStatus::Sent, String::new()));
    assert_eq!(status_of(dir, &e2e(3)).0, PaymentStatus::Settled);
    let flags = flag_rows(dir);
    let got: Vec<(&str, &str)> = flags.iter().map(|r| (r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(got, [("2", e2e(2).as_str()), ("4", e2e(2).as_str())]);
    assert!(flags.iter().all(|f| f[3].contains("不同的状态（成功、失败）")), "{flags:?}");
    assert_eq!(flags[1][4], "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[4]");
}

/// Known lines apply, unknown ones are flagged with their position, in file order.
#[test]
fn known_and_unknown_references_mixed() {
    let (tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let body = [
        tx("DB202610R0019999998", "ACSC"),
        tx(&e2e(1), "ACSC"),
        tx("DB202610R0019999997", "RJCT"),
        tx(&e2e(2), "RJCT"),
    ]
    .concat();
    let path = tmp.path().join("mixed.xml");
    std::fs::write(&path, receipt(&body)).unwrap();
    let out = expect(&["returns", "--config", c, path.to_str().unwrap()], 2);
    assert!(text(&out).contains("4 lines, 2 updated, 2 flagged"), "{}", text(&out));
    assert_eq!(status_of(dir, &e2e(1)).0, PaymentStatus::Settled);
    assert_eq!(status_of(dir, &e2e(2)).0, PaymentStatus::Failed);
    let flags = flag_rows(dir);
    let got: Vec<(&str, &str)> = flags.iter().map(|r| (r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(got, [("1", "DB202610R0019999998"), ("3", "DB202610R0019999997")]);
    let failures = read_csv(&dir.join("out/2026-10/returns/failures.csv"));
    assert!(failures.iter().any(|r| r.contains(&e2e(2))), "{failures:?}");
}

/// A whole bank answer (every paid line) applied, then the same bytes (seen by
/// sha256), then the same lines as other bytes (decided again: nothing changes).
#[test]
fn a_whole_answer_applied_twice_changes_nothing() {
    let (tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let bank = tmp.path().join("bank");
    common::fake_bank::answer(&dir.join("out/2026-10"), &bank, 3).unwrap();
    let p002 = bank.join("pain002.xml");
    expect(&["returns", "--config", c, p002.to_str().unwrap()], 2);
    let status = || expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0).stdout;
    let failures = || std::fs::read(dir.join("out/2026-10/returns/failures.csv")).unwrap();
    let (s1, f1) = (status(), failures());
    let v: serde_json::Value = serde_json::from_slice(&s1).unwrap();
    assert!(v["programs"]["dibao"]["failed"]["lines"].as_u64().unwrap() > 0, "{v}");

    let same = expect(&["returns", "--config", c, p002.to_str().unwrap()], 0);
    assert!(text(&same).contains("applied before"), "{}", text(&same));
    let mut other = std::fs::read(&p002).unwrap();
    other.extend_from_slice(b"\n\n");
    let copy = tmp.path().join("copy.xml");
    std::fs::write(&copy, other).unwrap();
    let again = expect(&["returns", "--config", c, copy.to_str().unwrap()], 0);
    assert!(text(&again).contains("0 updated, 0 flagged"), "{}", text(&again));
    assert_eq!(status(), s1);
    assert_eq!(failures(), f1);
}
