//! Hostile receipts are read in bounded memory (SPEC §12): a pain.002 of a
//! gigabyte whose bulk is one comment, one text node, one attribute, or elements
//! nested without end, is refused (exit 1) with a message naming the limit and
//! the line, while the binary runs under a 2 GB address-space limit. The files
//! are generated here, written in pieces, never held.

mod common;

use common::{expect, office, text};
use std::io::Write;
use std::path::Path;

const GIB: usize = 1 << 30;

/// Writes `head`, then `fill` repeated to about `size` bytes, then `tail`.
fn write_big(path: &Path, head: &str, fill: &[u8], size: usize, tail: &str) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    f.write_all(head.as_bytes()).unwrap();
    let chunk: Vec<u8> = fill.iter().copied().cycle().take((1 << 20) / fill.len() * fill.len()).collect();
    let mut written = 0;
    while written < size {
        f.write_all(&chunk).unwrap();
        written += chunk.len();
    }
    f.write_all(tail.as_bytes()).unwrap();
    f.flush().unwrap();
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
    <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt>\n\
    <GrpHdr><MsgId>HUGE</MsgId></GrpHdr>\n";
const TAIL: &str = "\n<OrgnlGrpInfAndSts><OrgnlMsgId>X</OrgnlMsgId></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>\n";

/// `disburse returns` under `ulimit -v 2000000` (2 GB of address space).
fn returns_bounded(config: &Path, file: &Path) -> std::process::Output {
    let script = format!(
        "ulimit -v 2000000; exec '{}' returns --config '{}' '{}'",
        common::bin().display(),
        config.display(),
        file.display()
    );
    std::process::Command::new("sh").arg("-c").arg(script).env(common::LANG.0, common::LANG.1).output().unwrap()
}

#[test]
fn a_gigabyte_node_is_refused_in_bounded_memory() {
    let (tmp, config) = office();
    let cases: [(&str, String, &[u8], String); 4] = [
        ("comment", format!("{HEAD}<!--"), b"comment ", format!("-->{TAIL}")),
        ("text", format!("{HEAD}<AddtlInf>"), "账户已销户".as_bytes(), format!("</AddtlInf>{TAIL}")),
        ("attribute", format!("{HEAD}<X a=\""), b"0123456789", format!("\"/>{TAIL}")),
        ("nesting", HEAD.to_string(), b"<a>", TAIL.to_string()),
    ];
    for (what, head, fill, tail) in cases {
        let size = if what == "comment" { GIB } else { GIB / 4 };
        let file = tmp.path().join(format!("huge-{what}.xml"));
        write_big(&file, &head, fill, size, &tail);
        let out = returns_bounded(&config, &file);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {said}");
        let limit = if what == "nesting" { "nested more than 100 deep" } else { "larger than the limit of 4 MB" };
        assert!(said.contains(limit) && said.contains("line 4"), "{what}: {said}");
        assert!(said.contains("nothing was applied"), "{what}: {said}");
        std::fs::remove_file(&file).unwrap();
    }
    // Nothing was recorded.
    let status = expect(&["status", "--config", config.to_str().unwrap(), "--json"], 0);
    assert!(!String::from_utf8_lossy(&status.stdout).contains("settled\": {\"lines\": 1"));
}
