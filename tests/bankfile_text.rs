//! Chinese bank text layouts of `formats/`: write → read round trips, fixed widths in
//! GBK bytes, refusals (rare characters, long names), splitting at the line limit,
//! return files (回盘) and malformed ones.

#[path = "bankfile_common.rs"]
mod common;

use common::*;
use disburse::bankfile::{builtin_formats, BankFileError, Format, ParsedPayment};
use disburse::domain::{Fen, Length, PaymentLine, PaymentStatus, TextEncoding};

const LAYOUTS: [&str; 3] = ["pipe-gbk", "fixed-gbk", "fen-gbk"];

fn load(name: &str) -> Format {
    Format::load(name, &formats_dir()).unwrap()
}

fn expected(f: &Format, l: &PaymentLine) -> ParsedPayment {
    ParsedPayment {
        end_to_end_id: l.end_to_end_id.to_string(),
        name: l.payee_name.to_string(),
        account: l.account.as_str().to_string(),
        id_number: (f.name() == "pipe-gbk").then(|| l.id_number.as_str().to_string()),
        amount: l.amount,
    }
}

fn gbk(bytes: &[u8]) -> String {
    TextEncoding::Gbk.decode(bytes).expect("GBK")
}

#[test]
fn every_layout_round_trips() {
    let (o, p) = (office(), payer());
    let mut ls = lines(7);
    ls[2].bank = "402331000007".into();
    for name in LAYOUTS {
        let f = load(name);
        let dir = tempfile::tempdir().unwrap();
        let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
        assert_eq!(files.len(), 1, "{name}");
        let bytes = std::fs::read(&files[0].path).unwrap();
        assert_eq!(files[0].size, bytes.len() as u64);
        assert_eq!(files[0].sha256, disburse::fsutil::sha256_hex(&bytes));
        let want: Vec<ParsedPayment> = ls.iter().map(|l| expected(&f, l)).collect();
        assert_eq!(f.read_payments(&bytes).unwrap(), want, "{name}");
        let total: Fen = ls.iter().map(|l| l.amount).sum();
        assert_eq!(f.count_and_total(&bytes).unwrap(), (7, total), "{name}");
        assert_eq!((files[0].lines, files[0].total), (7, total));
        assert!(bytes.ends_with(b"\r\n"));
    }
}

#[test]
fn pipe_gbk_has_summary_first() {
    let (o, p) = (office(), payer());
    let ls = lines(3);
    let dir = tempfile::tempdir().unwrap();
    let files = load("pipe-gbk").write(&batch(&o, &p, &ls), dir.path()).unwrap();
    assert_eq!(files[0].file_name, "DB202611R001_001.txt");
    let text = gbk(&std::fs::read(&files[0].path).unwrap());
    let rows: Vec<&str> = text.split("\r\n").collect();
    let total: Fen = ls.iter().map(|l| l.amount).sum();
    assert_eq!(
        rows[0],
        format!(
            "DB202611R001|20261125|33001610000053012345|某县民政局社会救助资金专户|城乡最低生活保障金|3|{total}|202611"
        )
    );
    let l = &ls[0];
    assert_eq!(
        rows[1],
        format!(
            "1|{}|{}|{}|33001610000053012345|01|{}|{}",
            l.payee_name,
            l.amount,
            l.account.as_str(),
            l.id_number.as_str(),
            l.end_to_end_id
        )
    );
    // tampering with the summary is caught
    let bad = text.replacen("|3|", "|4|", 1);
    let err = load("pipe-gbk").count_and_total(&TextEncoding::Gbk.encode(&bad).unwrap()).unwrap_err();
    assert!(err.to_string().contains("4"), "{err}");
}

