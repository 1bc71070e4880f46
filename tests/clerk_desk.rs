//! The clerk's desk (SPEC §13), on the real binary: Chinese by default and
//! English on request (help, refusals, `verify`, summaries), the progress display
//! (nothing off a terminal, cleared on one), the final JSON event of every
//! command, and a README a clerk can start from.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fake_bank, text};

/// `disburse args…` as a clerk runs it: no language chosen.
fn clerk(args: &[&str]) -> Output {
    std::process::Command::new(common::bin())
        .args(args)
        .env_remove("DISBURSE_LANG")
        .env_remove("DISBURSE_LOG")
        .env_remove("DISBURSE_LOG_FORMAT")
        .output()
        .expect("run disburse")
}

/// Runs and checks the exit status.
fn clerk_expect(args: &[&str], code: i32) -> Output {
    let out = clerk(args);
    assert_eq!(out.status.code(), Some(code), "disburse {args:?}\n{}", text(&out));
    out
}

/// Words a clerk meets that are not Chinese but are not English prose either:
/// the program and its commands, formats and standards, field codes of the
/// contract (CSV column names stay as the contract says).
const ALLOWED: &[&str] = &[
    "disburse",
    "program",
    "count",
    "total",
    "reference",
    "approved_by",
    "approved_on",
    "audit",
    "trace",
    "init",
    "check",
    "run",
    "returns",
    "reissue",
    "watch",
    "report",
    "status",
    "ledger",
    "rebuild",
    "verify",
    "keygen",
    "help",
    "text",
    "json",
    "zh",
    "en",
    "sm2",
    "ed25519",
    "Excel",
    "WPS",
    "cron",
    "township",
    "village",
    "name",
    "id_number",
    "account",
    "amount",
    "bank",
    "payee_name",
    "payee_type",
    "verified_by",
    "end_to_end_id",
    "path",
    "url",
    "code",
    "distid",
    "file_name",
    "batch_id",
];

/// The English words in `text`: runs of ASCII letters that are not a file or
/// path (a `.` or `/` in the token), an option (`--period`), an environment
/// variable or an acronym (all capitals: `DISBURSE_LANG`, `PEM`, `UTF-8`), a code
/// (`R01`, `V02`, `C001`) or an allowed word. The system's own text of an I/O
/// error, kept in brackets for whoever looks after the computer, is skipped.
fn english_words(text: &str) -> Vec<String> {
    let mut text = text.to_string();
    while let Some(i) = text.find("os error") {
        // "（No such file or directory (os error 2)）": the bracket around it goes.
        let start = text[..i].rfind('（').unwrap_or(i);
        let end = text[i..].find('）').map_or(text.len(), |e| i + e + '）'.len_utf8());
        text.replace_range(start..end, " ");
    }
    let mut out = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || !c.is_ascii() || c == '|' || c == ',') {
        let token = token.trim_matches(|c: char| "()[]<>,;:'\"`|=!?".contains(c));
        if token.is_empty()
            || token.contains('.')
            || token.contains('/')
            || token.starts_with('-')
            || token.chars().all(|c| !c.is_ascii_lowercase())
            || ALLOWED.contains(&token)
        {
            continue;
        }
        for word in token.split(|c: char| !c.is_ascii_alphabetic() && c != '_').filter(|w| w.len() >= 2) {
            if !ALLOWED.contains(&word) && word.chars().any(|c| c.is_ascii_lowercase()) {
                out.push(word.to_string());
            }
        }
    }
    out
}

fn assert_chinese(what: &str, said: &str) {
    assert_chinese_but(what, said, &[]);
}

