//! The streaming bank writer (`Format::plan` + `Format::writer`): same bytes as
//! `Format::write`, every file whole or not at all, plan mismatches and bad lines
//! refused with nothing left in the folder.

#[path = "bankfile_common.rs"]
#[allow(unused_imports)]
mod common;

use std::path::Path;

use common::*;
use disburse::bankfile::{BankFileError, BankWriter, Format, PartPlan, WrittenFile};
use disburse::domain::{Fen, PaymentLine};

const SHIPPED: [&str; 5] = ["pain001-v03", "pain001-v09", "pipe-gbk", "fixed-gbk", "fen-gbk"];

/// 12 001 lines (split by every text layout) with names and banks that need XML
/// escaping, CNAPS codes and bank names, and one name too long for the pain.001
/// remittance text (pain formats only).
fn golden_lines(pain: bool) -> Vec<PaymentLine> {
    let mut ls = lines(12_001);
    ls[0].payee_name = "A&B<C>'D\"".into();
    ls[0].name = "E&F<G>".into();
    ls[1].bank = "102100099996".into();
    ls[2].bank = "农行&<城关>支行".into();
    ls[3].township = "城关&镇".into();
    if pain {
        ls[4].name = "长".repeat(130).into();
        ls[4].payee_name = "短名".into();
    }
    ls
}

