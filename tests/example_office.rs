//! The example office (`disburse init`): same bytes as the committed
//! `fixtures/office/`, approvals that match their rosters, valid check digits
//! everywhere except where a mistake is planted, and planted mistakes that are
//! really in the files where `expected_exceptions.csv` says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader};
use disburse::config::Config;
use disburse::domain::{parse_amount, Code, IdNumber, Program};
use disburse::example::{luhn_ok, uscc_ok, write_example, write_files, ExampleError, ExampleInfo};
use rust_decimal::Decimal;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/office")
}

/// Writes the office; the key generator may still be the stub ("not implemented").
fn office() -> (tempfile::TempDir, ExampleInfo) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("office");
    match write_example(&dir) {
        Ok(info) => {
            assert!(dir.join("keys/signing.pem").is_file());
            (t, info)
        }
        Err(ExampleError::Keygen(e)) => {
            assert!(e.to_string().contains("not implemented"), "keygen failed: {e}");
            let again = tempfile::tempdir().unwrap();
            let info = write_files(again.path()).unwrap();
            // The failed run left a complete office except the key: same files.
            assert_eq!(files(&dir), files(again.path()));
            (t, ExampleInfo { config: dir.join("disburse.toml"), ..info })
        }
        Err(e) => panic!("write_example failed: {e}"),
    }
}

/// Every file under `dir` but the keys, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
            // keys/: per office, never committed; .gitattributes: keeps git off the fixture bytes.
            if rel.starts_with("keys") || rel == ".gitattributes" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Brings `fixtures/office/` in line with what the code writes. Only files that
/// differ are touched, so running it beside the other tests (`--include-ignored`)
/// never shows them a half-written folder.
#[test]
#[ignore = "writes fixtures/office; run by hand after changing the example"]
fn regenerate_fixtures() {
    let t = tempfile::tempdir().unwrap();
    write_files(t.path()).unwrap();
    let made = files(t.path());
    let dir = fixtures();
    for name in files(&dir).keys().filter(|n| !made.contains_key(*n)) {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    for (name, bytes) in &made {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

#[test]
fn office_is_byte_identical_to_the_fixtures() {
    let (_t, info) = office();
    let made = files(info.config.parent().unwrap());
    let committed = files(&fixtures());
    assert_eq!(
        made.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "file list differs: run `cargo test --test example_office -- --ignored regenerate_fixtures`"
    );
    for (name, bytes) in &made {
        assert!(bytes == &committed[name], "{name} differs from fixtures/office: regenerate the fixtures");
        assert!(bytes.len() < 1_000_000, "{name} is over 1 MB");
    }
}

#[test]
fn refuses_a_folder_that_is_not_empty() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("notes.txt"), "mine").unwrap();
    let e = write_example(t.path()).unwrap_err();
    assert!(e.to_string().contains("is not empty; choose a new folder"), "{e}");
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "nothing may be written");
}

/// One data line as a person sees it: its spreadsheet row and its fields by SPEC code.
struct Row {
    row: u64,
    f: BTreeMap<&'static str, String>,
}

impl Row {
    fn get(&self, field: &str) -> &str {
        self.f.get(field).map_or("", String::as_str)
    }
}

fn field_of(header: &str) -> Option<&'static str> {
    let h: String = header.chars().filter(|c| !c.is_whitespace() && *c != '\u{feff}').collect();
    Some(match h.as_str() {
        "乡镇" | "township" => "township",
        "村(社区)" | "village" => "village",
        "姓名" | "name" => "name",
        "身份证号" | "id_number" => "id_number",
        "银行账号" | "account" => "account",
        "开户行" | "开户银行" | "bank" => "bank",
        "保障金额" | "发放金额" | "补贴金额" | "amount" => "amount",
        "收款人" | "payee_name" => "payee_name",
        "收款人类型" | "payee_type" => "payee_type",
        "保障人数" => "household_size",
        "类别" | "category" => "category",
        "备注" | "note" => "note",
        _ => return None,
    })
}

/// Reads a roster the way a clerk's tools would: xlsx via calamine (header on row
/// 2), CSV as UTF-8 (BOM stripped) or else GBK.
fn read_roster(path: &Path) -> Vec<Row> {
    if path.extension().is_some_and(|e| e == "xlsx") {
        return read_xlsx(path);
    }
    let bytes = std::fs::read(path).unwrap();
    let text = match std::str::from_utf8(&bytes) {
        Ok(s) => s.trim_start_matches('\u{feff}').to_string(),
        Err(_) => {
            let (s, had_errors) = encoding_rs::GBK.decode_without_bom_handling(&bytes);
            assert!(!had_errors, "{} is neither UTF-8 nor GBK", path.display());
            s.into_owned()
        }
    };
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let fields: Vec<Option<&str>> = r.headers().unwrap().iter().map(field_of).collect();
    r.records()
        .enumerate()
        .map(|(i, rec)| {
            let rec = rec.unwrap();
            let f = fields.iter().zip(rec.iter()).filter_map(|(f, v)| f.map(|f| (f, v.to_string()))).collect();
            Row { row: i as u64 + 2, f }
        })
        .collect()
}

