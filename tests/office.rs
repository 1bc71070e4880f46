//! The example office end to end, through the real binary on real files: check,
//! run, verify, receipts (with rejections, a late 退票 and a duplicate), reissue,
//! receipts for the reissue, status, and a second month.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::pg::Backend;
use common::{expect, fake_bank, office, read_csv, text, xsd_dir};
use disburse::ledger::{Ledger, SqliteLedger};
use rust_decimal::Decimal;

/// Every output file with its size. The audit journal is left out: every
/// ledger-writing command appends its event to it, one that pays nothing too
/// (SPEC §14: who ran what is recorded whatever it came to).
fn listing(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in walk(dir).into_iter().filter(|e| !e.ends_with("audit.jsonl")) {
        out.insert(format!("{} {}", e.display(), std::fs::metadata(&e).unwrap().len()));
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}"))
}

#[test]
fn check_reports_match_the_hand_computed_expectations() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let out = expect(&["check", "--config", c, "--period", "2026-11"], 2);
    assert!(text(&out).contains("dibao"), "prints a short summary");
    let reports = dir.join("out/2026-11/reports");
    let ex = read_csv(&reports.join("exceptions.csv"));
    assert_eq!(ex[0], ["program", "file", "row", "field", "code", "severity", "name", "id_number_masked", "message"]);
    let got: BTreeSet<Vec<String>> = ex[1..].iter().map(|r| r[..5].to_vec()).collect();
    let expected = read_csv(&dir.join("expected_exceptions.csv"));
    let want: BTreeSet<Vec<String>> = expected[1..]
        .iter()
        .filter(|r| r[0] == "2026-11" && !matches!(r[5].as_str(), "R04" | "R06"))
        .map(|r| r[1..6].to_vec())
        .collect();
    assert_eq!(got, want, "exceptions (program,file,row,field,code) differ from expected_exceptions.csv");
    for r in &ex[1..] {
        assert!(!r[8].is_empty(), "every exception has a message: {r:?}");
    }

    // approved = paid + held, per program, to the fen.
    let summary = read_csv(&reports.join("summary.csv"));
    assert_eq!(
        summary[0],
        ["program", "township", "village", "paid_lines", "paid_amount", "held_lines", "held_amount"]
    );
    let mut by_program: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    for r in &summary[1..] {
        let e = by_program.entry(r[0].clone()).or_default();
        e.0 += r[3].parse::<u64>().unwrap() + r[5].parse::<u64>().unwrap();
        e.1 += dec(&r[4]) + dec(&r[6]);
        assert!(r[4].split('.').nth(1).is_some_and(|f| f.len() == 2), "two decimals: {}", r[4]);
    }
    let approvals = read_csv(&dir.join("rosters/2026-11/approvals.csv"));
    for a in &approvals[1..] {
        let (lines, amount) = by_program.get(&a[0]).copied().unwrap_or_default();
        assert_eq!((lines, amount), (a[1].parse().unwrap(), dec(&a[2])), "approved = paid + held for {}", a[0]);
    }

    // The notice never carries an account number, and IDs are masked.
    let notice = read_csv(&reports.join("notice.csv"));
    assert_eq!(notice[0], ["program", "township", "village", "name", "id_number_masked", "amount"]);
    for r in &notice[1..] {
        assert!(r[4].contains("********"), "masked: {}", r[4]);
    }
    // check never writes the ledger or a bank file.
    assert!(!dir.join("state/ledger.db").exists());
    assert!(!dir.join("out/2026-11/bank").exists());
}

#[test]
fn pay_receipts_reissue_and_second_month() {
    pay_receipts_reissue_and_second_month_on(Backend::Sqlite);
}

/// The same, on a shared PostgreSQL ledger (SPEC §10: every command works the same).
#[test]
fn pay_receipts_reissue_and_second_month_on_a_shared_ledger() {
    pay_receipts_reissue_and_second_month_on(Backend::Postgres);
}