fn file_hashes(name: &str) -> Vec<(String, u64, String)> {
    let (o, p) = (office(), payer());
    let ls = golden_lines(name.starts_with("pain"));
    let f = Format::load(name, &formats_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
    files.into_iter().map(|w| (w.file_name, w.size, w.sha256)).collect()
}

/// The files `Format::write` produced before the streaming writer (commit 0b81a75):
/// (format, file name, size, SHA-256). Same input, same bytes.
const GOLDEN: &[(&str, &str, u64, &str)] = &[
    // The indented pain.001 is byte for byte what every pain.001 was before it
    // became compact by default.
    (
        "pain001-v03-indented",
        "DB202611R001.xml",
        7797427,
        "324b3bc4eb62bc41b4045b8c392ff27248dfac86e8eabfd498243b580a64f9aa",
    ),
    (
        "pain001-v09-indented",
        "DB202611R001.xml",
        7797445,
        "30533d0a0369575953a3369c3f225e8be7a40a560c0e4ae0fe3d9e3944d86002",
    ),
    ("pipe-gbk", "DB202611R001_001.txt", 1021013, "b606d62fd5dee3986f6a5364f19c0a82d2226e31331dd293d202a7ccfcb2712b"),
    ("pipe-gbk", "DB202611R001_002.txt", 203507, "1faf3155c6f3d00c13dfb50eaa7f3d97d4ef6edeb0589d7ce8d778d9b5617dbd"),
    (
        "fixed-gbk",
        "DB202611R001-001.33001610000053012345.20261120093000",
        700000,
        "09f8bc3039f935f5ac52c62d213f78bd7a5d76e1e9c47f75dc3b6e3336e9bf51",
    ),
    (
        "fixed-gbk",
        "DB202611R001-002.33001610000053012345.20261120093000",
        700000,
        "260e076515ba14a6d969ca1c04b8b199d3e78aba939a09ff4d0c458971096392",
    ),
    (
        "fixed-gbk",
        "DB202611R001-003.33001610000053012345.20261120093000",
        280140,
        "a111e00f9989bb240cdf0b9a2af63b82a72dad5c298fb8f018d5754d5b029872",
    ),
    (
        "fen-gbk",
        "DB202611R001_20261125_001.bxt",
        479895,
        "093fc430ea6d75b80c37be2dd1db07936de8384b804aca85b7b816eb96d38ec5",
    ),
    (
        "fen-gbk",
        "DB202611R001_20261125_002.bxt",
        479863,
        "3a22d4098f1b1ba541f5ffdd9b208ca6bddcd759096548801951567bf106a6fa",
    ),
    (
        "fen-gbk",
        "DB202611R001_20261125_003.bxt",
        479863,
        "267fde1a9b67f376fdbf2be6b81fb651655293b11131fbce01c5337764ddb648",
    ),
    (
        "fen-gbk",
        "DB202611R001_20261125_004.bxt",
        479863,
        "e4461192e8ffa9497010b1a80554986f8d2f6e9c7db394e790eb9e63276986ca",
    ),
    (
        "fen-gbk",
        "DB202611R001_20261125_005.bxt",
        519,
        "dadcbeb6cf3f18a50fa7cccb3644a88c01338f9bb756b359b8e6b3af07986d39",
    ),
];

#[test]
fn same_bytes_as_before_the_streaming_writer() {
    for name in SHIPPED.iter().copied().chain(["pain001-v03-indented", "pain001-v09-indented"]) {
        if name.starts_with("pain") && !name.ends_with("-indented") {
            continue;
        }
        let want: Vec<(String, u64, String)> =
            GOLDEN.iter().filter(|g| g.0 == name).map(|g| (g.1.to_string(), g.2, g.3.to_string())).collect();
        assert_eq!(file_hashes(name), want, "{name}");
    }
}

/// A compact pain.001 is the indented one without the whitespace between
/// elements: the same elements and texts, about half the bytes.
#[test]
fn compact_pain001_is_the_indented_one_without_whitespace() {
    let (o, p) = (office(), payer());
    let ls = golden_lines(true);
    for v in ["pain001-v03", "pain001-v09"] {
        let bytes = |name: &str| {
            let dir = tempfile::tempdir().unwrap();
            let f = Format::load(name, &formats_dir()).unwrap();
            let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
            assert_eq!(files.len(), 1, "{name}");
            std::fs::read(&files[0].path).unwrap()
        };
        let (compact, indented) = (bytes(v), bytes(&format!("{v}-indented")));
        let squeezed: Vec<u8> = String::from_utf8(indented.clone())
            .unwrap()
            .lines()
            .enumerate()
            .flat_map(|(i, l)| if i == 0 { format!("{l}\n") } else { l.trim_start().to_string() }.into_bytes())
            .collect();
        let mut compact_nl = compact.clone();
        compact_nl.pop();
        assert_eq!(compact_nl, squeezed, "{v}: the compact form is the indented one unindented");
        assert_eq!(
            compact.iter().filter(|b| **b == b'\n').count(),
            2,
            "{v}: a line for the declaration, one for the rest"
        );
        assert!(compact.len() * 100 < indented.len() * 70, "{v}: {} against {} bytes", compact.len(), indented.len());
    }
}

#[test]
#[ignore]
fn print_golden() {
    for name in SHIPPED {
        for (n, size, sha) in file_hashes(name) {
            println!("(\"{name}\", \"{n}\", {size}, \"{sha}\"),");
        }
    }
}

/// 1M lines through `Format::write`: `cargo test --release --test bankfile_stream -- --ignored --nocapture speed`.
#[test]
#[ignore]
fn speed_1m_lines_write() {
    let (o, p) = (office(), payer());
    let ls = lines(1_000_000);
    for name in SHIPPED {
        let f = Format::load(name, &formats_dir()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
        let took = t.elapsed();
        eprintln!(
            "write {name}: {} files, {:?}, {:.0} lines/s",
            files.len(),
            took,
            ls.len() as f64 / took.as_secs_f64()
        );
    }
}

/// 1M generated lines pushed one at a time (never all in memory):
/// `cargo test --release --test bankfile_stream -- --ignored --nocapture speed`.
#[test]
#[ignore]
fn speed_1m_lines_stream() {
    let (o, p) = (office(), payer());
    let names = ["张三", "李四", "王小五", "欧阳娜娜", "赵六"];
    let amount = |i: u64| 30000 + (i as i64 * 37) % 50000;
    let gen = |i: u64| line(i, names[(i % 5) as usize], amount(i), "");
    let n = 1_000_000u64;
    let empty: Vec<PaymentLine> = Vec::new();
    for name in SHIPPED {
        let f = Format::load(name, &formats_dir()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let plan = f.plan((1..=n).map(|i| Fen(amount(i))));
        let mut w = f.writer(batch(&o, &p, &empty).head(), plan, dir.path()).unwrap();
        for i in 1..=n {
            w.push(&gen(i)).unwrap();
        }
        let files = w.finish().unwrap();
        let took = t.elapsed();
        eprintln!(
            "stream {name}: {} files, {:?}, {:.0} lines/s (line generation included)",
            files.len(),
            took,
            n as f64 / took.as_secs_f64()
        );
    }
}

fn load(name: &str) -> Format {
    Format::load(name, &formats_dir()).unwrap()
}

/// Plans `ls` and opens a writer for them into `dir`.
fn open<'a>(f: &'a Format, ls: &[PaymentLine], dir: &Path) -> BankWriter<'a> {
    let (o, p) = (Box::leak(Box::new(office())), Box::leak(Box::new(payer())));
    f.writer(batch(o, p, &[]).head(), f.plan(ls.iter().map(|l| l.amount)), dir).unwrap()
}

fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn strip_paths(files: &[WrittenFile]) -> Vec<(String, u64, Fen, u64, String)> {
    files.iter().map(|w| (w.file_name.clone(), w.lines, w.total, w.size, w.sha256.clone())).collect()
}

#[test]
fn streaming_equals_write_for_every_shipped_layout() {
    let (o, p) = (office(), payer());
    for name in SHIPPED {
        let f = load(name);
        // 10 001 lines: pipe-gbk splits in 2, fixed-gbk in 3, fen-gbk in 4 files.
        let ls = golden_lines(name.starts_with("pain"));
        let ls = &ls[..10_001];
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let written = f.write(&batch(&o, &p, ls), d1.path()).unwrap();
        let plan = f.plan(ls.iter().map(|l| l.amount));
        assert_eq!(plan.iter().map(|p| p.lines).sum::<u64>(), 10_001);
        assert_eq!(plan.len(), written.len(), "{name}");
        let mut w = f.writer(batch(&o, &p, ls).head(), plan, d2.path()).unwrap();
        let mut per_line = Vec::new();
        for l in ls {
            per_line.push(w.push(l).unwrap().to_string());
        }
        let streamed = w.finish().unwrap();
        assert_eq!(strip_paths(&streamed), strip_paths(&written), "{name}");
        for (a, b) in streamed.iter().zip(&written) {
            assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap(), "{name}");
            assert_eq!(a.path, d2.path().join(&a.file_name));
            assert_eq!(disburse::fsutil::sha256_file(&a.path).unwrap(), a.sha256);
            assert_eq!(std::fs::metadata(&a.path).unwrap().len(), a.size);
            // push named the file each line went into
            assert_eq!(per_line.iter().filter(|n| **n == a.file_name).count() as u64, a.lines, "{name}");
        }
        assert_eq!(listing(d2.path()).len(), streamed.len(), "{name}: no temporary file left");
    }
}

