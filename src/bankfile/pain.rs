//! ISO 20022 pain.001 (CustomerCreditTransferInitiation) v03 and v09, written one
//! transaction at a time by a small emitter (the same bytes `quick_xml::Writer` with
//! a one-space indent wrote) and re-read streaming with `quick_xml::Reader`.
//!
//! Element order follows the XSD `sequence`s exactly (the schema rejects any other
//! order). Lengths are Unicode characters (XSD MaxNNText); nothing is ever cut: a
//! value that does not fit is an error naming the line.

use std::fmt::Write as _;
use std::str::FromStr;

use quick_xml::events::Event;
use rust_decimal::Decimal;

use super::text::purpose_text;
use super::{BankFileError, BatchHead, Controls, ParsedPayment, Part};
use crate::domain::{Fen, PaymentLine};

/// Which pain.001 version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V03,
    V09,
}

impl Version {
    fn namespace(self) -> &'static str {
        match self {
            Version::V03 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
            Version::V09 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
        }
    }
}

/// Longest name the format carries (Max140Text).
pub(crate) const NAME_MAX: usize = 140;

/// Checks one value against an XSD text type: 1..=max characters, no control
/// characters (XML 1.0 cannot carry most of them, and none belong in a bank field).
fn check(what: &str, v: &str, max: usize, line: Option<&PaymentLine>) -> Result<(), BankFileError> {
    let n = v.chars().count();
    let why = if n == 0 {
        Some("is empty".to_string())
    } else if n > max {
        Some(format!("has {n} characters, pain.001 allows {max}; it is never cut"))
    } else if v.chars().any(char::is_control) {
        Some("contains a control character or line break".to_string())
    } else {
        None
    };
    match (why, line) {
        (None, _) => Ok(()),
        (Some(m), Some(l)) => {
            Err(BankFileError::Line { end_to_end_id: l.end_to_end_id.to_string(), message: format!("{what} {m}") })
        }
        (Some(m), None) => Err(BankFileError::Other(format!("pain.001: {what} {m}"))),
    }
}

fn is_cnaps(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the batch-level values the schema and the bank would refuse, before a byte is written.
pub(crate) fn check_head(b: &BatchHead, parts: &[&Part]) -> Result<(), BankFileError> {
    check("office name (InitgPty/Nm)", &b.office.name, NAME_MAX, None)?;
    check("office USCC (InitgPty/Id)", &b.office.uscc, 35, None)?;
    check("payer name (Dbtr/Nm)", &b.payer.name, NAME_MAX, None)?;
    check("payer account (DbtrAcct/Othr/Id)", &b.payer.account, 34, None)?;
    if !is_cnaps(&b.payer.bank_code) {
        return Err(BankFileError::Other(format!(
            "payer '{}': bank_code must be the 12-digit CNAPS code of the paying branch",
            b.payer.name
        )));
    }
    let p = b.purpose;
    if p.is_empty() || p.len() > 4 || !p.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BankFileError::Other(format!("purpose code '{p}' is not an ISO purpose code such as BENE")));
    }
    for part in parts {
        check("file id (MsgId)", &part.file_id, 35, None)?;
    }
    Ok(())
}

/// Checks one line against what the schema and the bank would refuse.
fn check_line(l: &PaymentLine) -> Result<(), BankFileError> {
    check("end-to-end reference", l.end_to_end_id.as_str(), 35, Some(l))?;
    check("payee name (Cdtr/Nm)", &l.payee_name, NAME_MAX, Some(l))?;
    check("account (CdtrAcct/Othr/Id)", l.account.as_str(), 34, Some(l))?;
    if !l.bank.is_empty() && !is_cnaps(&l.bank) {
        check("bank name (CdtrAgt/Nm)", &l.bank, NAME_MAX, Some(l))?;
    }
    Ok(())
}

/// A tiny XML emitter into a reused buffer (no allocation per element), text
/// escaped as quick-xml escapes it. Compact by default: no whitespace between
/// elements, ~415 bytes a transaction where the indented form (one element per
/// line, one space per level, what `quick_xml::Writer::new_with_indent(w, b' ', 1)`
/// wrote) is ~810 — and every byte of a bank file is written, hashed and signed.
/// The indented form is the format's `-indented` variant (`pain001-v09-indented`).
struct Xml<'b> {
    out: &'b mut Vec<u8>,
    depth: usize,
    indented: bool,
}

