//! Streaming a receipt from its file (`stream_xml_file`) answers exactly as
//! reading its bytes (`parse_xml_receipt`): the same lines, or the same refusal
//! with the same line number — for every fixture, and for each one cut short or
//! broken by a stray byte at many places, with a BOM, and re-encoded as GBK.

use disburse::domain::ReceiptLine;
use disburse::returns::{parse_xml_receipt, stream_xml_file, ParsedReceipt, ReturnsError};

const FILE: &str = "bank/ret.xml";

fn streamed(bytes: &[u8]) -> Result<Option<ParsedReceipt>, ReturnsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xml");
    std::fs::write(&path, bytes).unwrap();
    let mut lines: Vec<ReceiptLine> = Vec::new();
    let out = stream_xml_file(&path, FILE, &mut |mut l| {
        assert!(l.file.is_empty(), "streamed lines carry no file name");
        l.file = FILE.into();
        lines.push(l);
    })?;
    Ok(out.map(|p| ParsedReceipt { lines, ..p }))
}

fn same(bytes: &[u8], what: &str) {
    let expected = parse_xml_receipt(bytes, FILE);
    let got = streamed(bytes);
    match (&expected, &got) {
        // A refusal may come after some lines were streamed; only the error counts.
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
        _ => assert_eq!(expected, got, "{what}"),
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/fixtures/returns", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 3, "fixtures/returns holds the XML receipts");
    out
}

#[test]
fn every_fixture_streams_as_it_parses() {
    for (name, bytes) in fixtures() {
        same(&bytes, &name);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&bytes);
        same(&bom, &format!("{name} with a BOM"));
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let gbk = text.replacen("encoding=\"UTF-8\"", "encoding=\"GBK\"", 1);
            let (enc, _, _) = encoding_rs::GBK.encode(&gbk);
            same(&enc, &format!("{name} as GBK"));
        }
    }
}

#[test]
fn cut_or_broken_fixtures_refuse_alike() {
    for (name, bytes) in fixtures() {
        let step = (bytes.len() / 40).max(1);
        for at in (0..bytes.len()).step_by(step) {
            same(&bytes[..at], &format!("{name} cut at {at}"));
            let mut bad = bytes.clone();
            bad[at] = 0xFF;
            same(&bad, &format!("{name} with 0xFF at {at}"));
            let mut lt = bytes.clone();
            lt[at] = b'<';
            same(&lt, &format!("{name} with '<' at {at}"));
        }
    }
}