fn read_xlsx(path: &Path) -> Vec<Row> {
    let mut wb = calamine::open_workbook_auto(path).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert!(rows[0][0].to_string().contains("城乡低保发放名册"), "title row");
    let fields: Vec<Option<&str>> = rows[1].iter().map(|h| field_of(&h.to_string())).collect();
    rows[2..]
        .iter()
        .enumerate()
        .map(|(i, cells)| {
            for (c, cell) in cells.iter().enumerate() {
                if matches!(fields[c], Some("id_number" | "account")) {
                    assert!(matches!(cell, Data::String(_)), "ID/account must be text cells, row {}", i + 3);
                }
            }
            let f = fields.iter().zip(cells.iter()).filter_map(|(f, v)| f.map(|f| (f, cell_text(v)))).collect();
            Row { row: i as u64 + 3, f }
        })
        .collect()
}

/// A spreadsheet number in its shortest round-trip form (what ingest sees too).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(x) => format!("{x}"),
        other => other.to_string(),
    }
}

fn rosters(cfg: &Config, period: disburse::domain::Period) -> Vec<(Program, String, Vec<Row>)> {
    cfg.due_programs(period)
        .into_iter()
        .map(|pc| {
            let rows = read_roster(&cfg.resolve(&pc.roster, period));
            (pc.program, cfg.display_path(&pc.roster, period), rows)
        })
        .collect()
}

#[test]
fn approvals_match_their_rosters() {
    let (_t, info) = office();
    let cfg = Config::load(&info.config).unwrap();
    for &period in &info.periods {
        let text = std::fs::read_to_string(cfg.resolve(&cfg.approvals, period)).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            ["program", "count", "total", "reference", "approved_by", "approved_on"]
        );
        let approvals: BTreeMap<String, (u64, Decimal)> = r
            .records()
            .map(|rec| {
                let rec = rec.unwrap();
                assert!(rec[3].starts_with("示民审〔2026〕") && rec[3].ends_with('号'));
                (rec[0].to_string(), (rec[1].parse().unwrap(), rec[2].parse().unwrap()))
            })
            .collect();
        let rosters = rosters(&cfg, period);
        assert_eq!(approvals.len(), 6);
        for (program, file, rows) in rosters {
            let total: Decimal = rows.iter().map(|r| parse_amount(r.get("amount")).unwrap_or(Decimal::ZERO)).sum();
            let (count, approved) = approvals[program.code()];
            assert_eq!(count, rows.len() as u64, "{file}: count");
            assert_eq!(approved, total, "{file}: total");
        }
    }
}

#[test]
fn check_digits_hold_except_where_planted() {
    let (_t, info) = office();
    let cfg = Config::load(&info.config).unwrap();
    assert!(uscc_ok(&cfg.office.uscc), "office USCC {}", cfg.office.uscc);
    let planted = |file: &str, row: u64, code: Code| {
        info.expected.iter().any(|e| e.file == file && e.row == row && e.code == code)
    };
    let mut cards = 0;
    for &period in &info.periods {
        for (_, file, rows) in rosters(&cfg, period) {
            for r in &rows {
                let id_ok = IdNumber::parse(r.get("id_number")).is_ok();
                assert_eq!(id_ok, !planted(&file, r.row, Code::V02), "{file} row {}: ID check", r.row);
                let a = r.get("account");
                if a.starts_with("62") && a.len() == 19 && a.bytes().all(|b| b.is_ascii_digit()) {
                    cards += 1;
                    assert_eq!(luhn_ok(a), !planted(&file, r.row, Code::W01), "{file} row {}: Luhn", r.row);
                }
            }
        }
    }
    assert!(cards > 100, "most accounts are cards ({cards})");
    let stops = std::fs::read_to_string(cfg.base.join("stops.csv")).unwrap();
    for line in stops.lines().skip(1) {
        assert!(IdNumber::parse(line.split(',').next().unwrap()).is_ok(), "stop list IDs are valid");
    }
}

