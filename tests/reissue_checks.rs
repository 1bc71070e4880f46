//! `reissue` never pays the dead or the stopped, and a corrected payee goes
//! through a roster line's checks (SPEC §8): through the real binary, one failed
//! line for each kind of case, then the same lines again once somebody vouched.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use common::gen::{card, id_number};
use common::small::{office, Office};
use disburse::ledger::{Ledger, SqliteLedger};

/// (end_to_end_id, amount) of each person paid in `period`, by person number.
fn references(o: &Office, period: &str, people: &[u64]) -> BTreeMap<u64, (String, String)> {
    let paid = common::read_csv(&o.dir.join("out").join(period).join("reports/paid.csv"));
    people
        .iter()
        .map(|&n| {
            let row = paid.iter().find(|r| r[5] == id_number(n)).unwrap_or_else(|| panic!("{n} paid"));
            (n, (row[1].clone(), row[7].clone()))
        })
        .collect()
}

/// A pain.002 answering each reference with (status, code, text); status ACSC or RJCT.
fn pain002(answers: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKRPT0009</MsgId><CreDtTm>2026-03-26T09:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>MULTIPLE</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>MULTIPLE</OrgnlPmtInfId>
"#,
    );
    for (e2e, amount, status, code, text) in answers {
        let reason = if code.is_empty() {
            String::new()
        } else {
            format!("<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn><AddtlInf>{text}</AddtlInf></StsRsnInf>")
        };
        writeln!(
            s,
            "<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{status}</TxSts>{reason}<OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">{amount}</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>"
        )
        .unwrap();
    }
    s + "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n"
}

/// (code, person) of each line of the last reissue's exception list.
fn listed(o: &Office, period: &str) -> Vec<(String, String)> {
    let rows = common::read_csv(&o.dir.join("out").join(period).join("returns/reissue_exceptions.csv"));
    assert_eq!(rows[0][4], "code");
    rows[1..].iter().map(|r| (r[4].clone(), r[7].clone())).collect()
}

fn masked(n: u64) -> String {
    disburse::domain::mask_id(&id_number(n))
}

/// The corrections of the period in the ledger: person → (account, verified_by).
fn corrections(o: &Office, period: &str) -> BTreeMap<String, (String, Option<String>)> {
    let ledger = SqliteLedger::open(&o.dir.join("state/ledger.db")).unwrap();
    let lines = ledger.payments_of_period(period.parse().unwrap()).unwrap();
    lines
        .into_iter()
        .filter(|l| l.original_id.is_some())
        .map(|l| {
            let who = ledger.verified_by(&l.end_to_end_id).unwrap();
            (l.id_number.to_string(), (l.account.to_string(), who))
        })
        .collect()
}