#[test]
fn fen_gbk_has_comments_summary_and_end_marker() {
    let (o, p) = (office(), payer());
    let ls = vec![line(1, "张三", 76500, "")];
    let dir = tempfile::tempdir().unwrap();
    let files = load("fen-gbk").write(&batch(&o, &p, &ls), dir.path()).unwrap();
    assert_eq!(files[0].file_name, "DB202611R001_20261125_001.bxt");
    let text = gbk(&std::fs::read(&files[0].path).unwrap());
    let rows: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(rows[0], "#注意:本文件中的金额均以分为单位！");
    assert_eq!(rows[1], "#某县民政局 城乡最低生活保障金 批次DB202611R001 第1/1个文件");
    assert_eq!(rows[3], "RMB|20261125|1|76500|1|");
    assert!(rows[6].starts_with("RMB|20261125|2|1|||105331000011|33001610000053012345|"), "{}", rows[6]);
    assert!(rows[6].ends_with("|张三|76500|城乡最低生活保障金|DB202611R0010000001|"), "{}", rows[6]);
    assert_eq!(rows[7], "*");
    assert_eq!(rows[8], "");
    // a file without its end marker is refused
    let cut = text.replace("*\r\n", "");
    assert!(load("fen-gbk").read_payments(&TextEncoding::Gbk.encode(&cut).unwrap()).is_err());
}

#[test]
fn fixed_gbk_lines_are_exact_byte_widths() {
    let (o, p) = (office(), payer());
    let long = "欧".repeat(30); // 60 bytes in GBK: fits exactly
    let ls = vec![line(1, "张三", 76500, ""), line(2, "Li Si", 1, ""), line(3, &long, 99999999, "")];
    let dir = tempfile::tempdir().unwrap();
    let f = load("fixed-gbk");
    let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
    assert_eq!(files[0].file_name, "DB202611R001.33001610000053012345.20261120093000");
    let bytes = std::fs::read(&files[0].path).unwrap();
    let rows: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.len(), 60 + 30 + 18 + 30 + 1, "138 bytes plus CR");
    }
    assert_eq!(gbk(&rows[0][..60]), format!("张三{}", " ".repeat(56)));
    assert_eq!(gbk(&rows[0][90..108]), format!("765.000{}", " ".repeat(11)));
    assert_eq!(gbk(&rows[2][..60]), long);
    let back = f.read_payments(&bytes).unwrap();
    assert_eq!(back[1].name, "Li Si");
    assert_eq!(back[2].amount, Fen(99999999));
    // 31 characters = 62 bytes: refused, never cut
    let too_long = "欧".repeat(31);
    let err = f.write(&batch(&o, &p, &[line(9, &too_long, 100, "")]), dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("DB202611R0010000009") && msg.contains("62") && msg.contains("60"), "{msg}");
    // a line of the wrong length is refused with its line number
    let mut bad = bytes.clone();
    bad.insert(10, b' ');
    let err = f.read_payments(&bad).unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn rare_characters_are_refused_not_escaped() {
    let (o, p) = (office(), payer());
    for name in LAYOUTS {
        let dir = tempfile::tempdir().unwrap();
        let ls = vec![line(1, "张三", 100, ""), line(2, "李㐀", 100, "")];
        let err = load(name).write(&batch(&o, &p, &ls), dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, BankFileError::Line { .. }), "{name}: {msg}");
        assert!(msg.contains("DB202611R0010000002") && msg.contains('㐀'), "{name}: {msg}");
        assert!(!msg.contains(ls[1].id_number.as_str()), "no full ID in messages");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{name}: nothing left behind");
    }
}

#[test]
fn text_rules_follow_the_layout() {
    for name in LAYOUTS {
        let r = load(name).text_rules();
        assert_eq!(r.encoding, TextEncoding::Gbk);
        assert_eq!(r.name_max, Some(Length::Bytes(60)), "{name}");
    }
}

#[test]
fn split_at_line_limit_into_numbered_files() {
    let (o, p) = (office(), payer());
    let ls = lines(7001);
    let f = load("fen-gbk"); // line_limit = 3000
    let dir = tempfile::tempdir().unwrap();
    let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
    let names: Vec<&str> = files.iter().map(|w| w.file_name.as_str()).collect();
    assert_eq!(
        names,
        ["DB202611R001_20261125_001.bxt", "DB202611R001_20261125_002.bxt", "DB202611R001_20261125_003.bxt"]
    );
    assert_eq!(files.iter().map(|w| w.lines).collect::<Vec<_>>(), [3000, 3000, 1001]);
    let total: Fen = ls.iter().map(|l| l.amount).sum();
    assert_eq!(files.iter().map(|w| w.total).sum::<Fen>(), total);
    let mut seen = Vec::new();
    for w in &files {
        let bytes = std::fs::read(&w.path).unwrap();
        assert_eq!(f.count_and_total(&bytes).unwrap(), (w.lines, w.total));
        seen.extend(f.read_payments(&bytes).unwrap().into_iter().map(|p| p.end_to_end_id));
    }
    assert_eq!(seen, ls.iter().map(|l| l.end_to_end_id.to_string()).collect::<Vec<_>>());
    let text = gbk(&std::fs::read(&files[1].path).unwrap());
    assert!(text.contains("批次DB202611R001-002 第2/3个文件"), "{}", &text[..200]);
}