/// [`assert_chinese`], but for the words the clerk typed (a mistyped command is said back).
fn assert_chinese_but(what: &str, said: &str, typed: &[&str]) {
    let english: Vec<String> = english_words(said).into_iter().filter(|w| !typed.contains(&w.as_str())).collect();
    assert!(english.is_empty(), "{what}: English words {english:?} in:\n{said}");
    assert!(said.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{what}: no Chinese in:\n{said}");
}

#[test]
fn the_english_word_finder_finds_english_and_leaves_names_alone() {
    assert_eq!(english_words("file not found: check the path"), ["file", "not", "found", "the"]);
    assert!(
        english_words("rosters/2026-11/dibao.csv：第 3 行 R01 V02 --period DISBURSE_LANG SHA-256 township").is_empty()
    );
    assert!(
        english_words("读不了配置文件 x.toml：没有这个文件或目录（No such file or directory (os error 2)）").is_empty()
    );
}

#[test]
fn help_is_chinese_by_default_and_english_on_request() {
    let commands: &[&[&str]] = &[
        &["--help"],
        &["init", "--help"],
        &["check", "--help"],
        &["run", "--help"],
        &["returns", "--help"],
        &["reissue", "--help"],
        &["watch", "--help"],
        &["report", "--help"],
        &["status", "--help"],
        &["ledger", "--help"],
        &["ledger", "rebuild", "--help"],
        &["verify", "--help"],
        &["keygen", "--help"],
        &["audit", "--help"],
        &["trace", "--help"],
        &["help", "run"],
    ];
    for args in commands {
        let out = clerk_expect(args, 0);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("用法："), "{args:?}: {said}");
        assert_chinese(&format!("{args:?}"), &said);
    }
    // `-h` too, and a missing command prints the help as a refusal (exit 1).
    assert_chinese("-h", &String::from_utf8_lossy(&clerk_expect(&["-h"], 0).stdout));
    assert_chinese("no command", &text(&clerk_expect(&[], 1)));

    for (env, args) in [(Some("en"), vec!["check", "--help"]), (None, vec!["--lang", "en", "check", "--help"])] {
        let mut c = std::process::Command::new(common::bin());
        c.args(&args).env_remove("DISBURSE_LANG");
        if let Some(v) = env {
            c.env("DISBURSE_LANG", v);
        }
        let out = c.output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(said.contains("Usage:") && said.contains("Ingest, validate, reconcile"), "{args:?}: {said}");
        assert!(!said.contains("用法"), "{said}");
    }
    // `--lang en` after the command, as `--lang=en`.
    let out = clerk_expect(&["check", "--help", "--lang=en"], 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
}

#[test]
fn argument_refusals_are_chinese_and_exit_1() {
    for args in [
        vec!["check", "--config", "x.toml", "--period", "2026-13"],
        vec!["check", "--config", "x.toml"],
        vec!["chek"],
        vec!["run", "--nonsense"],
        vec!["keygen", "--algorithm", "rsa", "--out", "k.pem"],
    ] {
        let out = clerk_expect(&args, 1);
        let said = text(&out);
        assert!(said.contains("参数错误"), "{args:?}: {said}");
        assert_chinese_but(&format!("{args:?}"), &said, &["chek", "nonsense", "rsa"]);
    }
}

/// An example office, as `disburse init` writes it.
fn office(tmp: &Path) -> PathBuf {
    let dir = tmp.join("office");
    clerk_expect(&["init", dir.to_str().unwrap()], 0);
    dir.join("disburse.toml")
}

#[test]
fn refusals_of_a_bad_config_a_bad_roster_and_a_lock_are_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path());
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();

    // A config that is not there, and one saved as GBK.
    let missing = tmp.path().join("nowhere/disburse.toml");
    let out = clerk_expect(&["check", "--config", missing.to_str().unwrap(), "--period", "2026-11"], 1);
    assert!(text(&out).contains("读不了配置文件"), "{}", text(&out));
    assert_chinese("missing config", &text(&out));
    let gbk = tmp.path().join("gbk.toml");
    let (bytes, _, _) = encoding_rs::GBK.encode("# 县民政局\n[office]\nname = \"县民政局\"\n");
    std::fs::write(&gbk, &bytes).unwrap();
    let out = clerk_expect(&["check", "--config", gbk.to_str().unwrap(), "--period", "2026-11"], 1);
    assert!(text(&out).contains("UTF-8"), "{}", text(&out));
    assert_chinese("GBK config", &text(&out));

    // Rosters: missing columns, no header at all, an empty file, a picture.
    let roster = dir.join("rosters/2026-11/wubao.csv");
    let original = std::fs::read(&roster).unwrap();
    for (what, content) in [
        ("missing columns", "姓名,身份证号,金额\n张三,110105194912310021,100\n".as_bytes()),
        ("no header", "1,2,3\n4,5,6\n".as_bytes()),
        ("empty", b"".as_slice()),
        ("a picture", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice()),
    ] {
        std::fs::write(&roster, content).unwrap();
        let out = clerk_expect(&["check", "--config", c, "--period", "2026-11"], 1);
        assert!(text(&out).contains("wubao.csv"), "{what}: {}", text(&out));
        assert_chinese(what, &text(&out));
    }
    std::fs::write(&roster, original).unwrap();
    // The approvals: a column missing, a count that is not a number.
    let approvals = dir.join("rosters/2026-11/approvals.csv");
    let original = std::fs::read(&approvals).unwrap();
    for (what, content) in [
        ("approvals without total", "program,count\ndibao,3\n"),
        ("approvals count", "program,count,total\ndibao,x,3\n"),
    ] {
        std::fs::write(&approvals, content).unwrap();
        let out = clerk_expect(&["check", "--config", c, "--period", "2026-11"], 1);
        assert!(text(&out).contains("approvals.csv"), "{what}: {}", text(&out));
        assert_chinese(what, &text(&out));
    }
    std::fs::write(&approvals, original).unwrap();

    // Another run holds the office's lock: exit 3, said in Chinese.
    clerk_expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let lock = dir.join("state/ledger.db.lock");
    assert!(lock.exists(), "the lock file of the example office's ledger");
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["-c", "echo held; sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    let out = clerk(&["run", "--config", c, "--period", "2026-11"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("另一个 disburse"), "{}", text(&out));
    assert_chinese("locked", &text(&out));
}