fn pay_receipts_reissue_and_second_month_on(backend: Backend) {
    let (tmp, config) = office();
    if !common::pg::use_backend(&config, backend, "330729") {
        return;
    }
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let oct = dir.join("out/2026-10");
    let mut printed = String::new();

    printed += &text(&expect(&["run", "--config", c, "--period", "2026-10"], 2));
    printed += &text(&expect(&["verify", oct.to_str().unwrap()], 0));
    let paid = read_csv(&oct.join("reports/paid.csv"));
    assert_eq!(
        paid[0],
        ["program", "end_to_end_id", "township", "village", "name", "id_number", "account", "amount", "bank_file"]
    );
    let full_ids: Vec<String> = paid[1..].iter().flat_map(|r| [r[5].clone(), r[6].clone()]).collect();

    // Running the same period again pays nobody and writes nothing.
    let ledger_before = dump(&config);
    let files_before = listing(&dir.join("out"));
    // Lines of the period are still held, so nothing new paid still needs a person (SPEC §7): exit 2.
    let again = expect(&["run", "--config", c, "--period", "2026-10"], 2);
    assert_eq!(text(&again).lines().filter(|l| l.contains("nothing new to pay")).count(), 1, "says so in one line");
    assert_eq!(dump(&config), ledger_before);
    assert_eq!(listing(&dir.join("out")), files_before);
    // A later check of a paid period writes beside the run's reports, never over them.
    let look = common::disburse(&["check", "--config", c, "--period", "2026-10"]);
    assert!(matches!(look.status.code(), Some(0) | Some(2)), "{}", text(&look));
    assert!(oct.join("check/reports/exceptions.csv").exists());
    assert!(files_before.iter().all(|f| listing(&dir.join("out")).contains(f)), "the run's files are untouched");

    // The bank answers: rejections, a late return; then the same file again.
    let inbox = tmp.path().join("inbox");
    let answer = fake_bank::answer(&oct, &inbox, 7).unwrap();
    assert!(!answer.rejected.is_empty());
    let p002 = inbox.join("pain002.xml");
    let camt = inbox.join("camt054.xml");
    printed += &text(&expect(&["returns", "--config", c, p002.to_str().unwrap(), camt.to_str().unwrap()], 2));
    let twice = expect(&["returns", "--config", c, p002.to_str().unwrap()], 0);
    assert!(text(&twice).contains("applied before"));
    assert_eq!(dump(&config).len(), ledger_before.len());

    let failures = read_csv(&oct.join("returns/failures.csv"));
    assert_eq!(
        failures[0],
        [
            "program",
            "end_to_end_id",
            "township",
            "village",
            "name",
            "id_number_masked",
            "amount",
            "status",
            "reason_code",
            "reason_text",
            "action"
        ]
    );
    assert_eq!(failures.len() - 1, answer.rejected.len() + 1, "every rejection and the 退票 listed");
    assert!(failures[1..].iter().all(|r| !r[10].is_empty() && r[5].contains('*')));
    assert!(failures[1..].iter().any(|r| r[7] == "returned"));
    let html = std::fs::read_to_string(oct.join("reports/report.html")).unwrap();
    assert!(
        html.contains("银行回盘失败及退票") && html.contains("AC04"),
        "the run report shows failures by reason after receipts"
    );

    // The bank said some people died (MD07): until a correction settles, later runs hold them.
    expect(&["check", "--config", c, "--period", "2026-11"], 2);
    let ex = read_csv(&dir.join("out/2026-11/reports/exceptions.csv"));
    assert!(ex[1..].iter().any(|r| r[4] == "R03" && r[8].contains("MD07")), "MD07 holds next month's line");
    let deaths = read_csv(&oct.join("returns/stops_suggested.csv"));
    assert!(deaths.len() > 1 && deaths[1..].iter().all(|r| r[5].contains('*')));

    // Correction batch for the failed lines; run twice, pays once.
    let corrections = inbox.join("corrections.csv");
    printed += &text(&expect(
        &["reissue", "--config", c, "--period", "2026-10", "--corrections", corrections.to_str().unwrap()],
        0,
    ));
    let second =
        expect(&["reissue", "--config", c, "--period", "2026-10", "--corrections", corrections.to_str().unwrap()], 2);
    assert!(text(&second).contains("不再重复"));
    printed += &text(&expect(&["verify", oct.to_str().unwrap()], 0));

    // The bank settles every correction.
    let ledger = common::pg::open_ledger(&config);
    let corr: Vec<fake_bank::Paid> = ledger
        .payments_of_period("2026-10".parse().unwrap())
        .unwrap()
        .into_iter()
        .filter(|l| l.original_id.is_some())
        .map(|l| fake_bank::Paid {
            e2e: l.end_to_end_id.into(),
            amount: l.amount.yuan_string(),
            account: l.account.into(),
        })
        .collect();
    drop(ledger);
    assert_eq!(corr.len(), answer.rejected.len() + 1);
    let settle = inbox.join("pain002-corrections.xml");
    std::fs::write(&settle, fake_bank::pain002(&corr, usize::MAX).replace("BANKRPT0001", "BANKRPT0002")).unwrap();
    printed += &text(&expect(&["returns", "--config", c, settle.to_str().unwrap()], 0));

    // sent = settled + failed + returned + pending, per program; every original settled once or visibly failed.
    let status = expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["period"], "2026-10");
    for (program, s) in v["programs"].as_object().unwrap() {
        let lines = |k: &str| s[k]["lines"].as_u64().unwrap();
        let amount = |k: &str| dec(s[k]["amount"].as_str().unwrap());
        assert_eq!(
            lines("sent"),
            lines("settled") + lines("failed") + lines("returned") + lines("pending"),
            "{program}"
        );
        assert_eq!(
            amount("sent"),
            amount("settled") + amount("failed") + amount("returned") + amount("pending"),
            "{program}"
        );
    }
    let lines = common::pg::open_ledger(&config).payments_of_period("2026-10".parse().unwrap()).unwrap();
    let mut settled_per_person: BTreeMap<(String, String), u32> = BTreeMap::new();
    for l in &lines {
        if l.status == disburse::domain::PaymentStatus::Settled {
            *settled_per_person.entry((l.program.to_string(), l.id_number.to_string())).or_default() += 1;
        }
    }
    assert!(settled_per_person.values().all(|n| *n == 1), "nobody settled twice");

    // November: the ledger now compares (R06, changes) and pays only November.
    printed += &text(&expect(&["run", "--config", c, "--period", "2026-11"], 2));
    let nov = dir.join("out/2026-11");
    printed += &text(&expect(&["verify", nov.to_str().unwrap()], 0));
    let changes = read_csv(&nov.join("reports/changes.csv"));
    assert_eq!(changes[0], ["program", "id_number_masked", "name", "change", "previous_amount", "amount"]);
    let kinds: BTreeSet<&str> = changes[1..].iter().map(|r| r[3].as_str()).collect();
    assert!(kinds.contains("new") && kinds.contains("dropped") && kinds.contains("amount_changed"), "{kinds:?}");
    let ex = read_csv(&nov.join("reports/exceptions.csv"));
    assert!(ex[1..].iter().any(|r| r[4] == "R06"), "a raise of more than 20% warns");

    // Privacy: nothing printed, and no notice or failure list, carries a full number.
    let mut public = printed.clone();
    for f in ["reports/notice.csv", "reports/exceptions.csv", "reports/report.html"] {
        public += &std::fs::read_to_string(nov.join(f)).unwrap();
    }
    public += &std::fs::read_to_string(oct.join("returns/failures.csv")).unwrap();
    for n in &full_ids {
        assert!(!public.contains(n.as_str()), "a full ID or account number leaked ({}…)", &n[..6]);
    }
}

