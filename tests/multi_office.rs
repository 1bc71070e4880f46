//! A province on one shared PostgreSQL ledger (SPEC §10): offices run at the
//! same time and pay each person once in the province (R08 holds the rest),
//! the same office twice exits 3, references carry the office code, a receipt
//! for another office's lines is flagged, `status --all-offices` rolls up,
//! `verify --config` checks the key the ledger recorded. Every test skips
//! loudly without a server (never in CI: see common/pg.rs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{expect, gen, pg, read_csv, text};

const CODES: [&str; 4] = ["330729", "330781", "330782", "330783"];

/// An office with code `code` on the shared ledger `url`, paying dibao to
/// persons `from..from + count` in 2026-11.
fn office(root: &Path, code: &str, url: &str, from: u64, count: u64) -> PathBuf {
    let dir = root.join(code);
    std::fs::create_dir_all(dir.join("rosters/2026-11")).unwrap();
    let (roster, total) = gen::roster_csv(from, count);
    std::fs::write(dir.join("rosters/2026-11/dibao.csv"), roster).unwrap();
    std::fs::write(
        dir.join("rosters/2026-11/approvals.csv"),
        format!(
            "program,count,total,reference,approved_by,approved_on\ndibao,{count},{}.{:02},A1,审核人,2026-11-20\n",
            total / 100,
            total % 100
        ),
    )
    .unwrap();
    std::fs::write(dir.join("disburse.toml"), CONFIG.replace("{code}", code).replace("{url}", url)).unwrap();
    expect(&["keygen", "--algorithm", "sm2", "--out", dir.join("keys/signing.pem").to_str().unwrap()], 0);
    dir.join("disburse.toml")
}

const CONFIG: &str = r#"
[office]
name = "测试县民政局"
uscc = "11330000MB0000000H"
code = "{code}"
[ledger]
url = "{url}"
[output]
dir = "out"
[signing]
algorithm = "sm2"
key = "keys/signing.pem"
[inputs]
approvals = "rosters/{period}/approvals.csv"
[payers.main]
name = "测试县民政局社会救助资金专户"
account = "33001610000053012345"
bank_code = "105331000011"
[programs.dibao]
schedule = "monthly"
payer = "main"
format = "pain001-v09"
roster = "rosters/{period}/dibao.csv"
cap = "3000.00"
"#;

fn run(config: &Path) -> std::process::Command {
    let mut c = common::command();
    c.args(["run", "--config", config.to_str().unwrap(), "--period", "2026-11"]);
    c
}

