//! Property tests of the totals that must always hold (SPEC §3 and §6):
//! approved = paid + held for any roster, and sent = settled + failed + returned +
//! pending for any sequence of receipts, with applying a sequence twice changing
//! nothing. (Writing then reading every bank layout is the proptest in
//! tests/bankfile_text.rs and the round trip in tests/bankfile_pain.rs.)

mod common;

use std::path::Path;

use common::pg::Backend;
use disburse::domain::{Cell, Fen, Field, Program, RosterRow, SourcePos, TextEncoding, TextRules};
use disburse::reconcile::{reconcile_rows, StopEntry};
use disburse::validate::{check_row, Rules};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// One roster line: mostly valid, some broken the ways real rosters are.
#[derive(Debug, Clone)]
struct Line {
    person: u64,
    amount: String,
    id_broken: bool,
    account_broken: bool,
}

fn line() -> impl Strategy<Value = Line> {
    let amount = prop_oneof![
        6 => (1i64..500_000).prop_map(|f| format!("{}.{:02}", f / 100, f % 100)),
        1 => Just("".to_string()),
        1 => Just("abc".to_string()),
        1 => Just("-12.00".to_string()),
        1 => Just("1.005".to_string()),
        1 => Just("99999999999999999999".to_string()),
        1 => (300_000i64..900_000).prop_map(|f| format!("{}.00", f)),
    ];
    // A small pool of people, so duplicates (R01) and shared accounts happen.
    (0u64..25, amount, proptest::bool::weighted(0.1), proptest::bool::weighted(0.1))
        .prop_map(|(person, amount, id_broken, account_broken)| Line { person, amount, id_broken, account_broken })
}

fn cells(l: &Line) -> Vec<(Field, Cell)> {
    let (t, v) = common::gen::place(l.person);
    let mut id = common::gen::id_number(l.person);
    if l.id_broken {
        id.replace_range(17.., if id.ends_with('0') { "1" } else { "0" });
    }
    let account = if l.account_broken { "6.22848E+18".to_string() } else { common::gen::card(l.person) };
    let text = |s: &str| Cell::Text(s.into());
    vec![
        (Field::Township, text(t)),
        (Field::Village, text(&v)),
        (Field::Name, text(&common::gen::name(l.person))),
        (Field::IdNumber, text(&id)),
        (Field::Account, text(&account)),
        (Field::Amount, if l.amount.is_empty() { Cell::Empty } else { text(&l.amount) }),
    ]
}

fn written(s: &str) -> Decimal {
    disburse::domain::parse_amount(s).unwrap_or(Decimal::ZERO)
}

proptest! {
    #![proptest_config(common::seed::proptest_config(256))]

    /// validate + reconcile: every line is paid or held, and the amounts as
    /// written add up exactly: approved = paid + held, per program.
    #[test]
    fn approved_is_paid_plus_held(lines in proptest::collection::vec((line(), proptest::bool::ANY), 0..60)) {
        let rules = Rules {
            cap: Fen(500_000),
            text: TextRules { encoding: TextEncoding::Gbk, name_max: None },
        };
        let mut rows: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, (l, wubao))| {
                let program = if *wubao { Program::Wubao } else { Program::Dibao };
                let row = RosterRow {
                    program,
                    pos: SourcePos { file: format!("{program}.csv").into(), row: i as u64 + 2 },
                    cells: cells(l),
                };
                check_row(&row, &rules)
            })
            .collect();
        let stops = vec![StopEntry {
            id_number: common::gen::id_number(3),
            reason: "death".into(),
            effective: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            program: None,
        }];
        reconcile_rows(&mut rows, &stops, chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        for program in [Program::Dibao, Program::Wubao] {
            let mine: Vec<_> = lines.iter().zip(&rows).filter(|(_, c)| c.program == program).collect();
            let approved: Decimal = mine.iter().map(|((l, _), _)| written(&l.amount)).sum();
            let paid: Decimal = mine.iter().filter_map(|(_, c)| c.line.as_ref()).map(|p| p.amount.to_yuan()).sum();
            let held: Decimal = mine.iter().filter(|(_, c)| c.is_held()).map(|(_, c)| c.written_amount).sum();
            prop_assert_eq!(approved, paid + held, "{:?}", program);
            for (_, c) in &mine {
                prop_assert_eq!(c.is_held(), c.exceptions.iter().any(|e| e.code.severity() == disburse::domain::Severity::Hold));
            }
        }
        // R01 holds every copy of a person who appears twice in one program.
        for (i, a) in rows.iter().enumerate() {
            for b in rows.iter().skip(i + 1) {
                if a.program == b.program && a.id.is_some() && a.id == b.id {
                    prop_assert!(a.is_held() && b.is_held());
                }
            }
        }
    }
}