/// A return file read a line at a time gives the lines read whole gives, however
/// small the read buffer (lines cross it), with or without a BOM and CR LF.
#[test]
fn return_files_stream_as_they_read_whole() {
    for (layout, name) in
        [("pipe-gbk", "pipe-gbk-return.txt"), ("fixed-gbk", "fixed-gbk-return.txt"), ("fen-gbk", "fen-gbk-return.txt")]
    {
        let f = load(layout);
        let plain: Vec<u8> = fixture(name).into_iter().filter(|&b| b != b'\r').collect();
        let crlf: Vec<u8> = plain.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
        for bytes in [plain.clone(), crlf] {
            let whole = f.read_returns(&bytes, name).unwrap();
            for cap in [1, 7, 64, 1 << 16] {
                let mut streamed = Vec::new();
                let mut input = std::io::BufReader::with_capacity(cap, &bytes[..]);
                let n = f.stream_returns(&mut input, name, &mut |l| streamed.push(l)).unwrap();
                assert_eq!(n as usize, whole.len(), "{name} {cap}");
                assert_eq!(streamed, whole, "{name} {cap}");
            }
        }
        let cut = &plain[..plain.len() - 1];
        let err = f.stream_returns(&mut &cut[..], name, &mut |_| ()).unwrap_err().to_string();
        assert!(err.contains("no line ending"), "{err}");
    }
}

#[test]
fn return_files_parse() {
    let want = |s| match s {
        0 => PaymentStatus::Settled,
        1 => PaymentStatus::Failed,
        2 => PaymentStatus::Returned,
        _ => PaymentStatus::Pending,
    };
    let r = load("pipe-gbk").read_returns(&fixture("pipe-gbk-return.txt"), "pipe-gbk-return.txt").unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!((r[0].position, r[0].status, r[0].amount), (2, want(0), Some(Fen(40000))));
    assert_eq!((r[1].status, r[1].reason_text.as_str(), r[1].reason_code.as_str()), (want(1), "账户已销户", ""));
    assert_eq!((r[2].status, r[2].end_to_end_id.as_str()), (want(2), "DB202611R0010000003"));

    let r = load("fixed-gbk").read_returns(&fixture("fixed-gbk-return.txt"), "abc.txt").unwrap();
    assert_eq!(r.iter().map(|l| l.status).collect::<Vec<_>>(), [want(0), want(1), want(3)]);
    assert_eq!(
        (r[1].amount, r[1].reason_text.as_str(), r[1].file.as_str()),
        (Some(Fen(36500)), "户名与账号不符", "abc.txt")
    );

    let r = load("fen-gbk").read_returns(&fixture("fen-gbk-return.txt"), "icbc.txt").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].position, r[0].status, r[0].amount, r[0].reason_text.as_str()),
        (3, want(0), Some(Fen(40000)), "")
    );
    assert_eq!(
        (r[1].status, r[1].reason_text.as_str(), r[1].end_to_end_id.as_str()),
        (want(1), "账号不存在", "DB202611R0010000002")
    );
}

#[test]
fn malformed_return_files_are_refused_with_file_and_line() {
    let f = load("pipe-gbk");
    let good = gbk(&fixture("pipe-gbk-return.txt"));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (TextEncoding::Gbk.encode(&good.replace("|S|成功|", "|S|成功|x|")).unwrap(), "columns"),
        (TextEncoding::Gbk.encode(&good.replace("|F|", "|X|")).unwrap(), "status 'X'"),
        (TextEncoding::Gbk.encode(&good.replace("365.00", "365,0.0")).unwrap(), "amount"),
        (TextEncoding::Gbk.encode(&good.replace("365.00", "365.001")).unwrap(), "amount"),
        ([TextEncoding::Gbk.encode(&good).unwrap(), b"4|\xff\xfe|1|1.00|S|x|DB1\r\n".to_vec()].concat(), "GBK"),
    ];
    for (bytes, what) in cases {
        let err = f.read_returns(&bytes, "back.txt").unwrap_err().to_string();
        assert!(err.contains("back.txt") && err.contains("line") && err.contains(what), "{what}: {err}");
    }
    let no_marker = gbk(&fixture("fen-gbk-return.txt")).replace("*\r\n", "");
    let err = load("fen-gbk").read_returns(&TextEncoding::Gbk.encode(&no_marker).unwrap(), "icbc.txt").unwrap_err();
    assert!(err.to_string().contains("end marker"), "{err}");
}