/// Every payment row, as text, for comparing ledgers.
fn dump(config: &Path) -> Vec<String> {
    let l = common::pg::open_ledger(config);
    let mut out = Vec::new();
    for p in l.periods().unwrap() {
        out.extend(l.payments_of_period(p).unwrap().into_iter().map(|x| format!("{x:?}")));
    }
    out
}

#[test]
fn a_roster_one_fen_off_its_approval_writes_nothing_for_that_program() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let approvals = dir.join("rosters/2026-11/approvals.csv");
    let original = std::fs::read_to_string(&approvals).unwrap();
    let mut out = String::new();
    for line in original.lines() {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        if f[0] == "yimin" {
            f[2] = (dec(&f[2]) + dec("0.01")).to_string();
        }
        out += &f.join(",");
        out.push('\n');
    }
    std::fs::write(&approvals, out).unwrap();
    let run = expect(&["run", "--config", c, "--period", "2026-11"], 2);
    assert!(text(&run).contains("R07"), "{}", text(&run));
    let ex = read_csv(&dir.join("out/2026-11/reports/exceptions.csv"));
    let r07: Vec<_> = ex[1..].iter().filter(|r| r[4] == "R07").collect();
    assert_eq!(r07.len(), 1);
    assert_eq!((r07[0][0].as_str(), r07[0][5].as_str()), ("yimin", "refuse"));
    assert!(r07[0][8].contains("0.01"), "{}", r07[0][8]);
    let bank: Vec<String> = std::fs::read_dir(dir.join("out/2026-11/bank"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(bank.iter().all(|n| !n.starts_with("YM")), "yimin wrote nothing: {bank:?}");
    assert!(bank.iter().any(|n| n.starts_with("DB")), "the other programs still pay");
    let summary = read_csv(&dir.join("out/2026-11/reports/summary.csv"));
    assert!(summary[1..].iter().filter(|r| r[0] == "yimin").all(|r| r[3] == "0"));
    expect(&["verify", dir.join("out/2026-11").to_str().unwrap()], 0);
}

#[test]
fn an_unreadable_roster_refuses_the_whole_check_and_writes_nothing() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let roster = dir.join("rosters/2026-11/youfu.csv");
    std::fs::write(&roster, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let out = expect(&["check", "--config", c, "--period", "2026-11"], 1);
    assert!(text(&out).contains("rosters/2026-11/youfu.csv"), "names the file: {}", text(&out));
    assert!(!dir.join("out/2026-11").exists(), "nothing partial");
    std::fs::remove_file(&roster).unwrap();
    let out = expect(&["run", "--config", c, "--period", "2026-11"], 1);
    assert!(text(&out).contains("youfu.csv"));
    assert!(!dir.join("out/2026-11/bank").exists(), "a refused run writes no bank file");
    let ledger = SqliteLedger::open(&dir.join("state/ledger.db")).unwrap();
    assert!(ledger.periods().unwrap().is_empty(), "and records nothing");
}

#[test]
fn json_logs_are_one_object_per_line_with_stable_fields() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let out = expect(&["--log-format", "json", "run", "--config", c, "--period", "2026-10"], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut events = 0;
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "event"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        events += 1;
    }
    assert!(events >= 2, "a committed run logs its events: {stderr}");
    assert!(stderr.contains("\"event\":\"run_committed\""));
}