#[test]
fn the_dead_the_stopped_and_bad_payees_are_held_and_a_named_check_lets_them_through() {
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path(), "\"monthly\"");
    let people: Vec<u64> = (1..=12).collect();
    o.rosters("2026-03", Some(&people[..11]), Some(&[30]));
    o.run("2026-03", 0);
    let refs = references(&o, "2026-03", &people[..11]);
    let fail = |n: u64, code: &'static str, text: &'static str| {
        let (e2e, amount) = &refs[&n];
        (e2e.clone(), amount.clone(), code, text)
    };
    let answers = [
        fail(1, "MD07", "账户持有人已死亡"),
        fail(2, "NARR", "持卡人已身故，请核实"), // no death code: the reasons table reads the text
        fail(3, "AC04", "已销户"),               // stopped (death) after the run: on the stop list now
        fail(4, "AC04", "已销户"),               // corrected to an account mangled by a spreadsheet (V03)
        fail(5, "AC04", "已销户"),               // a new payee named, not the beneficiary, no type (V06)
        fail(6, "AC04", "已销户"),               // corrected to person 7's account (R05)
        fail(8, "MD07", "账户持有人已死亡"),     // vouched for: paid, the name kept
        fail(9, "AC04", "已销户"),               // a guardian named with its type: paid
        fail(10, "AC04", "已销户"),              // a card failing Luhn: paid, listed (W01)
        fail(11, "AC04", "已销户"),              // moved to 特困 and paid there after the failure (R02)
    ];
    let mut xml: Vec<(&str, &str, &str, &str, &str)> =
        answers.iter().map(|(e, a, c, t)| (e.as_str(), a.as_str(), "RJCT", *c, *t)).collect();
    xml.push((refs[&7].0.as_str(), refs[&7].1.as_str(), "ACSC", "", ""));
    let receipt = tmp.path().join("pain002.xml");
    std::fs::write(&receipt, pain002(&xml)).unwrap();
    common::expect(&["returns", "--config", o.c(), receipt.to_str().unwrap()], 2);
    // The clerk learns of 3's death; 11 is put on the 特困 roster of a second run.
    std::fs::write(o.dir.join("stops.csv"), format!("id_number,reason,effective\n{},death,2026-02-20\n", id_number(3)))
        .unwrap();
    o.rosters("2026-03", Some(&[12]), Some(&[30, 11]));
    o.run("2026-03", 0);

    let line = |n: u64, account: &str, payee: &str, payee_type: &str, verified: &str| {
        format!("{},{account},,{payee},{payee_type},{verified}\n", refs[&n].0)
    };
    let mut bad_card = card(1010);
    bad_card.replace_range(bad_card.len() - 1.., if bad_card.ends_with('1') { "2" } else { "1" });
    let file = |rows: &[String]| {
        let path = tmp.path().join("corrections.csv");
        std::fs::write(
            &path,
            format!("end_to_end_id,account,bank,payee_name,payee_type,verified_by\n{}", rows.concat()),
        )
        .unwrap();
        path
    };
    // An account mangled by a spreadsheet (V03) refuses the whole file: nothing is paid.
    let mangled = file(&[line(9, &card(1009), "李监护", "guardian", ""), line(4, "6.22848E+18", "", "", "")]);
    let args = ["reissue", "--config", o.c(), "--period", "2026-03", "--corrections", mangled.to_str().unwrap()];
    common::expect(&args, 1);
    assert!(corrections(&o, "2026-03").is_empty());
    let first = file(&[
        line(1, &card(1001), "", "", ""),
        line(2, &card(1002), "", "", ""),
        line(3, &card(1003), "", "", ""),
        line(5, &card(1005), "李监护", "", ""),
        line(6, &card(7), "", "", ""),
        line(8, &card(1008), "", "", "城关镇民政办王核实"),
        line(9, &card(1009), "李监护", "guardian", ""),
        line(10, &bad_card, "", "", ""),
        line(11, &card(1011), "", "", ""),
    ]);
    let args = ["reissue", "--config", o.c(), "--period", "2026-03", "--corrections", first.to_str().unwrap()];
    let out = common::expect(&args, 2);
    let printed = common::text(&out);
    let mut got = listed(&o, "2026-03");
    got.sort();
    let mut want: Vec<(String, String)> =
        [("R03", 1), ("R03", 2), ("R03", 3), ("V06", 5), ("R05", 6), ("W01", 10), ("R02", 11)]
            .iter()
            .map(|(c, n)| (c.to_string(), masked(*n)))
            .collect();
    want.sort();
    assert_eq!(got, want, "{printed}");
    assert!(printed.contains("verified_by"), "says how to let a checked person through: {printed}");
    let paid = corrections(&o, "2026-03");
    let paid_people: Vec<&String> = paid.keys().collect();
    let mut want_paid = vec![id_number(8), id_number(9), id_number(10)];
    want_paid.sort();
    assert_eq!(paid_people, want_paid.iter().collect::<Vec<_>>());
    assert_eq!(paid[&id_number(8)].1.as_deref(), Some("城关镇民政办王核实"), "the name is kept in the ledger");
    assert_eq!(paid[&id_number(9)].1, None);
    for full in [id_number(1), card(1001)] {
        assert!(!printed.contains(&full), "no full number on screen");
    }

    // Somebody went and checked 1, 2 and 3: they are paid, and who checked is kept.
    let second = file(&[
        line(1, &card(1001), "", "", "东岭乡民政办张核实"),
        line(2, &card(1002), "", "", "东岭乡民政办张核实"),
        line(3, &card(1003), "", "", "西河镇民政办赵核实"),
        line(5, &card(1005), "李监护", "guardian", ""),
    ]);
    let args = ["reissue", "--config", o.c(), "--period", "2026-03", "--corrections", second.to_str().unwrap()];
    common::expect(&args, 0);
    assert!(listed(&o, "2026-03").is_empty());
    let paid = corrections(&o, "2026-03");
    assert_eq!(paid[&id_number(3)].1.as_deref(), Some("西河镇民政办赵核实"));
    assert_eq!(paid[&id_number(1)].1.as_deref(), Some("东岭乡民政办张核实"));
    assert_eq!(paid[&id_number(5)].1, None);
    assert_eq!(paid.len(), 7);

    // The ledger lost and rebuilt from the signed files: who checked is still known.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(o.dir.join(format!("state/ledger.db{suffix}")));
    }
    common::expect(&["ledger", "rebuild", "--config", o.c()], 0);
    assert_eq!(corrections(&o, "2026-03"), paid, "a rebuilt ledger keeps who checked");
}
