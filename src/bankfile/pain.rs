//! ISO 20022 pain.001 (CustomerCreditTransferInitiation) v03 and v09, written
//! streaming with `quick_xml::Writer` and re-read streaming with `quick_xml::Reader`.
//!
//! Element order follows the XSD `sequence`s exactly (the schema rejects any other
//! order). Lengths are Unicode characters (XSD MaxNNText); nothing is ever cut: a
//! value that does not fit is an error naming the line.

use std::io::{self, Write};
use std::str::FromStr;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use rust_decimal::Decimal;

use super::text::purpose_text;
use super::{BankFileError, Batch, Controls, ParsedPayment, Part};
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

/// Checks everything the schema and the bank would refuse, before a byte is written.
pub(crate) fn check_batch(b: &Batch, parts: &[Part]) -> Result<(), BankFileError> {
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
    for l in b.lines {
        check("end-to-end reference", l.end_to_end_id.as_str(), 35, Some(l))?;
        check("payee name (Cdtr/Nm)", &l.payee_name, NAME_MAX, Some(l))?;
        check("account (CdtrAcct/Othr/Id)", l.account.as_str(), 34, Some(l))?;
        if !l.bank.is_empty() && !is_cnaps(&l.bank) {
            check("bank name (CdtrAgt/Nm)", &l.bank, NAME_MAX, Some(l))?;
        }
        if l.amount.0 <= 0 {
            return Err(BankFileError::Line {
                end_to_end_id: l.end_to_end_id.to_string(),
                message: "amount must be above zero".into(),
            });
        }
    }
    Ok(())
}

type X<'w> = Writer<&'w mut dyn Write>;

fn el(x: &mut X, name: &str, text: &str) -> io::Result<()> {
    x.create_element(name).write_text_content(BytesText::new(text))?;
    Ok(())
}

/// `<Id><Othr><Id>…</Id></Othr></Id>`: a non-IBAN account.
fn othr_account(x: &mut X, id: &str) -> io::Result<()> {
    x.create_element("Id").write_inner_content(|x| {
        x.create_element("Othr").write_inner_content(|x| el(x, "Id", id))?;
        Ok(())
    })?;
    Ok(())
}

/// `<FinInstnId><ClrSysMmbId>` with clearing system CNAPS.
fn cnaps_agent(x: &mut X, tag: &str, code: &str) -> io::Result<()> {
    x.create_element(tag).write_inner_content(|x| {
        x.create_element("FinInstnId").write_inner_content(|x| {
            x.create_element("ClrSysMmbId").write_inner_content(|x| {
                x.create_element("ClrSysId").write_inner_content(|x| el(x, "Cd", "CNAPS"))?;
                el(x, "MmbId", code)
            })?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

/// Writes one pain.001 document for `part` into `w` (checked beforehand by [`check_batch`]).
pub(crate) fn write_part(v: Version, b: &Batch, part: &Part, w: &mut dyn Write) -> io::Result<()> {
    let mut x: X = Writer::new_with_indent(w, b' ', 1);
    x.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let count = part.lines.len().to_string();
    let sum = part.total.yuan_string();
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let created = b.created.with_timezone(&cst).format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let purpose = purpose_text(b);
    x.create_element("Document").with_attribute(("xmlns", v.namespace())).write_inner_content(|x| {
        x.create_element("CstmrCdtTrfInitn").write_inner_content(|x| {
            x.create_element("GrpHdr").write_inner_content(|x| {
                el(x, "MsgId", &part.file_id)?;
                el(x, "CreDtTm", &created)?;
                el(x, "NbOfTxs", &count)?;
                el(x, "CtrlSum", &sum)?;
                x.create_element("InitgPty").write_inner_content(|x| {
                    el(x, "Nm", &b.office.name)?;
                    x.create_element("Id").write_inner_content(|x| {
                        x.create_element("OrgId").write_inner_content(|x| {
                            x.create_element("Othr").write_inner_content(|x| {
                                el(x, "Id", &b.office.uscc)?;
                                x.create_element("SchmeNm").write_inner_content(|x| el(x, "Prtry", "USCC"))?;
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
            x.create_element("PmtInf").write_inner_content(|x| {
                el(x, "PmtInfId", &part.file_id)?;
                el(x, "PmtMtd", "TRF")?;
                el(x, "BtchBookg", "true")?;
                el(x, "NbOfTxs", &count)?;
                el(x, "CtrlSum", &sum)?;
                x.create_element("PmtTpInf").write_inner_content(|x| {
                    x.create_element("CtgyPurp").write_inner_content(|x| el(x, "Cd", "SSBE"))?;
                    Ok(())
                })?;
                let date = b.execution_date.format("%Y-%m-%d").to_string();
                match v {
                    Version::V03 => el(x, "ReqdExctnDt", &date)?,
                    Version::V09 => {
                        x.create_element("ReqdExctnDt").write_inner_content(|x| el(x, "Dt", &date))?;
                    }
                }
                x.create_element("Dbtr").write_inner_content(|x| el(x, "Nm", &b.payer.name))?;
                x.create_element("DbtrAcct").write_inner_content(|x| {
                    othr_account(x, &b.payer.account)?;
                    el(x, "Ccy", "CNY")
                })?;
                cnaps_agent(x, "DbtrAgt", &b.payer.bank_code)?;
                for l in part.lines {
                    transaction(x, b, l, &purpose)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })?;
    x.get_mut().write_all(b"\n")
}

fn transaction(x: &mut X, b: &Batch, l: &PaymentLine, purpose: &str) -> io::Result<()> {
    x.create_element("CdtTrfTxInf").write_inner_content(|x| {
        x.create_element("PmtId").write_inner_content(|x| el(x, "EndToEndId", l.end_to_end_id.as_str()))?;
        x.create_element("Amt").write_inner_content(|x| {
            x.create_element("InstdAmt")
                .with_attribute(("Ccy", "CNY"))
                .write_text_content(BytesText::new(&l.amount.yuan_string()))?;
            Ok(())
        })?;
        if is_cnaps(&l.bank) {
            cnaps_agent(x, "CdtrAgt", &l.bank)?;
        } else if !l.bank.is_empty() {
            x.create_element("CdtrAgt").write_inner_content(|x| {
                x.create_element("FinInstnId").write_inner_content(|x| el(x, "Nm", &l.bank))?;
                Ok(())
            })?;
        }
        x.create_element("Cdtr").write_inner_content(|x| {
            el(x, "Nm", &l.payee_name)?;
            x.create_element("Id").write_inner_content(|x| {
                x.create_element("PrvtId").write_inner_content(|x| {
                    x.create_element("Othr").write_inner_content(|x| {
                        el(x, "Id", l.id_number.as_str())?;
                        x.create_element("SchmeNm").write_inner_content(|x| el(x, "Cd", "NIDN"))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
        x.create_element("CdtrAcct").write_inner_content(|x| othr_account(x, l.account.as_str()))?;
        x.create_element("Purp").write_inner_content(|x| el(x, "Cd", b.purpose))?;
        // Remittance text: "2026年11月城乡最低生活保障金 张三". If the name would push it
        // past 140 characters the name is left out (it is already in Cdtr/Nm).
        let with_name = format!("{purpose} {}", l.name);
        let ustrd = if with_name.chars().count() <= NAME_MAX && !l.name.chars().any(char::is_control) {
            with_name
        } else {
            purpose.to_string()
        };
        x.create_element("RmtInf").write_inner_content(|x| el(x, "Ustrd", &ustrd))?;
        Ok(())
    })?;
    Ok(())
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