/// (office, program, ID number) of every line of the period in the shared ledger.
fn province_lines(url: &str) -> Vec<(String, String, String)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query("SELECT office, program, id_number FROM payments WHERE period = '2026-11' AND original_id IS NULL", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Four offices whose rosters overlap (each shares 150 people with the next)
/// run at once. Each person is paid once in the province; every other office
/// holds that person R08, naming the paying office's code and nothing else of
/// its line. A run that lost the race for a person is refused whole (exit 1,
/// nothing committed) and its rerun holds them instead.
#[test]
fn four_offices_at_once_pay_each_person_once_in_the_province() {
    let Some(url) = pg::database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let per = 600u64;
    let configs: Vec<PathBuf> =
        CODES.iter().enumerate().map(|(k, code)| office(tmp.path(), code, &url, k as u64 * 450, per)).collect();
    let mut pending: Vec<usize> = (0..4).collect();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 4, "offices still refused after {rounds} rounds");
        let children: Vec<_> = pending.iter().map(|&k| (k, run(&configs[k]).output_async())).collect();
        let mut again = Vec::new();
        for (k, child) in children {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) | Some(2) => {}
                Some(1) => {
                    let t = text(&out);
                    assert!(t.contains("run again") || t.contains("already recorded"), "{}: {t}", CODES[k]);
                    again.push(k);
                }
                other => panic!("{}: exit {other:?}: {}", CODES[k], text(&out)),
            }
        }
        pending = again;
    }
    let lines = province_lines(&url);
    let people: BTreeSet<(String, String)> = lines.iter().map(|(_, p, id)| (p.clone(), id.clone())).collect();
    assert_eq!(people.len(), lines.len(), "somebody was paid twice in the province");
    assert_eq!(people.len() as u64, 3 * 450 + per, "everybody was paid by some office");

    let payer: BTreeMap<String, String> = lines.iter().map(|(o, _, id)| (id.clone(), o.clone())).collect();
    for (k, config) in configs.iter().enumerate() {
        let dir = config.parent().unwrap();
        let paid = read_csv(&dir.join("out/2026-11/reports/paid.csv"));
        let ex = read_csv(&dir.join("out/2026-11/reports/exceptions.csv"));
        let r08: Vec<&Vec<String>> = ex[1..].iter().filter(|r| r[4] == "R08").collect();
        assert_eq!((paid.len() - 1 + r08.len()) as u64, per, "{}: paid + R08 = roster", CODES[k]);
        for r in &paid[1..] {
            assert!(r[1][2..].starts_with(CODES[k]), "reference {} carries the office code", r[1]);
            assert_eq!(payer[&r[5]], CODES[k]);
        }
        for r in r08 {
            let other: Vec<&&str> = CODES.iter().filter(|c| r[8].contains(**c)).collect();
            assert_eq!(other.len(), 1, "R08 names exactly one office: {}", r[8]);
            assert_ne!(other[0].to_string(), CODES[k]);
            assert!(r[7].contains("********"), "the ID is masked: {}", r[7]);
            for (id, _) in payer.iter().filter(|(_, o)| *o == *other[0]) {
                assert!(!r[8].contains(id.as_str()));
            }
        }
    }

    // The provincial rollup: every office, and the province's lines once.
    let out = expect(
        &["status", "--config", configs[0].to_str().unwrap(), "--all-offices", "--period", "2026-11", "--json"],
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["period"], "2026-11");
    let offices = v["offices"].as_object().unwrap();
    assert_eq!(offices.keys().cloned().collect::<BTreeSet<_>>(), CODES.iter().map(|c| c.to_string()).collect());
    let sent: u64 = offices.values().map(|o| o["programs"]["dibao"]["sent"]["lines"].as_u64().unwrap()).sum();
    assert_eq!(sent, lines.len() as u64);
    // One office's own status is its own lines only.
    let own = expect(&["status", "--config", configs[1].to_str().unwrap(), "--period", "2026-11", "--json"], 0);
    let own: serde_json::Value = serde_json::from_slice(&own.stdout).unwrap();
    assert_eq!(own["programs"]["dibao"], offices[CODES[1]]["programs"]["dibao"]);
    // A second run of any office pays nobody.
    for config in &configs {
        let again = common::disburse(&["run", "--config", config.to_str().unwrap(), "--period", "2026-11"]);
        assert!(matches!(again.status.code(), Some(0) | Some(2)), "{}", text(&again));
        assert!(text(&again).contains("nothing new to pay"), "{}", text(&again));
    }
    assert_eq!(province_lines(&url).len(), lines.len());
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    }
}

/// The same office twice exits 3 (its advisory lock), while another office
/// runs at the same time undisturbed.
#[test]
fn the_same_office_twice_exits_3_and_another_office_is_not_held_up() {
    let Some(url) = pg::database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = office(tmp.path(), CODES[0], &url, 0, 50);
    let b = office(tmp.path(), CODES[1], &url, 1000, 50);
    let config = disburse::config::Config::load(&a).unwrap();
    let lock = disburse::ledger::Lock::for_config(&config).unwrap();
    let out = expect(&["run", "--config", a.to_str().unwrap(), "--period", "2026-11"], 3);
    assert!(text(&out).contains(CODES[0]), "{}", text(&out));
    for cmd in [&["status", "--config", a.to_str().unwrap()][..]] {
        expect(cmd, 0); // reading needs no lock
    }
    expect(&["run", "--config", b.to_str().unwrap(), "--period", "2026-11"], 0);
    drop(lock);
    expect(&["run", "--config", a.to_str().unwrap(), "--period", "2026-11"], 0);
}