/// A bank that answers in its own text layout (pipe-gbk 回盘, GBK, Chinese reason
/// text): statuses apply, reason texts map to ISO codes, the raw text is kept.
#[test]
fn text_layout_receipts_apply_with_mapped_reasons() {
    text_layout_receipts_apply_with_mapped_reasons_on(Backend::Sqlite);
}

/// The same, on a shared PostgreSQL ledger (SPEC §10: every command works the same).
#[test]
fn text_layout_receipts_apply_with_mapped_reasons_on_a_shared_ledger() {
    text_layout_receipts_apply_with_mapped_reasons_on(Backend::Postgres);
}

fn text_layout_receipts_apply_with_mapped_reasons_on(backend: Backend) {
    let (tmp, config) = office();
    if !common::pg::use_backend(&config, backend, "330729") {
        return;
    }
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let ledger = common::pg::open_ledger(&config);
    let wubao: Vec<_> = ledger
        .payments_of_period("2026-10".parse().unwrap())
        .unwrap()
        .into_iter()
        .filter(|l| l.program == disburse::domain::Program::Wubao)
        .collect();
    drop(ledger);
    let mut text_file = String::from("20261026|WB202610R001|0|0.00\r\n");
    for (i, l) in wubao.iter().enumerate() {
        let (status, reason) = match i {
            0 => ("F", "户名不符,原户名为[王某]"),
            1 => ("E", "该户为非结算户,不能转帐"),
            2 => ("P", "处理中"),
            _ => ("S", "成功"),
        };
        text_file +=
            &format!("{}|{}|{}|{}|{status}|{reason}|{}\r\n", i + 1, l.name, l.account, l.amount, l.end_to_end_id);
    }
    let (gbk, _, bad) = encoding_rs::GBK.encode(&text_file);
    assert!(!bad);
    let path = tmp.path().join("WB202610R001_ret.txt");
    std::fs::write(&path, &gbk).unwrap();
    let out = expect(&["returns", "--config", c, path.to_str().unwrap()], 2);
    assert!(text(&out).contains("pipe-gbk"), "{}", text(&out));
    let status = expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let w = &v["programs"]["wubao"];
    assert_eq!(w["failed"]["lines"], 2);
    assert_eq!(w["pending"]["lines"], 1);
    assert_eq!(w["settled"]["lines"].as_u64().unwrap() as usize, wubao.len() - 3);
    let failures = read_csv(&dir.join("out/2026-10/returns/failures.csv"));
    let codes: BTreeSet<(String, String)> = failures[1..].iter().map(|r| (r[8].clone(), r[9].clone())).collect();
    assert!(codes.contains(&("BE01".into(), "户名不符,原户名为[王某]".into())), "{codes:?}");
    assert!(codes.contains(&("AG01".into(), "该户为非结算户,不能转帐".into())), "{codes:?}");
}

