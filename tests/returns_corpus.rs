//! Receipts are evidence (SPEC §11): real-world receipt files from public bank and
//! library sources (`fixtures/returns/real/`, see its SOURCES.md) and hand-made
//! contradictions (`fixtures/returns/contradictions/`), each applied by the real
//! binary to the example office after `run --period 2026-10`, with its exact
//! outcome: the exit status, the lines applied, the lines flagged and why.

mod common;

use common::{expect, read_csv, text};
use disburse::domain::PaymentStatus::{self, *};
use disburse::ledger::{Ledger, SqliteLedger};
use std::path::{Path, PathBuf};

struct Case {
    file: &'static str,
    exit: i32,
    /// References and the status (and reason code) the ledger must hold after.
    ledger: &'static [(&'static str, PaymentStatus, &'static str)],
    /// `(reference as shown, XPath, words of the problem)`, exactly these flags in this order.
    flags: &'static [(&'static str, &'static str, &'static str)],
    /// Words the summary (or the refusal) must contain.
    message: &'static [&'static str],
    /// `status --json` is the same before and after.
    unchanged: bool,
}

const PAIN: &str = "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]";

/// An office after `run --period 2026-10`, made once and copied for each case.
fn paid_office() -> &'static Path {
    static OFFICE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, dir) = OFFICE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("office");
        expect(&["init", dir.to_str().unwrap()], 0);
        let config = dir.join("disburse.toml");
        expect(&["run", "--config", config.to_str().unwrap(), "--period", "2026-10"], 2);
        (tmp, dir)
    });
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn check(dir: &str, case: &Case) {
    let tmp = tempfile::tempdir().unwrap();
    let office = tmp.path().join("office");
    copy_dir(paid_office(), &office);
    let c = office.join("disburse.toml");
    let c = c.to_str().unwrap();
    let file = format!("{}/fixtures/returns/{dir}/{}", env!("CARGO_MANIFEST_DIR"), case.file);
    let status = || expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0).stdout;
    let before = status();
    let out = expect(&["returns", "--config", c, &file], case.exit);
    let said = text(&out);
    for m in case.message {
        assert!(said.contains(m), "{}: no '{m}' in:\n{said}", case.file);
    }
    if case.unchanged {
        assert_eq!(status(), before, "{}: flagged lines change nothing", case.file);
    }
    let ledger = SqliteLedger::open(&office.join("state/ledger.db")).unwrap();
    for (e2e, st, code) in case.ledger {
        let p = ledger.payment(e2e).unwrap().unwrap();
        assert_eq!((p.status, p.reason_code.as_str()), (*st, *code), "{}: {e2e}", case.file);
    }
    let mut flags = Vec::new();
    if let Ok(list) = std::fs::read_dir(office.join("out/flags")) {
        for f in list {
            flags.extend(read_csv(&f.unwrap().path()).into_iter().skip(1));
        }
    }
    assert_eq!(flags.len(), case.flags.len(), "{}: {flags:?}", case.file);
    for (row, (e2e, at, why)) in flags.iter().zip(case.flags) {
        assert_eq!((row[2].as_str(), row[4].as_str()), (*e2e, *at), "{}: {row:?}", case.file);
        assert!(row[3].contains(why), "{}: '{}' does not say '{why}'", case.file, row[3]);
    }
}

/// Real-world receipts (SOURCES.md says where each is from and how it was adapted).
#[test]
fn real_world_receipts() {
    let cases = [
        // A PostFinance return (camt.054.001.04): a booked credit, RRTN, AC01.
        Case {
            file: "camt054_04_postfinance_return.xml",
            exit: 2,
            ledger: &[("DB202610R0010000001", Returned, "AC01"), ("DB202610R0010000002", Sent, "")],
            flags: &[],
            message: &["1 lines, 1 updated, 0 flagged", "1 failed or returned to handle"],
            unchanged: false,
        },
        // The same return as camt.054.001.06.
        Case {
            file: "camt054_06_postfinance_return.xml",
            exit: 2,
            ledger: &[("DB202610R0010000002", Returned, "AC01")],
            flags: &[],
            message: &["1 updated"],
            unchanged: false,
        },
        // PostFinance's debit notification of an outgoing payment: ours, but a debit.
        Case {
            file: "camt054_04_postfinance_debit_ours.xml",
            exit: 2,
            ledger: &[("DB202610R0010000003", Sent, "")],
            flags: &[(
                "DB202610R0010000003",
                "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]",
                "借记分录",
            )],
            message: &["0 updated, 1 flagged"],
            unchanged: true,
        },
        // dvbern's sample: a booked credit with RvslInd (our debit reversed: a return),
        // a pending credit, and a debit entry whose transaction says CRDT.
        Case {
            file: "camt054_04_dvbern_reversal_pending_debit.xml",
            exit: 2,
            ledger: &[
                ("DB202610R0010000001", Returned, "NARR"),
                ("DB202610R0010000002", Sent, ""),
                ("DB202610R0010000003", Sent, ""),
            ],
            flags: &[
                (
                    "DB202610R0010000002",
                    "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]",
                    "PDNG",
                ),
                (
                    "DB202610R0010000003",
                    "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[3]/NtryDtls[1]/TxDtls[1]",
                    "借记分录",
                ),
            ],
            message: &["3 lines, 1 updated, 2 flagged"],
            unchanged: false,
        },
        // Real files naming nothing of ours: read, nothing changes, nobody is bothered.
        Case {
            file: "camt054_08_postfinance_notprovided.xml",
            exit: 0,
            ledger: &[],
            flags: &[],
            message: &["0 lines, 0 updated, 0 flagged"],
            unchanged: true,
        },
        Case {
            file: "camt054_02_fkl_finnish_credit_advice.xml",
            exit: 0,
            ledger: &[],
            flags: &[],
            message: &["4 lines, 0 updated, 0 flagged"],
            unchanged: true,
        },
        // PostFinance's batch rejection in the Swiss namespace: not an ISO one, refused.
        Case {
            file: "pain002_ch02_postfinance_batch_rjct.xml",
            exit: 1,
            ledger: &[],
            flags: &[],
            message: &[
                "http://www.six-interbank-clearing.com/de/pain.002.001.03.ch.02.xsd",
                "not an ISO 20022 namespace",
            ],
            unchanged: true,
        },
        // The same in the ISO namespace: a batch and a message we never sent.
        Case {
            file: "pain002_03_postfinance_not_ours.xml",
            exit: 2,
            ledger: &[],
            flags: &[
                (
                    "EndToEndId-006-01-01",
                    "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[1]",
                    "未知的业务参考号",
                ),
                ("PmtInfId-006-01", PAIN, "原报文号MsgId-006不是本单位发出的付款报文"),
            ],
            message: &["0 updated"],
            unchanged: true,
        },
        // The same naming our dibao file and batch: the batch rejection covers all its lines.
        Case {
            file: "pain002_03_postfinance_rjct_ours.xml",
            exit: 2,
            ledger: &[("DB202610R0010000002", Failed, "AC01"), ("DB202610R0010000001", Failed, "NARR")],
            flags: &[],
            message: &["40 lines, 39 updated, 0 flagged"],
            unchanged: false,
        },
    ];
    for case in &cases {
        check("real", case);
    }
}