#[test]
fn builtins_and_local_overrides() {
    let names: Vec<&str> = builtin_formats().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, LAYOUTS);
    for (n, text) in builtin_formats() {
        assert_eq!(*text, std::fs::read_to_string(formats_dir().join(format!("{n}.toml"))).unwrap());
    }
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(Format::load("fen-gbk", empty.path()).unwrap().name(), "fen-gbk");
    assert!(Format::load("nosuchbank", empty.path()).unwrap_err().to_string().contains("nosuchbank"));
    assert!(Format::load("../etc/passwd", empty.path()).is_err());

    // a local file wins over the built-in, and typos are refused
    let dir = tempfile::tempdir().unwrap();
    let custom = builtin_formats()[0].1.replace("line_limit = 10000", "line_limit = 2");
    std::fs::write(dir.path().join("pipe-gbk.toml"), &custom).unwrap();
    let f = Format::load("pipe-gbk", dir.path()).unwrap();
    let (o, p) = (office(), payer());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(f.write(&batch(&o, &p, &lines(5)), out.path()).unwrap().len(), 3);
    for (from, to, what) in [
        ("line_limit = 10000", "line_limt = 10000", "line_limt"),
        ("{ source = \"end_to_end_id\" },", "", "EndToEndId"),
        ("unit = \"yuan\"\ndecimals = 2", "unit = \"yuan\"\ndecimals = 1", "decimals"),
        ("{batch_id}_{part:03}.txt", "{batch}.txt", "placeholder"),
    ] {
        let base = builtin_formats()[0].1;
        assert!(base.contains(from), "{from}");
        std::fs::write(dir.path().join("bad.toml"), base.replace(from, to)).unwrap();
        let err = Format::load("bad", dir.path()).unwrap_err().to_string();
        assert!(err.contains(what) && err.contains("bad.toml"), "{what}: {err}");
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const ALPHABET: &[&str] = &["张", "李", "王", "欧", "阳", "娜", "明", "华", "A", "b", " ", "·", "&", "<"];

    fn name() -> impl Strategy<Value = String> {
        proptest::collection::vec(0..ALPHABET.len(), 1..12).prop_map(|v| {
            let s: String = v.into_iter().map(|i| ALPHABET[i]).collect();
            let t = s.trim().to_string();
            if t.is_empty() {
                "张".to_string()
            } else {
                t
            }
        })
    }

    proptest! {
        #![proptest_config(common::seed::proptest_config(48))]
        #[test]
        fn write_read_round_trip(
            rows in proptest::collection::vec((name(), 1i64..10_000_000_000, 10_000_000u64..9_999_999_999_999), 1..20),
            which in 0usize..3,
        ) {
            let ls: Vec<PaymentLine> = rows.iter().enumerate().map(|(i, (n, fen, acct))| {
                let mut l = line(i as u64 + 1, n, *fen, "");
                l.account = disburse::domain::Account::parse(&acct.to_string()).unwrap();
                l
            }).collect();
            let f = load(LAYOUTS[which]);
            let (o, p) = (office(), payer());
            let dir = tempfile::tempdir().unwrap();
            let files = f.write(&batch(&o, &p, &ls), dir.path()).unwrap();
            let bytes = std::fs::read(&files[0].path).unwrap();
            let back = f.read_payments(&bytes).unwrap();
            prop_assert_eq!(back, ls.iter().map(|l| expected(&f, l)).collect::<Vec<_>>());
            if f.name() == "fixed-gbk" {
                for r in bytes.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
                    prop_assert_eq!(r.len(), 139);
                }
            }
        }
    }
}