impl Xml<'_> {
    fn indent(&mut self) {
        if !self.indented {
            return;
        }
        self.out.push(b'\n');
        self.out.extend(std::iter::repeat_n(b' ', self.depth));
    }

    fn open(&mut self, name: &str) -> &mut Self {
        self.indent();
        self.tag(b"<", name);
        self.depth += 1;
        self
    }

    fn close(&mut self, name: &str) -> &mut Self {
        self.depth -= 1;
        self.indent();
        self.tag(b"</", name);
        self
    }

    /// `<name>text</name>` on one line.
    fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.indent();
        self.tag(b"<", name);
        escape_into(text, self.out);
        self.tag(b"</", name);
        self
    }

    fn tag(&mut self, open: &[u8], name: &str) {
        self.out.extend_from_slice(open);
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    /// `<Id><Othr><Id>…</Id></Othr></Id>`: a non-IBAN account.
    fn othr_account(&mut self, id: &str) -> &mut Self {
        self.open("Id").open("Othr").leaf("Id", id).close("Othr").close("Id")
    }

    /// `<tag><FinInstnId><ClrSysMmbId>` with clearing system CNAPS.
    fn cnaps_agent(&mut self, tag: &str, code: &str) -> &mut Self {
        self.open(tag).open("FinInstnId").open("ClrSysMmbId");
        self.open("ClrSysId").leaf("Cd", "CNAPS").close("ClrSysId").leaf("MmbId", code);
        self.close("ClrSysMmbId").close("FinInstnId").close(tag)
    }
}