/// One hand-made file per kind of contradiction: the contradicting lines are
/// flagged and change nothing; the good line of the same file applies.
#[test]
fn contradictions_are_flagged_never_resolved() {
    let tx = |n: u32| format!("{PAIN}/TxInfAndSts[{n}]");
    let one = |why: &'static str| -> Vec<(String, &'static str)> { vec![(tx(1), why)] };
    let cases: [(&str, Vec<(String, &str)>); 6] = [
        ("tx_two_statuses.xml", one("有两个不同的状态")),
        ("tx_two_references.xml", one("有两个不同的业务参考号")),
        ("tx_two_amounts.xml", one("有两个不同的金额")),
        ("tx_amount_mixed_content.xml", one("金额中夹有其他元素")),
        ("file_rjct_then_acsc.xml", vec![(tx(1), "不同的状态（成功、失败）"), (tx(2), "不同的状态（成功、失败）")]),
        ("file_acsc_then_rjct.xml", vec![(tx(1), "不同的状态（成功、失败）"), (tx(2), "不同的状态（成功、失败）")]),
    ];
    for (file, flags) in cases {
        let flags: Vec<(&str, &str, &str)> =
            flags.into_iter().map(|(at, why)| ("YF202610R0010000001", &*Box::leak(at.into_boxed_str()), why)).collect();
        let flags: &'static [(&str, &str, &str)] = Box::leak(flags.into_boxed_slice());
        let case = Case {
            file: Box::leak(file.to_string().into_boxed_str()),
            exit: 2,
            ledger: &[("YF202610R0010000001", Sent, ""), ("YF202610R0010000003", Settled, "")],
            flags,
            message: &["1 updated"],
            unchanged: false,
        };
        check("contradictions", &case);
    }
}

/// What a receipt echoes is masked where it looks like an account or ID number:
/// unknown references in the summary and the flag list, numbers inside the
/// bank's words in the ledger's reason text.
#[test]
fn echoes_are_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let office = tmp.path().join("office");
    copy_dir(paid_office(), &office);
    let c = office.join("disburse.toml");
    let c = c.to_str().unwrap();
    let tx = |e2e: &str, sts: &str, why: &str| {
        format!(
            "<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{sts}</TxSts>\
             <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>{why}</AddtlInf></StsRsnInf></TxInfAndSts>\n"
        )
    };
    let body = [
        tx("6222020200112233445", "RJCT", "账号6222020200112233445已销户"),
        tx("YF202610R0010000002", "RJCT", "身份证330729196007088936与户名不符"),
        tx("11010519491231002X", "ACSC", ""),
        tx("62220202", "ACSC", ""),
    ]
    .concat();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt>\n\
         <GrpHdr><MsgId>M1</MsgId></GrpHdr>\n\
         <OrgnlGrpInfAndSts><OrgnlMsgId>YF202610R001</OrgnlMsgId></OrgnlGrpInfAndSts>\n\
         <OrgnlPmtInfAndSts><OrgnlPmtInfId>YF202610R001</OrgnlPmtInfId>\n{body}</OrgnlPmtInfAndSts>\
         </CstmrPmtStsRpt></Document>\n"
    );
    let file = tmp.path().join("echo.xml");
    std::fs::write(&file, xml).unwrap();
    let out = expect(&["returns", "--config", c, file.to_str().unwrap()], 2);
    let mut shown = text(&out);
    for f in std::fs::read_dir(office.join("out/flags")).unwrap() {
        shown.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    for full in ["6222020200112233445", "11010519491231002X", "62220202"] {
        assert!(!shown.contains(full), "{full} shown in full:\n{shown}");
    }
    for masked in ["***************3445", "110105********002X", "****0202"] {
        assert!(shown.contains(masked), "{masked} missing:\n{shown}");
    }
    let ledger = SqliteLedger::open(&office.join("state/ledger.db")).unwrap();
    let p = ledger.payment("YF202610R0010000002").unwrap().unwrap();
    assert_eq!((p.status, p.reason_text.as_str()), (Failed, "身份证330729********8936与户名不符"));
}