#[test]
fn plan_splits_at_the_line_limit() {
    let f = load("fen-gbk"); // line_limit = 3000
    let plan = f.plan((1..=7001).map(|_| Fen(100)));
    assert_eq!(
        plan,
        [
            PartPlan { lines: 3000, total: Fen(300_000) },
            PartPlan { lines: 3000, total: Fen(300_000) },
            PartPlan { lines: 1001, total: Fen(100_100) }
        ]
    );
    assert_eq!(load("pain001-v03").plan((1..=7001).map(|_| Fen(1))).len(), 1);
    assert!(f.plan(std::iter::empty()).is_empty());
}

#[test]
fn finish_refuses_fewer_lines_than_planned_and_leaves_nothing() {
    for name in SHIPPED {
        let f = load(name);
        let ls = lines(3001);
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls, dir.path());
        for l in &ls[..3000] {
            w.push(l).unwrap();
        }
        let e = w.finish().unwrap_err();
        assert!(e.to_string().contains("only"), "{name}: {e}");
        assert!(dir_is_empty(dir.path()), "{name}: {:?}", listing(dir.path()));
    }
}

#[test]
fn a_line_beyond_the_plan_is_refused_and_nothing_is_kept() {
    for name in SHIPPED {
        let f = load(name);
        let ls = lines(3001);
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls[..3000], dir.path());
        for l in &ls[..3000] {
            w.push(l).unwrap();
        }
        let e = w.push(&ls[3000]).unwrap_err();
        assert!(e.to_string().contains(&ls[3000].end_to_end_id.to_string()), "{name}: {e}");
        assert!(dir_is_empty(dir.path()), "{name}: {:?}", listing(dir.path()));
        assert!(w.finish().is_err(), "{name}: finish after a refused line");
        assert!(dir_is_empty(dir.path()));
    }
}