/// A receipt for another office's lines changes nothing of them and is flagged
/// at the office that got it; the office that sent them applies it.
#[test]
fn a_receipt_for_another_offices_lines_is_flagged_never_applied() {
    let Some(url) = pg::database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = office(tmp.path(), CODES[0], &url, 0, 40);
    let b = office(tmp.path(), CODES[1], &url, 1000, 40);
    expect(&["run", "--config", a.to_str().unwrap(), "--period", "2026-11"], 0);
    expect(&["run", "--config", b.to_str().unwrap(), "--period", "2026-11"], 0);
    let inbox = tmp.path().join("inbox");
    common::fake_bank::answer(&a.parent().unwrap().join("out/2026-11"), &inbox, 4).unwrap();
    let receipt = inbox.join("pain002.xml");
    let status = |c: &Path| {
        let o = expect(&["status", "--config", c.to_str().unwrap(), "--period", "2026-11", "--json"], 0);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["programs"]["dibao"].clone()
    };
    let before = (status(&a), status(&b));
    let wrong = expect(&["returns", "--config", b.to_str().unwrap(), receipt.to_str().unwrap()], 2);
    assert!(text(&wrong).contains("40 flagged"), "every line flagged at the wrong office: {}", text(&wrong));
    assert_eq!((status(&a), status(&b)), before, "nothing applied by the wrong office");
    expect(&["returns", "--config", a.to_str().unwrap(), receipt.to_str().unwrap()], 2);
    let after = status(&a);
    assert_eq!(after["pending"]["lines"], 0, "the sending office applied its receipt: {after}");
    assert_eq!(status(&b), before.1);
}

/// `verify --config` checks a run against the key its ledger recorded: the
/// office's own run passes, another office's folder (or a re-keyed run) fails.
#[test]
fn verify_checks_a_run_against_the_key_the_ledger_recorded() {
    let Some(url) = pg::database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = office(tmp.path(), CODES[0], &url, 0, 20);
    let b = office(tmp.path(), CODES[1], &url, 1000, 20);
    expect(&["run", "--config", a.to_str().unwrap(), "--period", "2026-11"], 0);
    expect(&["run", "--config", b.to_str().unwrap(), "--period", "2026-11"], 0);
    let a_dir = a.parent().unwrap().join("out/2026-11");
    let b_dir = b.parent().unwrap().join("out/2026-11");
    let ok = expect(&["verify", a_dir.to_str().unwrap(), "--config", a.to_str().unwrap()], 0);
    assert!(text(&ok).contains("key the ledger records"), "{}", text(&ok));
    let other = expect(&["verify", b_dir.to_str().unwrap(), "--config", a.to_str().unwrap()], 1);
    assert!(text(&other).contains("holds no run"), "{}", text(&other));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.execute("UPDATE runs SET key_fingerprint = $1 WHERE office = $2", &[&"ab".repeat(32), &CODES[0]]).unwrap();
    let rekeyed = expect(&["verify", a_dir.to_str().unwrap(), "--config", a.to_str().unwrap()], 1);
    assert!(text(&rekeyed).contains("another key"), "{}", text(&rekeyed));
}

/// The config: a shared ledger needs the office code; a password in the URL is
/// refused and never echoed.
#[test]
fn a_shared_ledger_needs_a_code_and_no_password_in_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path(), CODES[0], "postgresql://disburse:Secret123@db.example/province", 0, 5);
    let out = expect(&["check", "--config", config.to_str().unwrap(), "--period", "2026-11"], 1);
    assert!(!text(&out).contains("Secret123"), "{}", text(&out));
    assert!(text(&out).contains("DISBURSE_LEDGER_PASSWORD"), "{}", text(&out));
    let t = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, t.replace("code = \"330729\"\n", "").replace(":Secret123", "")).unwrap();
    let out = expect(&["check", "--config", config.to_str().unwrap(), "--period", "2026-11"], 1);
    assert!(text(&out).contains("code"), "{}", text(&out));
}