// ---- through the real binary ---------------------------------------------------

/// A copy of an office, with a database of its own on a shared ledger.
fn copy_dir(from: &Path, to: &Path) {
    common::pg::copy_office(from, to);
}

fn bin(office: &Path, args: &[&str]) -> std::process::Output {
    common::command().current_dir(office).args(args).output().unwrap()
}

fn ok(o: &std::process::Output) -> bool {
    matches!(o.status.code(), Some(0 | 2))
}

/// The example office, initialised once per test process and backend (and run
/// for 2026-10 when `paid`).
fn template(backend: Backend, paid: bool) -> Option<&'static Path> {
    type Offices = Option<(tempfile::TempDir, std::path::PathBuf, std::path::PathBuf)>;
    static T: [std::sync::OnceLock<Offices>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let (_, fresh, run) = T[backend as usize]
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let fresh = tmp.path().join("fresh");
            common::expect(&["init", fresh.to_str().unwrap()], 0);
            if !common::pg::use_backend(&fresh.join("disburse.toml"), backend, "330729") {
                return None;
            }
            let run = tmp.path().join("run");
            copy_dir(&fresh, &run);
            assert!(ok(&bin(&run, &["run", "--config", "disburse.toml", "--period", "2026-10"])));
            Some((tmp, fresh, run))
        })
        .as_ref()?;
    Some(if paid { run } else { fresh })
}

type Totals = std::collections::BTreeMap<String, std::collections::BTreeMap<String, (u64, Decimal)>>;