/// What `run` writes for the example office is what the bank gets: every XML file
/// validates against its ISO schema, every text file re-reads with its layout,
/// and paid.csv agrees with the manifest to the fen.
#[test]
fn bank_files_validate_and_agree_with_paid_csv_and_manifest() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-11"], 2);
    let period = dir.join("out/2026-11");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(period.join("manifest.json")).unwrap()).unwrap();
    let xsd = xsd_dir();
    let mut from_files: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    for f in manifest["files"].as_array().unwrap() {
        let path = period.join(f["path"].as_str().unwrap());
        let format = f["format"].as_str().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(v) = format.strip_prefix("pain001-v") {
            let schema = xsd.join(format!("pain.001.001.{v}.xsd"));
            let out = std::process::Command::new("xmllint")
                .args(["--noout", "--schema", schema.to_str().unwrap(), path.to_str().unwrap()])
                .output()
                .expect("xmllint (Debian libxml2-utils) must be installed: .ci/run installs it");
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let fmt = disburse::bankfile::Format::load(format, &dir.join("formats")).unwrap();
        let lines = fmt.read_payments(&std::fs::read(&path).unwrap()).unwrap();
        let total: Decimal = lines.iter().map(|l| l.amount.to_yuan()).sum();
        assert_eq!(lines.len() as u64, f["lines"].as_u64().unwrap(), "{name}");
        assert_eq!(total, dec(f["total"].as_str().unwrap()), "{name}");
        from_files.insert(name, (lines.len() as u64, total));
    }
    let mut from_paid: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    for r in &read_csv(&period.join("reports/paid.csv"))[1..] {
        let e = from_paid.entry(r[8].clone()).or_default();
        e.0 += 1;
        e.1 += dec(&r[7]);
    }
    assert_eq!(from_paid, from_files, "paid.csv, the manifest and the files agree to the fen");
}

/// A group-level rejection (GrpSts RJCT) rejects every line of the file it names;
/// a later receipt that contradicts that final status, names an unknown reference
/// or a wrong amount is flagged and changes nothing.
#[test]
fn group_rejection_and_contradictions() {
    let (tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let dibao_lines =
        read_csv(&dir.join("out/2026-10/reports/paid.csv"))[1..].iter().filter(|r| r[0] == "dibao").count();
    let group = tmp.path().join("group.xml");
    std::fs::write(
        &group,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKREJ1</MsgId><CreDtTm>2026-10-26T09:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>DB202610R001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>RJCT</GrpSts>
<StsRsnInf><Rsn><Cd>AM04</Cd></Rsn><AddtlInf>专户余额不足</AddtlInf></StsRsnInf></OrgnlGrpInfAndSts>
</CstmrPmtStsRpt></Document>"#,
    )
    .unwrap();
    expect(&["returns", "--config", c, group.to_str().unwrap()], 2);
    let status = expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["programs"]["dibao"]["failed"]["lines"].as_u64().unwrap() as usize, dibao_lines);
    let before = status.stdout.clone();

    let first = format!("DB202610R001{:07}", 1);
    let bad = tmp.path().join("contradicts.xml");
    std::fs::write(
        &bad,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKRPT9</MsgId><CreDtTm>2026-10-27T09:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>DB202610R001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>DB202610R001</OrgnlPmtInfId>
<TxInfAndSts><OrgnlEndToEndId>{first}</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>XX202610R0019999999</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>YM202610R0010000001</OrgnlEndToEndId><TxSts>ACSC</TxSts><OrgnlTxRef><Amt><InstdAmt Ccy="CNY">1.00</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"#
        ),
    )
    .unwrap();
    let out = expect(&["returns", "--config", c, bad.to_str().unwrap()], 2);
    let said = text(&out);
    assert!(said.contains("矛盾") && said.contains("未知") && said.contains("不符"), "{said}");
    let after = expect(&["status", "--config", c, "--period", "2026-10", "--json"], 0).stdout;
    assert_eq!(before, after, "flagged lines change nothing");
    let flags: Vec<_> = std::fs::read_dir(dir.join("out/flags")).unwrap().collect();
    assert_eq!(flags.len(), 1, "flags are listed with file and line");
}

#[test]
fn the_leftovers_of_a_killed_check_or_run_are_cleaned_up() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let period = dir.join("out/2026-10");
    // A check killed mid-write (its pid is long gone) and a run killed before its commit.
    std::fs::create_dir_all(period.join(".check-999999999/reports")).unwrap();
    std::fs::create_dir_all(period.join(".staging-R001/bank")).unwrap();
    std::fs::write(period.join(".staging-R001/bank/DB202610R001.xml"), "half a file").unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    assert!(!period.join(".check-999999999").exists());
    assert!(!period.join(".staging-R001").exists());
    expect(&["verify", period.to_str().unwrap()], 0);
}