#[test]
fn planted_mistakes_are_in_the_files() {
    let (_t, info) = office();
    let dir = info.config.parent().unwrap();
    let cfg = Config::load(&info.config).unwrap();
    let listed = std::fs::read_to_string(dir.join("expected_exceptions.csv")).unwrap();
    assert_eq!(listed.lines().count(), info.expected.len() + 1);
    let stops = std::fs::read_to_string(dir.join("stops.csv")).unwrap();
    let cremated = std::fs::read_to_string(dir.join("lists/cremation.csv")).unwrap();
    for &period in &info.periods {
        let all = rosters(&cfg, period);
        let ids_in = |p: Program| -> BTreeSet<String> {
            all.iter()
                .filter(|(q, ..)| *q == p)
                .flat_map(|(_, _, rows)| rows.iter().map(|r| r.get("id_number").to_string()))
                .collect()
        };
        for e in info.expected.iter().filter(|e| e.period == period) {
            assert!(listed.contains(&format!("{period},{},{},{},{},{}", e.program, e.file, e.row, e.field, e.code)));
            let (_, _, rows) = all.iter().find(|(p, ..)| *p == e.program).unwrap();
            let r = rows.iter().find(|r| r.row == e.row).unwrap_or_else(|| panic!("{} row {} missing", e.file, e.row));
            let cap = cfg.programs[&e.program].cap.to_yuan();
            let id = r.get("id_number");
            let ok = match e.code {
                Code::V01 => r.get(e.field).trim().is_empty(),
                Code::V02 => IdNumber::parse(id).is_err(),
                Code::V03 => r.get("account").contains("E+"),
                Code::V04 => parse_amount(r.get("amount")).unwrap() > cap,
                Code::V06 => r.get("payee_name") != r.get("name") && r.get("payee_type") == "self",
                Code::W01 => !luhn_ok(r.get("account")),
                Code::R01 => rows.iter().filter(|o| o.get("id_number") == id).count() == 2,
                Code::R02 => ids_in(Program::Dibao).contains(id) && ids_in(Program::Wubao).contains(id),
                Code::R03 => {
                    stops.lines().any(|l| l.starts_with(id) && l.ends_with("2026-10-15"))
                        || cremated.lines().any(|l| l.starts_with(id))
                }
                Code::A01 | Code::A03 => {
                    let birth = IdNumber::parse(id).unwrap().birth_date();
                    let age = disburse::reconcile::program_rules::age_on(birth, period.first_day());
                    let rules = &cfg.programs[&e.program].rules;
                    let standard = rules.standards.iter().rev().find(|s| age >= s.min_age);
                    match e.code {
                        Code::A01 => rules.min_age.is_some_and(|m| age < m),
                        _ => standard.is_some_and(|s| parse_amount(r.get("amount")).unwrap() != s.amount.to_yuan()),
                    }
                }
                Code::R05 => rows.iter().filter(|o| o.get("account") == r.get("account")).count() == 2,
                Code::R06 => r.get("note").contains("新生儿"),
                other => panic!("unexpected planted code {other}"),
            };
            assert!(ok, "{} row {}: {} is not what the file holds", e.file, e.row, e.code);
        }
    }
}

#[test]
fn rosters_have_the_shapes_clerks_hand_over() {
    let (_t, info) = office();
    let dir = info.config.parent().unwrap();
    let wubao = std::fs::read(dir.join("rosters/2026-11/wubao.csv")).unwrap();
    assert!(std::str::from_utf8(&wubao).is_err(), "wubao.csv is GBK, not UTF-8");
    assert!(std::fs::read(dir.join("rosters/2026-11/youfu.csv")).unwrap().starts_with(b"\xEF\xBB\xBF"));
    let dibao = read_roster(&dir.join("rosters/2026-11/dibao.xlsx"));
    assert!(dibao.iter().any(|r| r.get("name").contains('䶮')), "a rare character stays in the UTF-8 pain.001 roster");
    let wubao = read_roster(&dir.join("rosters/2026-11/wubao.csv"));
    let home: Vec<&Row> = wubao.iter().filter(|r| r.get("payee_name") == "示例县中心敬老院").collect();
    assert!(home.len() >= 3 && home.iter().all(|r| r.get("account") == home[0].get("account")));
    let yiwubing = read_roster(&dir.join("rosters/2026-11/yiwubing.csv"));
    assert!(yiwubing.iter().any(|r| r.get("payee_type") == "监护人" && r.get("payee_name") != r.get("name")));
    let yimin = std::fs::read_to_string(dir.join("rosters/2026-11/yimin.csv")).unwrap();
    for form in ["¥300", "300元", "３００", "300.00"] {
        assert!(yimin.contains(form), "yimin shows {form}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("disburse run"));
}