#[test]
fn summaries_and_verify_speak_chinese_and_name_programs_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path());
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    for (args, code) in [
        (vec!["check", "--config", c, "--period", "2026-11"], 2),
        (vec!["run", "--config", c, "--period", "2026-11"], 2),
        (vec!["status", "--config", c, "--period", "2026-11"], 0),
    ] {
        let out = clerk_expect(&args, code);
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(said.contains("城乡最低生活保障金") && said.contains("特困人员供养金"), "{args:?}: {said}");
        assert!(!said.contains("dibao") && !said.contains("wubao"), "{args:?}: program codes in {said}");
        assert_chinese(&format!("{args:?}"), &said);
    }
    let period = dir.join("out/2026-11");
    let out = clerk_expect(&["verify", period.to_str().unwrap()], 0);
    assert!(text(&out).contains("校验通过"), "{}", text(&out));
    assert_chinese("verify", &text(&out));
    // A changed bank file: the refusal is Chinese too.
    let bank = std::fs::read_dir(period.join("bank"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "xml"))
        .unwrap();
    let mut bytes = std::fs::read(&bank).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&bank, bytes).unwrap();
    let out = clerk_expect(&["verify", period.to_str().unwrap()], 1);
    assert_chinese("verify refused", &text(&out));

    // The same summary in English on request.
    let out = common::expect(&["status", "--config", c, "--period", "2026-11"], 0);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("dibao") && said.contains("sent") && !said.contains("城乡"), "{said}");
}

#[test]
fn progress_writes_nothing_to_a_stderr_that_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path());
    let c = config.to_str().unwrap();
    for args in [["check", "--config", c, "--period", "2026-11"], ["run", "--config", c, "--period", "2026-11"]] {
        let out = clerk_expect(&args, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "{args:?}: stderr is for logs only, and there are none at this level: {err:?}");
    }
}

/// On a terminal (a pty from `script`) the display is drawn — and erased
/// before the summary, so no bar is left on the screen.
#[test]
fn progress_on_a_terminal_is_drawn_and_then_cleared() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to give the binary a terminal");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path());
    let log = tmp.path().join("pty.log");
    let command = format!("'{}' check --config '{}' --period 2026-11", common::bin().display(), config.display());
    let out = std::process::Command::new("script")
        .args(["-qfec", &command])
        .arg(&log)
        .env_remove("DISBURSE_LANG")
        .env_remove("DISBURSE_LOG_FORMAT")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).to_string();
    assert_eq!(out.status.code(), Some(2), "{screen}");
    let summary = screen.find("检查完成").expect("the summary is printed");
    let drawn = &screen[..summary];
    let last_bar = drawn.rfind(" 行").expect("a bar with its line count was drawn on the terminal");
    assert!(drawn.contains("读入 城乡最低生活保障金") && drawn.contains("写出 "), "stage labels in Chinese: {drawn:?}");
    assert!(!drawn.contains("/s") && !drawn.contains("lines"), "the rate in Chinese: {drawn:?}");
    assert!(
        drawn[last_bar..].contains("\u{1b}[2K"),
        "the last bar is erased before the summary: {:?}",
        &drawn[last_bar..]
    );
    let after = &screen[summary..screen.find("Script done").unwrap_or(screen.len())];
    assert!(!after.contains(" 行/秒") && !after.contains('['), "nothing of the display after the summary: {after:?}");
}

/// The final event of a command under `--log-format json`.
fn final_event(out: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_else(|| panic!("no log lines: {}", text(out)));
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(v["event"], "finished", "{last}");
    assert_eq!(v["exit"].as_i64(), out.status.code().map(i64::from), "{last}");
    v
}

/// Every amount in `v` (a key ending in `amount`) is a string with exactly two decimals.
fn amounts_have_two_decimals(v: &serde_json::Value, path: &str, seen: &mut usize) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k.ends_with("amount") || k == "amount" {
                    let s = x.as_str().unwrap_or_else(|| panic!("{path}.{k} is not a string: {x}"));
                    let (_, frac) = s.split_once('.').unwrap_or_else(|| panic!("{path}.{k} = {s}"));
                    assert!(frac.len() == 2 && frac.chars().all(|c| c.is_ascii_digit()), "{path}.{k} = {s}");
                    *seen += 1;
                }
                amounts_have_two_decimals(x, &format!("{path}.{k}"), seen);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| amounts_have_two_decimals(x, path, seen)),
        _ => {}
    }
}