fn status(office: &Path) -> Totals {
    let o = bin(office, &["status", "--config", "disburse.toml", "--period", "2026-10", "--json"]);
    assert!(ok(&o), "{}", common::text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out = Totals::new();
    for (program, kinds) in v["programs"].as_object().unwrap() {
        let m = out.entry(program.clone()).or_default();
        for (kind, t) in kinds.as_object().unwrap() {
            let amount: Decimal = t["amount"].as_str().unwrap().parse().unwrap();
            m.insert(kind.clone(), (t["lines"].as_u64().unwrap(), amount));
        }
    }
    out
}

fn sent_balances(t: &Totals) -> Result<(), String> {
    for (program, k) in t {
        let sent = k["sent"];
        let parts = ["settled", "failed", "returned", "pending"].map(|x| k[x]);
        let lines: u64 = parts.iter().map(|p| p.0).sum();
        let amount: Decimal = parts.iter().map(|p| p.1).sum();
        if sent != (lines, amount) {
            return Err(format!("{program}: sent {sent:?} != settled+failed+returned+pending {:?}", (lines, amount)));
        }
    }
    Ok(())
}

/// (reference, amount) of every youfu line the template run paid.
fn youfu_paid(template: &Path) -> Vec<(String, String)> {
    common::read_csv(&template.join("out/2026-10/reports/paid.csv"))
        .into_iter()
        .filter(|r| r[0] == "youfu")
        .map(|r| (r[1].clone(), r[7].clone()))
        .collect()
}

fn pain002(lines: &[(String, String, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt>\
         <GrpHdr><MsgId>P</MsgId><CreDtTm>2026-11-26T09:00:00+08:00</CreDtTm></GrpHdr>\
         <OrgnlGrpInfAndSts><OrgnlMsgId>YF202610R001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInfAndSts>\
         <OrgnlPmtInfAndSts><OrgnlPmtInfId>YF202610R001</OrgnlPmtInfId>\n",
    );
    for (e2e, amt, sts) in lines {
        s += &format!("<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{sts}</TxSts>");
        if *sts == "RJCT" {
            s += "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>已销户</AddtlInf></StsRsnInf>";
        }
        s += &format!("<OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">{amt}</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>\n");
    }
    s + "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n"
}

fn camt054(e2e: &str, amt: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08\"><BkToCstmrDbtCdtNtfctn>\
         <GrpHdr><MsgId>N</MsgId><CreDtTm>2026-11-28T09:00:00+08:00</CreDtTm></GrpHdr>\
         <Ntfctn><Id>N1</Id><Acct><Id><Othr><Id>33001610000053067890</Id></Othr></Id></Acct>\
         <Ntry><Amt Ccy=\"CNY\">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd><Prtry><Cd>RTRN</Cd></Prtry></BkTxCd>\
         <NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs><Amt Ccy=\"CNY\">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
         <RtrInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>退票</AddtlInf></RtrInf></TxDtls></NtryDtls></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n"
    )
}

/// One receipt file: a pain.002 with some statuses, or a camt.054 退票.
#[derive(Debug, Clone)]
enum Receipt {
    Pain(Vec<(usize, &'static str, bool)>),
    Camt(usize),
}

fn receipt() -> impl Strategy<Value = Receipt> {
    let status = prop_oneof![Just("ACSC"), Just("RJCT"), Just("PDNG"), Just("ACSP")];
    // (line, status, wrong amount?) — lines from a pool of 6 so they repeat.
    let tx = (0usize..6, status, proptest::bool::weighted(0.1));
    prop_oneof![
        4 => proptest::collection::vec(tx, 1..6).prop_map(Receipt::Pain),
        1 => (0usize..6).prop_map(Receipt::Camt),
    ]
}

proptest! {
    #![proptest_config(common::seed::proptest_config(48))]

    /// Any sequence of receipts (duplicates, contradictions, wrong amounts, late
    /// returns, in any order): after every file sent = settled + failed + returned
    /// + pending, and applying the whole sequence again changes nothing.
    #[test]
    fn sent_is_settled_failed_returned_pending(seq in proptest::collection::vec(receipt(), 1..5)) {
        receipts_balance(Backend::Sqlite, &seq)?;
    }
}

proptest! {
    #![proptest_config(common::seed::proptest_config(8))]

    /// The same on a shared PostgreSQL ledger (fewer cases: each copies a database).
    #[test]
    fn sent_is_settled_failed_returned_pending_on_a_shared_ledger(seq in proptest::collection::vec(receipt(), 1..5)) {
        receipts_balance(Backend::Postgres, &seq)?;
    }
}

fn receipts_balance(backend: Backend, seq: &[Receipt]) -> Result<(), TestCaseError> {
    let Some(template) = template(backend, true) else { return Ok(()) };
    {
        let paid = youfu_paid(template);
        let tmp = tempfile::tempdir().unwrap();
        let office = tmp.path().join("o");
        copy_dir(template, &office);
        let mut files = Vec::new();
        for (i, r) in seq.iter().enumerate() {
            let text = match r {
                Receipt::Pain(txs) => pain002(
                    &txs.iter()
                        .map(|(k, sts, wrong)| {
                            let (e2e, amt) = &paid[*k];
                            (e2e.clone(), if *wrong { "1.00".to_string() } else { amt.clone() }, *sts)
                        })
                        .collect::<Vec<_>>(),
                ),
                Receipt::Camt(k) => camt054(&paid[*k].0, &paid[*k].1),
            };
            let p = office.join(format!("r{i}.xml"));
            std::fs::write(&p, text).unwrap();
            files.push(p);
        }
        let start = status(&office);
        prop_assert!(sent_balances(&start).is_ok());
        for f in &files {
            let o = bin(&office, &["returns", "--config", "disburse.toml", f.to_str().unwrap()]);
            prop_assert!(ok(&o), "{}", common::text(&o));
            let now = status(&office);
            prop_assert!(sent_balances(&now).is_ok(), "{:?}", sent_balances(&now));
            prop_assert_eq!(&now["youfu"]["sent"], &start["youfu"]["sent"]);
        }
        let once = status(&office);
        for f in &files {
            let o = bin(&office, &["returns", "--config", "disburse.toml", f.to_str().unwrap()]);
            prop_assert!(ok(&o), "{}", common::text(&o));
        }
        let mut args = vec!["returns", "--config", "disburse.toml"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let o = bin(&office, &args);
        prop_assert!(ok(&o), "{}", common::text(&o));
        prop_assert_eq!(status(&office), once, "the same receipts again change nothing");
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::seed::proptest_config(24))]

    /// A random roster through `run`: every approved line is paid or held, the
    /// summary says approved = paid + held to the fen, and the ledger sent exactly
    /// the paid lines.
    #[test]
    fn run_pays_or_holds_every_approved_line(lines in proptest::collection::vec(line(), 1..30)) {
        let tmp = tempfile::tempdir().unwrap();
        let office = tmp.path().join("o");
        copy_dir(template(Backend::Sqlite, false).expect("an SQLite office"), &office);
        let mut csv = String::from("乡镇,村(社区),姓名,身份证号,银行账号,金额\n");
        let mut total = Decimal::ZERO;
        for l in &lines {
            let c = cells(l);
            let row: Vec<&str> = c.iter().map(|(_, x)| x.as_text()).collect();
            csv += &(row.join(",") + "\n");
            total += written(&l.amount);
        }
        std::fs::write(office.join("rosters/2026-10/youfu.csv"), csv).unwrap();
        let ap = office.join("rosters/2026-10/approvals.csv");
        let text = std::fs::read_to_string(&ap).unwrap();
        let fixed: String = text
            .lines()
            .map(|l| {
                if l.starts_with("youfu,") {
                    format!("youfu,{},{},x,y,2026-09-25\n", lines.len(), total)
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&ap, fixed).unwrap();
        let o = bin(&office, &["run", "--config", "disburse.toml", "--period", "2026-10"]);
        if total < Decimal::ZERO {
            // An approval of a negative sum is no approval: the file is refused whole.
            prop_assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
            prop_assert!(common::text(&o).contains("approvals.csv: row"), "{}", common::text(&o));
            prop_assert!(!office.join("out/2026-10").exists(), "a refused run writes nothing");
            return Ok(());
        }
        prop_assert!(ok(&o), "{}", common::text(&o));
        let summary = common::read_csv(&office.join("out/2026-10/reports/summary.csv"));
        let (mut n, mut amount, mut paid_n, mut paid_amount) = (0u64, Decimal::ZERO, 0u64, Decimal::ZERO);
        for r in summary.iter().skip(1).filter(|r| r[0] == "youfu") {
            paid_n += r[3].parse::<u64>().unwrap();
            paid_amount += r[4].parse::<Decimal>().unwrap();
            n += r[3].parse::<u64>().unwrap() + r[5].parse::<u64>().unwrap();
            amount += r[4].parse::<Decimal>().unwrap() + r[6].parse::<Decimal>().unwrap();
        }
        prop_assert_eq!((n, amount), (lines.len() as u64, total), "approved = paid + held");
        let t = status(&office);
        let sent = t.get("youfu").map(|k| k["sent"]).unwrap_or((0, Decimal::ZERO));
        prop_assert_eq!(sent, (paid_n, paid_amount), "the ledger sent exactly the paid lines");
    }
}

/// Characters around the edges of the encoded-length fast path: ASCII, the basic
/// CJK block and its neighbours, the separators names use, rare characters GBK
/// lacks and characters only GB18030 holds.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range(' ', '~'),
        proptest::char::range('\u{4E00}', '\u{9FFF}'),
        proptest::char::range('\u{3400}', '\u{4DBF}'),
        proptest::char::range('\u{20000}', '\u{2A6DF}'),
        proptest::sample::select(vec![
            '·', '•', '・', '€', '（', '）', '〇', '\u{80}', '\u{9FA5}', '\u{9FA6}', '\u{4DFF}'
        ]),
    ]
}

proptest! {
    #![proptest_config(common::seed::proptest_config(512))]

    /// The table-driven encoder writes the bytes encoding_rs writes and refuses
    /// the same first character; the byte length validation measures a name by
    /// is the length of those bytes.
    #[test]
    fn encoding_names_agrees_with_encoding_rs(name in proptest::collection::vec(name_char(), 0..12)) {
        let name: String = name.into_iter().collect();
        for (enc, rs) in [(TextEncoding::Gbk, encoding_rs::GBK), (TextEncoding::Gb18030, encoding_rs::GB18030)] {
            let want = match rs.encode(&name) {
                (_, _, true) => Err(name.chars().find(|c| rs.encode(&c.to_string()).2).unwrap()),
                (b, _, false) => Ok(b.into_owned()),
            };
            prop_assert_eq!(&enc.encode(&name), &want, "{:?} {}", enc, name);
            prop_assert_eq!(enc.encoded_len(&name), want.map(|b| b.len()), "{:?} {}", enc, name);
        }
        prop_assert_eq!(TextEncoding::Utf8.encode(&name), Ok(name.as_bytes().to_vec()));
        prop_assert_eq!(TextEncoding::Utf8.encoded_len(&name), Ok(name.len()));
    }
}

proptest! {
    #![proptest_config(common::seed::proptest_config(256))]

    /// End-to-end ids are built digit by digit; they must read exactly as the
    /// format they have always had, `{prefix}{yyyymm}{kind}{batch:03}{seq:07}`,
    /// past the widths too (a batch over 999, ten million lines).
    #[test]
    fn end_to_end_ids_keep_their_format(
        program in proptest::sample::select(Program::ALL.to_vec()),
        year in 1990i32..2200,
        month in 1u32..=12,
        kind in proptest::sample::select(vec!['R', 'C']),
        batch in prop_oneof![0u32..1000, proptest::num::u32::ANY],
        seq in prop_oneof![0u64..10_000_000, proptest::num::u64::ANY],
    ) {
        let period = disburse::domain::Period { year, month };
        let want = format!("{}{}{}{:03}{:07}", program.ref_prefix(), period.compact(), kind, batch, seq);
        prop_assert_eq!(disburse::domain::EndToEndId::new(program, period, kind, batch, seq).0, want);
    }
}