/// XML text escaping as quick-xml's `escape` does it.
fn escape_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            b'\r' => b"&#13;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(rep);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// The bytes of one pain.001 document before its first transaction and after its
/// last, from the planned count and total (checked beforehand by [`check_head`]).
pub(crate) fn head_and_tail(v: Version, indented: bool, b: &BatchHead, part: &Part) -> (Vec<u8>, Vec<u8>) {
    let count = part.lines.to_string();
    let sum = part.total.yuan_string();
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let created = b.created.with_timezone(&cst).format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let date = b.execution_date.format("%Y-%m-%d").to_string();
    let mut head = Vec::with_capacity(2048);
    head.extend_from_slice(br#"<?xml version="1.0" encoding="UTF-8"?>"#);
    head.push(b'\n');
    head.extend_from_slice(b"<Document xmlns=\"");
    head.extend_from_slice(v.namespace().as_bytes());
    head.extend_from_slice(b"\">");
    let mut x = Xml { out: &mut head, depth: 1, indented };
    x.open("CstmrCdtTrfInitn").open("GrpHdr");
    x.leaf("MsgId", &part.file_id).leaf("CreDtTm", &created).leaf("NbOfTxs", &count).leaf("CtrlSum", &sum);
    x.open("InitgPty").leaf("Nm", &b.office.name).open("Id").open("OrgId").open("Othr");
    x.leaf("Id", &b.office.uscc).open("SchmeNm").leaf("Prtry", "USCC").close("SchmeNm");
    x.close("Othr").close("OrgId").close("Id").close("InitgPty").close("GrpHdr");
    x.open("PmtInf").leaf("PmtInfId", &part.file_id).leaf("PmtMtd", "TRF").leaf("BtchBookg", "true");
    x.leaf("NbOfTxs", &count).leaf("CtrlSum", &sum);
    x.open("PmtTpInf").open("CtgyPurp").leaf("Cd", "SSBE").close("CtgyPurp").close("PmtTpInf");
    match v {
        Version::V03 => x.leaf("ReqdExctnDt", &date),
        Version::V09 => x.open("ReqdExctnDt").leaf("Dt", &date).close("ReqdExctnDt"),
    };
    x.open("Dbtr").leaf("Nm", &b.payer.name).close("Dbtr");
    x.open("DbtrAcct").othr_account(&b.payer.account).leaf("Ccy", "CNY").close("DbtrAcct");
    x.cnaps_agent("DbtrAgt", &b.payer.bank_code);
    let mut tail = Vec::with_capacity(64);
    let mut x = Xml { out: &mut tail, depth: 3, indented };
    x.close("PmtInf").close("CstmrCdtTrfInitn").close("Document");
    tail.push(b'\n');
    (head, tail)
}

/// Renders transactions (`CdtTrfTxInf`), one at a time, into a buffer it reuses.
pub(crate) struct LineWriter {
    /// ISO purpose code (`Purp/Cd`).
    purpose_code: String,
    /// Remittance text without the name, and its length in characters.
    purpose: String,
    purpose_chars: usize,
    buf: Vec<u8>,
    num: String,
    indented: bool,
}

impl LineWriter {
    pub fn new(b: &BatchHead, indented: bool) -> Self {
        let purpose = purpose_text(b);
        LineWriter {
            indented,
            purpose_code: b.purpose.to_string(),
            purpose_chars: purpose.chars().count(),
            purpose,
            buf: Vec::with_capacity(2048),
            num: String::new(),
        }
    }

    /// Checks one line and returns its bytes.
    pub fn line(&mut self, l: &PaymentLine) -> Result<&[u8], BankFileError> {
        check_line(l)?;
        self.num.clear();
        let a = l.amount.0.unsigned_abs();
        let _ = write!(self.num, "{}.{:02}", a / 100, a % 100);
        self.buf.clear();
        let mut x = Xml { out: &mut self.buf, depth: 3, indented: self.indented };
        x.open("CdtTrfTxInf").open("PmtId").leaf("EndToEndId", l.end_to_end_id.as_str()).close("PmtId");
        x.open("Amt").indent();
        x.out.extend_from_slice(br#"<InstdAmt Ccy="CNY">"#);
        x.out.extend_from_slice(self.num.as_bytes());
        x.tag(b"</", "InstdAmt");
        x.close("Amt");
        if is_cnaps(&l.bank) {
            x.cnaps_agent("CdtrAgt", &l.bank);
        } else if !l.bank.is_empty() {
            x.open("CdtrAgt").open("FinInstnId").leaf("Nm", &l.bank).close("FinInstnId").close("CdtrAgt");
        }
        x.open("Cdtr").leaf("Nm", &l.payee_name).open("Id").open("PrvtId").open("Othr");
        x.leaf("Id", l.id_number.as_str()).open("SchmeNm").leaf("Cd", "NIDN").close("SchmeNm");
        x.close("Othr").close("PrvtId").close("Id").close("Cdtr");
        x.open("CdtrAcct").othr_account(l.account.as_str()).close("CdtrAcct");
        x.open("Purp").leaf("Cd", &self.purpose_code).close("Purp");
        // Remittance text: "2026年11月城乡最低生活保障金 张三". If the name would push it
        // past 140 characters the name is left out (it is already in Cdtr/Nm).
        x.open("RmtInf").indent();
        x.tag(b"<", "Ustrd");
        escape_into(&self.purpose, x.out);
        if self.purpose_chars + 1 + l.name.chars().count() <= NAME_MAX && !l.name.chars().any(char::is_control) {
            x.out.push(b' ');
            escape_into(&l.name, x.out);
        }
        x.tag(b"</", "Ustrd");
        x.close("RmtInf").close("CdtTrfTxInf");
        Ok(&self.buf)
    }
}

/// What the reader collects while walking one document.
#[derive(Default)]
struct Walk {
    path: Vec<String>,
    text: String,
    cur: Option<ParsedPayment>,
    payments: Vec<ParsedPayment>,
    controls: Vec<Controls>,
}

impl Walk {
    /// Called at each end tag, before it is popped from the path.
    fn close(&mut self, file: &str) -> Result<(), BankFileError> {
        let t = std::mem::take(&mut self.text);
        let bad = |m: String| BankFileError::Malformed { file: file.to_string(), line: 0, message: m };
        let amount = |t: &str| Decimal::from_str(t.trim()).ok().and_then(Fen::from_yuan);
        let parent = if self.path.len() >= 2 { self.path[self.path.len() - 2].as_str() } else { "" };
        let level = matches!(parent, "GrpHdr" | "PmtInf");
        match self.path.last().map(String::as_str) {
            Some("CdtTrfTxInf") => {
                let p = self.cur.take().ok_or_else(|| bad("CdtTrfTxInf closed twice".into()))?;
                if p.end_to_end_id.is_empty() {
                    return Err(bad(format!("transaction {} has no EndToEndId", self.payments.len() + 1)));
                }
                self.payments.push(p);
            }
            Some("NbOfTxs") if level => {
                let n = t.trim().parse().map_err(|_| bad(format!("NbOfTxs '{t}' is not a number")))?;
                self.controls.last_mut().ok_or_else(|| bad("NbOfTxs outside GrpHdr".into()))?.count = Some(n);
            }
            Some("CtrlSum") if level => {
                let f = amount(&t).ok_or_else(|| bad(format!("CtrlSum '{t}' is not an amount in fen")))?;
                self.controls.last_mut().ok_or_else(|| bad("CtrlSum outside GrpHdr".into()))?.total = Some(f);
            }
            _ => {}
        }
        let Some(p) = self.cur.as_mut() else {
            return Ok(());
        };
        let p_ends =
            |tail: &[&str]| self.path.len() >= tail.len() && self.path[self.path.len() - tail.len()..] == *tail;
        if p_ends(&["PmtId", "EndToEndId"]) {
            p.end_to_end_id = t;
        } else if p_ends(&["Amt", "InstdAmt"]) {
            p.amount = amount(&t).ok_or_else(|| bad(format!("InstdAmt '{t}' is not an amount in fen")))?;
        } else if p_ends(&["Cdtr", "Nm"]) {
            p.name = t;
        } else if p_ends(&["Cdtr", "Id", "PrvtId", "Othr", "Id"]) {
            p.id_number = Some(t);
        } else if p_ends(&["CdtrAcct", "Id", "Othr", "Id"]) || p_ends(&["CdtrAcct", "Id", "IBAN"]) {
            p.account = t;
        }
        Ok(())
    }
}

/// Reads a pain.001 we wrote: its transactions and the control totals at group and
/// payment-information level.
pub(crate) fn read(bytes: &[u8], file: &str) -> Result<(Vec<ParsedPayment>, Vec<Controls>), BankFileError> {
    let bad = |m: String| BankFileError::Malformed { file: file.to_string(), line: 0, message: m };
    let s = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 (byte {})", e.valid_up_to())))?;
    let mut r = quick_xml::Reader::from_str(s);
    let mut w = Walk::default();
    loop {
        let ev =
            r.read_event().map_err(|e| bad(format!("not well-formed XML near byte {}: {e}", r.buffer_position())))?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if name == "CdtTrfTxInf" {
                    w.cur = Some(ParsedPayment::default());
                }
                if matches!(name.as_str(), "GrpHdr" | "PmtInf") {
                    w.controls.push(Controls::default());
                }
                w.path.push(name);
                w.text.clear();
            }
            Event::End(_) => {
                w.close(file)?;
                w.path.pop();
            }
            Event::Text(t) => w.text.push_str(&t.xml10_content()),
            Event::CData(t) => w.text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) => {
                let c = if g.is_char_ref() {
                    g.resolve_char_ref().ok().flatten()
                } else {
                    match &*g.xml10_content() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    }
                };
                w.text.push(c.ok_or_else(|| bad(format!("unknown entity '&{};'", &*g.xml10_content())))?);
            }
            Event::Eof if w.path.is_empty() => break,
            Event::Eof => {
                return Err(bad(format!("the document ends inside <{}>: the file is cut short", w.path.join("/"))))
            }
            _ => {}
        }
    }
    Ok((w.payments, w.controls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_quick_xml() {
        for s in ["", "plain", "A&B<C>'D\"", "&&", "a\rb", "张三&李四", "<<>>"] {
            let mut out = Vec::new();
            escape_into(s, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), quick_xml::escape::escape(s), "{s}");
        }
    }
}