#[test]
fn every_command_ends_its_json_log_with_its_status_and_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let config = office(tmp.path());
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let oct = dir.join("out/2026-10");
    let inbox = tmp.path().join("inbox");
    let json = |args: &[&str], code: i32| {
        let mut all = vec!["--log-format", "json"];
        all.extend_from_slice(args);
        let out = clerk_expect(&all, code);
        let event = final_event(&out);
        assert_eq!(event["command"], args[0], "{event}");
        // Every amount of every event, not only the last one's.
        let mut seen = 0;
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            amounts_have_two_decimals(&v, args[0], &mut seen);
        }
        (event, seen)
    };
    let (check, seen) = json(&["check", "--config", c, "--period", "2026-10"], 2);
    assert!(seen >= 5 && check["totals"]["paid_lines"].as_u64() > Some(0), "{check}");
    let (run, _) = json(&["run", "--config", c, "--period", "2026-10"], 2);
    assert_eq!(run["totals"]["batch"], "R001", "{run}");
    assert!(run["totals"]["sent_amount"].as_str().is_some_and(|a| a.ends_with(".00") || a.contains('.')), "{run}");
    let (verify, _) = json(&["verify", oct.to_str().unwrap()], 0);
    assert_eq!(verify["totals"]["lines"], run["totals"]["sent_lines"], "{verify}");
    assert_eq!(verify["totals"]["amount"], run["totals"]["sent_amount"], "{verify}");

    let answer = fake_bank::answer(&oct, &inbox, 7).unwrap();
    assert!(!answer.rejected.is_empty());
    let p002 = inbox.join("pain002.xml");
    let (returns, seen) = json(&["returns", "--config", c, p002.to_str().unwrap()], 2);
    assert!(returns["totals"]["updated_lines"].as_u64() > Some(0) && seen > 0, "{returns}");
    let corrections = inbox.join("corrections.csv");
    let (reissue, _) =
        json(&["reissue", "--config", c, "--period", "2026-10", "--corrections", corrections.to_str().unwrap()], 2);
    assert!(reissue["totals"]["sent_lines"].as_u64() > Some(0), "{reissue}");
    let (status, seen) = json(&["status", "--config", c, "--period", "2026-10"], 0);
    assert!(seen >= 12, "{status}");

    // A refusal ends with its status too (and nothing else).
    let out = clerk_expect(&["--log-format", "json", "status", "--config", "nowhere.toml"], 1);
    let event = final_event(&out);
    assert!(event.get("totals").is_none(), "{event}");
}

#[test]
fn the_readme_starts_a_clerk_off_and_walks_the_month() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // Links stay inside the repository, and the files they name are there.
    for (i, _) in readme.match_indices("](") {
        let target = &readme[i + 2..i + 2 + readme[i + 2..].find(')').unwrap()];
        assert!(!target.contains("://") && !target.starts_with(".."), "a link out of the repository: {target}");
        let file = target.split('#').next().unwrap();
        assert!(root.join(file).exists(), "a link to a missing file: {target}");
    }
    assert!(!readme.contains("<http"), "an autolink out of the repository");
    // The first screen: what to install and what to type.
    let first_screen: String = readme.lines().take(30).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("cargo install --path ."), "{first_screen}");
    assert!(first_screen.contains("disburse check --config"), "{first_screen}");
    // The month, step by step, with what each step writes.
    let month = &readme[readme.find("## 一个月的工作").expect("a 一个月的工作 section")..];
    let month = &month[..month[3..].find("\n## ").map_or(month.len(), |e| e + 3)];
    let mut at = 0;
    for step in
        ["disburse check", "disburse run", "disburse verify", "disburse returns", "disburse reissue", "disburse status"]
    {
        let found = month[at..].find(step).unwrap_or_else(|| panic!("{step} in order in the monthly loop"));
        at += found;
    }
    for file in [
        "exceptions.csv",
        "bank/",
        "manifest.json",
        "roster.xlsx",
        "notice.xlsx",
        "failures.csv",
        "stops_suggested.csv",
        "reissue_exceptions.csv",
    ] {
        assert!(month.contains(file), "the monthly loop names {file}");
    }
    // corrections.csv: its columns and when to use it.
    let corrections = &readme[readme.find("## 更正表").expect("a section on corrections.csv")..];
    for column in ["end_to_end_id", "account", "bank", "payee_name", "payee_type", "verified_by"] {
        assert!(corrections.contains(&format!("`{column}`")), "corrections.csv column {column}");
    }
    assert!(corrections.contains("什么时候用"), "when to use it");
}