#[test]
fn a_total_different_from_the_plan_is_refused_and_nothing_is_kept() {
    for name in SHIPPED {
        let f = load(name);
        let ls = lines(7001);
        let mut pushed = ls.clone();
        // the last line of the batch: every earlier file of a split batch is complete
        pushed[7000].amount = Fen(pushed[7000].amount.0 + 1);
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls, dir.path());
        let mut err: Option<BankFileError> = None;
        for l in &pushed {
            if let Err(e) = w.push(l) {
                err = Some(e);
                break;
            }
        }
        let e = match err {
            Some(e) => e,
            None => w.finish().unwrap_err(),
        };
        assert!(e.to_string().contains("add up to"), "{name}: {e}");
        assert!(dir_is_empty(dir.path()), "{name}: {:?}", listing(dir.path()));
    }
}

/// `closed` lists each file as soon as its last line is in (the run signs it
/// then, while later lines are written), complete and under its own name.
#[test]
fn closed_lists_each_file_as_its_last_line_goes_in() {
    let f = load("fen-gbk"); // line_limit = 3000
    let ls = lines(7001);
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(&f, &ls, dir.path());
    for (i, l) in ls.iter().enumerate() {
        w.push(l).unwrap();
        let closed = w.closed();
        let whole = if i + 1 == ls.len() { 3 } else { (i + 1) / 3000 };
        assert_eq!(closed.len(), whole, "after line {}", i + 1);
        if let Some(last) = closed.last() {
            assert_eq!(std::fs::metadata(&last.path).unwrap().len(), last.size);
            assert_eq!(disburse::fsutil::sha256_file(&last.path).unwrap(), last.sha256);
        }
    }
    let listed = strip_paths(w.closed());
    assert_eq!(strip_paths(&w.finish().unwrap()), listed);
}

#[test]
fn dropping_a_writer_midway_removes_every_file_it_wrote() {
    for name in SHIPPED {
        let f = load(name);
        let ls = lines(7001);
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls, dir.path());
        for l in &ls[..6500] {
            w.push(l).unwrap();
        }
        let during = listing(dir.path());
        // complete files under their own names, the file being written only under a temporary one
        assert!(during.iter().any(|n| n.starts_with(".tmp-")), "{name}: {during:?}");
        if name == "fen-gbk" {
            assert!(during.contains(&"DB202611R001_20261125_001.bxt".to_string()), "{during:?}");
        }
        drop(w);
        assert!(dir_is_empty(dir.path()), "{name}: {:?}", listing(dir.path()));
    }
}

#[test]
fn a_line_failing_its_check_names_its_end_to_end_id() {
    // (format, how the line is broken, what the message says)
    type Break = fn(&mut PaymentLine);
    let cases: [(&str, Break, &str); 6] = [
        ("fen-gbk", |l| l.payee_name = "张𠀀".into(), "cannot hold"),
        ("fixed-gbk", |l| l.payee_name = "欧阳".repeat(20).into(), "never cut"),
        ("pipe-gbk", |l| l.payee_name = "张|三".into(), "delimiter"),
        ("pain001-v09", |l| l.payee_name = "长".repeat(141).into(), "141 characters"),
        ("pain001-v03", |l| l.bank = "农行\n城关".into(), "control character"),
        ("pain001-v03", |l| l.amount = Fen(0), "above zero"),
    ];
    for (name, brk, says) in cases {
        let f = load(name);
        let mut ls = lines(4000);
        brk(&mut ls[3500]);
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls, dir.path());
        for l in &ls[..3500] {
            w.push(l).unwrap();
        }
        let e = w.push(&ls[3500]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, BankFileError::Line { .. }), "{name}: {msg}");
        assert!(msg.contains(&ls[3500].end_to_end_id.to_string()) && msg.contains(says), "{name}: {msg}");
        assert!(!msg.contains(ls[3500].account.as_str()) && !msg.contains(ls[3500].id_number.as_str()));
        assert!(w.push(&ls[3501]).is_err(), "{name}: the writer stops at the first error");
        drop(w);
        assert!(dir_is_empty(dir.path()), "{name}: {:?}", listing(dir.path()));
    }
}

#[test]
fn batch_level_errors_come_from_writer_before_any_file() {
    let o = office();
    let mut p = payer();
    p.bank_code = "ICBC".into();
    let ls = lines(3);
    let f = load("pain001-v09");
    let dir = tempfile::tempdir().unwrap();
    let plan = f.plan(ls.iter().map(|l| l.amount));
    let e = f.writer(batch(&o, &p, &ls).head(), plan, dir.path()).err().unwrap();
    assert!(e.to_string().contains("CNAPS"), "{e}");
    let e = f.writer(batch(&o, &payer(), &ls).head(), Vec::new(), dir.path()).err().unwrap();
    assert!(e.to_string().contains("no lines"), "{e}");
    let too_big = vec![PartPlan { lines: 3001, total: Fen(1) }];
    let e = load("fen-gbk").writer(batch(&o, &payer(), &ls).head(), too_big, dir.path()).err().unwrap();
    assert!(e.to_string().contains("3001"), "{e}");
    assert!(dir_is_empty(dir.path()));
}

#[test]
fn a_writer_that_leaves_sync_to_its_caller_writes_the_same_files() {
    let (o, p) = (office(), payer());
    for name in SHIPPED {
        let f = load(name);
        let ls = lines(7001);
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let written = f.write(&batch(&o, &p, &ls), d1.path()).unwrap();
        let mut w = open(&f, &ls, d2.path());
        w.leave_sync_to_caller();
        for l in &ls {
            w.push(l).unwrap();
        }
        let streamed = w.finish().unwrap();
        assert_eq!(strip_paths(&streamed), strip_paths(&written), "{name}");
        for (a, b) in streamed.iter().zip(&written) {
            assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap(), "{name}");
        }
        let paths: Vec<_> = streamed.iter().map(|f| f.path.clone()).collect();
        disburse::fsutil::sync_files(&paths).unwrap();
        assert_eq!(listing(d2.path()).len(), streamed.len(), "{name}: no temporary file left");
        std::fs::remove_file(&paths[0]).unwrap();
        let (gone, _) = disburse::fsutil::sync_files(&paths).unwrap_err();
        assert_eq!(gone, paths[0], "{name}: a file that is gone cannot be made durable");

        // dropped midway, it still removes every file it wrote
        let d3 = tempfile::tempdir().unwrap();
        let mut w = open(&f, &ls, d3.path());
        w.leave_sync_to_caller();
        for l in &ls[..6500] {
            w.push(l).unwrap();
        }
        assert!(!dir_is_empty(d3.path()), "{name}");
        drop(w);
        assert!(dir_is_empty(d3.path()), "{name}: {:?}", listing(d3.path()));
    }
}
