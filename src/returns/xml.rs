//! Shared XML plumbing for the receipt readers: decoding (UTF-8 or the GBK family
//! Chinese banks declare), sniffing the message kind, and a small streaming
//! walker that knows the element path and the text of the element just closed.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::BufRead;
use std::path::Path;
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{ReceiptKind, ReturnsError};
use crate::domain::{mask_numbers, parse_amount, Conflict, Fen};

const ISO_NS: &str = "urn:iso:std:iso:20022:tech:xsd:";

/// Turns the file's bytes into text. `None` when the first non-blank byte is not
/// `<` (not XML: the caller tries the text layouts).
pub(super) fn decode<'b>(bytes: &'b [u8], file: &str) -> Result<Option<Cow<'b, str>>, ReturnsError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode(rest, file);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let (text, _, bad) = encoding_rs::UTF_16LE.decode(bytes); // BOM sniffing picks LE/BE
        if bad {
            return Err(malformed(file, 1, "the file is not valid UTF-16 text".into()));
        }
        return Ok(starts_like_xml(text.as_bytes()).then(|| Cow::Owned(text.into_owned())));
    }
    if !starts_like_xml(bytes) {
        return Ok(None);
    }
    let label = declared_encoding(bytes).unwrap_or_else(|| "UTF-8".to_string());
    let Some(enc) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
        return Err(malformed(file, 1, format!("unknown encoding '{label}' in the XML declaration")));
    };
    if enc == encoding_rs::UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(Cow::Borrowed(s))),
            Err(e) => {
                let line = line_at_bytes(bytes, e.valid_up_to());
                Err(malformed(
                    file,
                    line,
                    "bytes that are not valid UTF-8 (is the file GBK without saying so in <?xml … encoding=\"GBK\"?>?)"
                        .into(),
                ))
            }
        };
    }
    // GBK and GB2312 files often hold GB18030-only characters; GB18030 is their superset.
    let enc = if enc == encoding_rs::GBK { encoding_rs::GB18030 } else { enc };
    let (text, _, bad) = enc.decode(bytes);
    if bad {
        let at = text.find('\u{FFFD}').unwrap_or(0);
        let line = line_at(&text, at);
        return Err(malformed(file, line, format!("bytes that are not valid {}", enc.name())));
    }
    Ok(Some(Cow::Owned(text.into_owned())))
}

/// Whether a file starting with `head` (its first bytes, BOM included) can be
/// streamed as UTF-8 XML: the length of its UTF-8 BOM (0 or 3), or `None` when
/// it must be decoded whole first (UTF-16, a GBK-family declaration, or not
/// recognisably XML within `head`: [`decode`] decides those).
pub(super) fn streamable_utf8(head: &[u8]) -> Option<usize> {
    let bom = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let body = &head[bom..];
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") || !starts_like_xml(body) {
        return None;
    }
    match declared_encoding(body) {
        None => Some(bom),
        Some(label) => {
            let enc = encoding_rs::Encoding::for_label(label.as_bytes())?;
            (enc == encoding_rs::UTF_8).then_some(bom)
        }
    }
}

/// Checks that a file is UTF-8 from byte `skip` on, reading it in pieces; the
/// refusal is [`decode`]'s, with the same line number.
pub(super) fn check_utf8_file(path: &Path, skip: usize, file: &str) -> Result<(), ReturnsError> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| malformed(file, 1, format!("cannot read the file: {e}"));
    let mut f = std::fs::File::open(path).map_err(unreadable)?;
    let mut chunk = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let (mut skipped, mut lines) = (0usize, 1u64);
    loop {
        let n = f.read(&mut chunk).map_err(unreadable)?;
        let mut data = std::mem::take(&mut carry);
        let from = (skip - skipped).min(n);
        skipped += from;
        data.extend_from_slice(&chunk[from..n]);
        match std::str::from_utf8(&data) {
            Ok(_) if n == 0 => return Ok(()),
            Ok(_) => {}
            Err(e) if e.error_len().is_none() && n > 0 => carry = data[e.valid_up_to()..].to_vec(),
            Err(e) => {
                let line = lines + data[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64;
                return Err(malformed(
                    file,
                    line,
                    "bytes that are not valid UTF-8 (is the file GBK without saying so in <?xml … encoding=\"GBK\"?>?)"
                        .into(),
                ));
            }
        }
        let done = data.len() - carry.len();
        lines += data[..done].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn starts_like_xml(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// The `encoding="…"` of an `<?xml …?>` declaration, read as ASCII.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(300)];
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].trim().to_string())
}

/// A refusal. Its message is masked: it may quote what the receipt says (a value,
/// a name in a parser's error), and a receipt may say an account or ID number.
pub(super) fn malformed(file: &str, line: u64, message: String) -> ReturnsError {
    ReturnsError::Malformed { file: file.to_string(), line, message: mask_numbers(&message).into_owned() }
}

/// The 1-based line of a byte offset in the decoded text.
pub(super) fn line_at(text: &str, offset: usize) -> u64 {
    line_at_bytes(text.as_bytes(), offset)
}

fn line_at_bytes(bytes: &[u8], offset: usize) -> u64 {
    let end = offset.min(bytes.len());
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Decides the message kind from the root element's namespace, or — when the
/// namespace is missing — from the message element's name.
pub(super) fn sniff_kind(text: &str, file: &str) -> Result<ReceiptKind, ReturnsError> {
    sniff_kind_in(Box::new(text.as_bytes()), Source::Text(text), file)
}

/// [`sniff_kind`] on a stream (it reads only up to the message element, within
/// the same limits as [`Walker`]).
pub(super) fn sniff_kind_in(
    input: Box<dyn BufRead + '_>,
    src: Source<'_>,
    file: &str,
) -> Result<ReceiptKind, ReturnsError> {
    let guard = Guard::new(input);
    let used = guard.used.clone();
    let mut reader = Reader::from_reader(guard);
    let mut buf = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ns: Option<String> = None;
    while names.len() < 2 {
        buf.clear();
        let at = reader.buffer_position() as usize;
        used.set(0);
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            if used.get() > NODE_MAX {
                return node_too_big(file, src.line_of(at));
            }
            let line = src.line_of(reader.error_position() as usize);
            malformed(file, line, format!("not well-formed XML: {e}"))
        })?;
        let start = match ev {
            Event::Start(s) | Event::Empty(s) => s,
            Event::Eof => break,
            _ => continue,
        };
        let name = start.name().into_inner();
        if !valid_name(name) {
            let line = src.line_of(reader.buffer_position() as usize);
            return Err(malformed(
                file,
                line,
                "not well-formed XML: an element name with characters no XML name has".into(),
            ));
        }
        if ns.is_none() {
            ns = own_namespace(&start);
        }
        names.push(start.local_name().into_inner().to_string());
    }
    // Only a refusal needs the line (for a file it means reading the file again).
    let at = reader.buffer_position() as usize;
    let not_receipt = |found: String| ReturnsError::NotAReceipt {
        file: file.to_string(),
        line: src.line_of(at),
        found: mask_numbers(&found).into_owned(),
    };
    let root = names.first().map(String::as_str).unwrap_or("");
    let message = match root {
        "Document" => names.get(1).map(String::as_str).unwrap_or(""),
        other => other,
    };
    let by_name = match message {
        "CstmrPmtStsRpt" => Some(ReceiptKind::Pain002V03),
        "BkToCstmrDbtCdtNtfctn" => Some(ReceiptKind::Camt054),
        _ => None,
    };
    let kind = match ns.as_deref() {
        None => by_name,
        Some(ns) => {
            match ns.get(..ISO_NS.len()).filter(|p| p.eq_ignore_ascii_case(ISO_NS)).map(|_| &ns[ISO_NS.len()..]) {
                Some("pain.002.001.03") => Some(ReceiptKind::Pain002V03),
                Some("pain.002.001.10") => Some(ReceiptKind::Pain002V10),
                Some("camt.054.001.02" | "camt.054.001.04" | "camt.054.001.06" | "camt.054.001.08") => {
                    Some(ReceiptKind::Camt054)
                }
                Some(other) => {
                    return Err(not_receipt(format!("namespace {ISO_NS}{other} is not a supported version")))
                }
                None => {
                    let shown = mask_numbers(ns);
                    return Err(not_receipt(format!("namespace '{shown}' is not an ISO 20022 namespace")));
                }
            }
        }
    };
    let same_message = match (kind, by_name) {
        (Some(ReceiptKind::Camt054), Some(b)) => b == ReceiptKind::Camt054,
        (Some(_), Some(b)) => b != ReceiptKind::Camt054,
        _ => false,
    };
    match kind {
        Some(k) if same_message => Ok(k),
        _ => Err(not_receipt(format!("root <{root}>, message element <{message}>"))),
    }
}

/// An XML name as far as receipts need: a letter or `_` first, then letters,
/// digits, `-`, `.`, `_` or `:` (non-ASCII letters allowed).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
}

/// The namespace an element's own name is in, if the element declares it: the
/// default `xmlns`, or `xmlns:p` for a `p:`-prefixed name. Why only that one: a
/// root may declare other namespaces (`xsi`, a bank's extension) that say nothing
/// about what the document is.
fn own_namespace(start: &BytesStart) -> Option<String> {
    let key = match start.name().prefix() {
        Some(p) => format!("xmlns:{}", p.into_inner()),
        None => "xmlns".to_string(),
    };
    start.attributes().flatten().find(|a| a.key.into_inner() == key).map(|a| a.value.trim().to_string())
}

/// The elements the readers care about; everything else is `Other`. A small
/// enum keeps the path check cheap for a million lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    GrpHdr,
    MsgId,
    OrgnlGrpInfAndSts,
    OrgnlMsgId,
    GrpSts,
    OrgnlPmtInfAndSts,
    OrgnlPmtInfId,
    PmtInfSts,
    TxInfAndSts,
    OrgnlEndToEndId,
    TxSts,
    StsRsnInf,
    Rsn,
    Cd,
    Prtry,
    AddtlInf,
    OrgnlTxRef,
    Amt,
    InstdAmt,
    Ntfctn,
    Acct,
    Id,
    Othr,
    Iban,
    Ntry,
    NtryDtls,
    TxDtls,
    Refs,
    EndToEndId,
    RtrInf,
    Sts,
    RvslInd,
    CdtDbtInd,
    AmtDtls,
    TxAmt,
    Other,
}

impl Tag {
    fn of(local: &str) -> Tag {
        match local {
            "GrpHdr" => Tag::GrpHdr,
            "MsgId" => Tag::MsgId,
            "OrgnlGrpInfAndSts" => Tag::OrgnlGrpInfAndSts,
            "OrgnlMsgId" => Tag::OrgnlMsgId,
            "GrpSts" => Tag::GrpSts,
            "OrgnlPmtInfAndSts" => Tag::OrgnlPmtInfAndSts,
            "OrgnlPmtInfId" => Tag::OrgnlPmtInfId,
            "PmtInfSts" => Tag::PmtInfSts,
            "TxInfAndSts" => Tag::TxInfAndSts,
            "OrgnlEndToEndId" => Tag::OrgnlEndToEndId,
            "TxSts" => Tag::TxSts,
            "StsRsnInf" => Tag::StsRsnInf,
            "Rsn" => Tag::Rsn,
            "Cd" => Tag::Cd,
            "Prtry" => Tag::Prtry,
            "AddtlInf" => Tag::AddtlInf,
            "OrgnlTxRef" => Tag::OrgnlTxRef,
            "Amt" => Tag::Amt,
            "InstdAmt" => Tag::InstdAmt,
            "Ntfctn" => Tag::Ntfctn,
            "Acct" => Tag::Acct,
            "Id" => Tag::Id,
            "Othr" => Tag::Othr,
            "IBAN" => Tag::Iban,
            "Ntry" => Tag::Ntry,
            "NtryDtls" => Tag::NtryDtls,
            "TxDtls" => Tag::TxDtls,
            "Refs" => Tag::Refs,
            "EndToEndId" => Tag::EndToEndId,
            "RtrInf" => Tag::RtrInf,
            "Sts" => Tag::Sts,
            "RvslInd" => Tag::RvslInd,
            "CdtDbtInd" => Tag::CdtDbtInd,
            "AmtDtls" => Tag::AmtDtls,
            "TxAmt" => Tag::TxAmt,
            _ => Tag::Other,
        }
    }
}

/// One step of the walk.
pub(super) enum Step {
    /// An element opened (also for `<X/>`, which is followed by its `End`).
    Start(Tag),
    /// An element closed; its text is in [`Walker::text`], the path still includes it.
    End(Tag),
    Eof,
}

/// Streams a document as [`Step`]s, keeping the element path and the text of
/// the innermost element. Any XML error becomes a refusal naming file and line.
pub(super) struct Walker<'a> {
    reader: Reader<Guard<Box<dyn BufRead + 'a>>>,
    /// Bytes the reader took for the event being read (see [`Guard`]).
    used: Rc<Cell<usize>>,
    /// Depth of the element opened last: an element closing at that depth had no
    /// child element (its text is all there is).
    last_open: usize,
    /// Reused event buffer.
    buf: Vec<u8>,
    src: Source<'a>,
    pub file: &'a str,
    stack: Vec<Tag>,
    pop_pending: bool,
    /// Pending `End` of an empty element `<X/>`.
    empty_pending: Option<Tag>,
    /// Text since the last start tag (entity references resolved).
    pub text: String,
    /// `Ccy` of the last `Amt`/`InstdAmt` start tag.
    pub ccy: Option<String>,
}

/// Where the walked text is, to turn a byte offset into a line number. A file is
/// read again only for an error message: streaming never holds it.
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    Text(&'a str),
    /// A UTF-8 file streamed from disk; offsets count from after a BOM of `bom` bytes.
    File {
        path: &'a Path,
        bom: usize,
    },
}

impl Source<'_> {
    pub fn line_of(&self, offset: usize) -> u64 {
        match self {
            Source::Text(t) => line_at(t, offset),
            Source::File { path, bom } => lines_in_file(path, *bom, offset).unwrap_or(0),
        }
    }
}

impl<'a> Walker<'a> {
    pub fn new(src: &'a str, file: &'a str) -> Walker<'a> {
        Walker::over(Box::new(src.as_bytes()), Source::Text(src), file)
    }

    /// Walks any UTF-8 stream; `src` finds line numbers for errors.
    pub fn over(input: Box<dyn BufRead + 'a>, src: Source<'a>, file: &'a str) -> Walker<'a> {
        let guard = Guard::new(input);
        let used = guard.used.clone();
        let mut reader = Reader::from_reader(guard);
        reader.config_mut().check_end_names = true;
        Walker {
            reader,
            used,
            last_open: 0,
            buf: Vec::with_capacity(4096),
            src,
            file,
            stack: Vec::with_capacity(16),
            pop_pending: false,
            empty_pending: None,
            text: String::new(),
            ccy: None,
        }
    }

    /// True when the current path ends with `path` (innermost last).
    pub fn at(&self, path: &[Tag]) -> bool {
        self.stack.ends_with(path)
    }

    /// Byte offset just after the last event read (for [`Walker::line_of`]).
    pub fn offset(&self) -> usize {
        self.reader.buffer_position() as usize
    }

    pub fn line_of(&self, offset: usize) -> u64 {
        self.src.line_of(offset)
    }

    /// A refusal at a given byte offset.
    pub fn error_at(&self, offset: usize, message: String) -> ReturnsError {
        malformed(self.file, self.line_of(offset), message)
    }

    /// A refusal at the current position.
    pub fn error(&self, message: String) -> ReturnsError {
        self.error_at(self.offset(), message)
    }

    /// The trimmed text of the element just closed.
    pub fn value(&self) -> String {
        self.text.trim().to_string()
    }

    pub fn next(&mut self) -> Result<Step, ReturnsError> {
        if self.pop_pending {
            self.stack.pop();
            self.pop_pending = false;
        }
        if let Some(tag) = self.empty_pending.take() {
            self.pop_pending = true;
            return Ok(Step::End(tag));
        }
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let step = self.step(&mut buf);
            self.buf = buf;
            if let Some(step) = step? {
                return Ok(step);
            }
        }
    }

    /// Reads one event into `buf`; `None` for one that is no step (text, comments…).
    fn step(&mut self, buf: &mut Vec<u8>) -> Result<Option<Step>, ReturnsError> {
        let start = self.offset();
        self.used.set(0);
        let ev = self.reader.read_event_into(buf).map_err(|e| {
            if self.used.get() > NODE_MAX {
                return node_too_big(self.file, self.line_of(start));
            }
            let at = self.reader.error_position() as usize;
            self.error_at(at, format!("not well-formed XML: {e}"))
        })?;
        if self.text.len() > NODE_MAX {
            return Err(node_too_big(self.file, self.line_of(start)));
        }
        if let Event::Start(s) | Event::Empty(s) = &ev {
            if !valid_name(s.name().into_inner()) {
                let msg = "not well-formed XML: an element name with characters no XML name has";
                return Err(self.error(msg.into()));
            }
        }
        match ev {
            Event::Start(s) => return self.open(&s, false).map(Some),
            Event::Empty(s) => return self.open(&s, true).map(Some),
            Event::End(_) => {
                let tag = self.stack.last().copied().unwrap_or(Tag::Other);
                self.pop_pending = true;
                return Ok(Some(Step::End(tag)));
            }
            Event::Text(t) => self.text.push_str(&t.xml10_content()),
            Event::CData(t) => self.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => self.push_ref(&r)?,
            Event::Eof => return self.eof().map(Some),
            _ => {}
        }
        Ok(None)
    }

    fn open(&mut self, s: &BytesStart, empty: bool) -> Result<Step, ReturnsError> {
        if self.stack.len() >= DEPTH_MAX {
            return Err(self.error(format!(
                "elements nested more than {DEPTH_MAX} deep (a receipt needs about 12): the file is refused; \
                 ask the bank to resend it"
            )));
        }
        let tag = Tag::of(s.local_name().into_inner());
        self.stack.push(tag);
        self.last_open = self.stack.len();
        self.text.clear();
        if matches!(tag, Tag::Amt | Tag::InstdAmt) {
            self.ccy =
                s.attributes().flatten().find(|a| a.key.into_inner() == "Ccy").map(|a| a.value.trim().to_string());
        }
        if empty {
            self.empty_pending = Some(tag);
        }
        Ok(Step::Start(tag))
    }

    /// Whether the element just closed had no child element: an amount with an
    /// element inside its text is not one amount.
    pub fn leaf(&self) -> bool {
        self.last_open == self.stack.len()
    }

    fn push_ref(&mut self, r: &quick_xml::events::BytesRef) -> Result<(), ReturnsError> {
        let resolved = match r.resolve_char_ref() {
            Ok(Some(c)) => Some(c.to_string()),
            Ok(None) => quick_xml::escape::resolve_predefined_entity(r).map(str::to_string),
            Err(_) => None,
        };
        match resolved {
            Some(s) => {
                self.text.push_str(&s);
                Ok(())
            }
            None => Err(self.error(format!("unknown entity reference &{};", &**r))),
        }
    }

    fn eof(&self) -> Result<Step, ReturnsError> {
        if self.stack.is_empty() {
            return Ok(Step::Eof);
        }
        let inside = match self.stack.iter().rev().find(|t| **t != Tag::Other) {
            Some(t) => format!("<{t:?}>"),
            None => "an element".to_string(),
        };
        Err(self.error(format!(
            "the file ends inside {inside} ({} elements open): it is truncated; ask the bank to resend it",
            self.stack.len()
        )))
    }

    /// Parses an amount element's text exactly (yuan, ≤ 2 decimals, CNY).
    pub fn amount(&self, what: &str) -> Result<Fen, ReturnsError> {
        let start = self.offset();
        let raw = self.value();
        if let Some(ccy) = self.ccy.as_deref().filter(|c| *c != "CNY") {
            return Err(self.error_at(start, format!("{what} is in {ccy}, expected CNY")));
        }
        let d = parse_amount(&raw).map_err(|e| self.error_at(start, format!("{what}: {e}")))?;
        match Fen::from_yuan(d) {
            Some(f) if f.0 >= 0 => Ok(f),
            Some(_) => Err(self.error_at(start, format!("{what} '{raw}' is negative"))),
            None => Err(self.error_at(start, format!("{what} '{raw}' has more than 2 decimals"))),
        }
    }
}

/// The most bytes one XML event (a tag with its attributes, a text node, a
/// comment, a CDATA section) or one element's text may take. Why: the XML reader
/// holds a whole event in memory, so a receipt whose bulk is one comment or one
/// text node of a gigabyte would take a gigabyte; nothing a bank sends comes near
/// this (a reason text is at most 105 characters).
pub(super) const NODE_MAX: usize = 4 << 20;

/// How deep elements may nest (a receipt nests about 12 deep); deeper is refused.
pub(super) const DEPTH_MAX: usize = 100;

pub(super) fn node_too_big(file: &str, line: u64) -> ReturnsError {
    malformed(
        file,
        line,
        format!(
            "an XML node (a comment, text, tag or attribute) larger than the limit of {} MB: the file is refused; \
             ask the bank to resend it",
            NODE_MAX >> 20
        ),
    )
}

/// A reader that counts the bytes taken since [`Guard::used`] was last reset,
/// and fails once they pass [`NODE_MAX`]: the XML reader then stops within one
/// buffer of the limit instead of holding the whole event.
pub(super) struct Guard<R> {
    inner: R,
    pub used: Rc<Cell<usize>>,
}

impl<R> Guard<R> {
    pub fn new(inner: R) -> Guard<R> {
        Guard { inner, used: Rc::new(Cell::new(0)) }
    }
}

impl<R: BufRead> std::io::Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Guard<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.used.get() > NODE_MAX {
            return Err(std::io::Error::other("XML node over the size limit"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.used.set(self.used.get() + amt);
        self.inner.consume(amt);
    }
}

/// The 1-based line of byte `offset` (counted after a BOM of `bom` bytes) of a
/// file, read in pieces: a refusal's line number must not cost the file's size
/// in memory.
fn lines_in_file(path: &Path, bom: usize, offset: usize) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let skip = bom.min(f.fill_buf()?.len());
    f.consume(skip);
    let mut left = offset;
    let mut lines = 1u64;
    let mut chunk = vec![0u8; 1 << 16];
    while left > 0 {
        let n = f.read(&mut chunk[..left.min(1 << 16)])?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
        left -= n;
    }
    Ok(lines)
}

/// Sets `slot` to `value`, or records `conflict` when it already holds another
/// value: an element said twice differently is a contradiction, not "last wins".
pub(super) fn once<T: PartialEq>(slot: &mut Option<T>, value: T, conflicts: &mut Option<Conflict>, conflict: Conflict) {
    match slot {
        Some(v) if *v != value => {
            conflicts.get_or_insert(conflict);
        }
        Some(_) => {}
        None => *slot = Some(value),
    }
}

/// Reason parts collected from `StsRsnInf` / `RtrInf`: the first code and all
/// additional texts.
#[derive(Debug, Default)]
pub(super) struct Reason {
    pub code: String,
    pub texts: Vec<String>,
}

impl Reason {
    /// `Rsn/Cd`: kept as sent (first one wins).
    pub fn set_code(&mut self, cd: String) {
        if self.code.is_empty() {
            self.code = cd;
        }
    }

    /// `Rsn/Prtry`: a short (≤ 4 chars) proprietary code is kept as the code (a
    /// bank's `3031` is mapped later by the reason table); a longer one is bank
    /// prose, so the code is NARR and the words go to the text.
    pub fn set_proprietary(&mut self, p: String) {
        if p.chars().count() <= 4 {
            self.set_code(p);
        } else {
            self.set_code("NARR".into());
            self.texts.insert(0, p);
        }
    }

    pub fn text(&self) -> String {
        self.texts.iter().filter(|t| !t.is_empty()).cloned().collect::<Vec<_>>().join(" ")
    }

    /// Feeds a closed element if it is `<owner>/<block>/Rsn/Cd`, `…/Rsn/Prtry` or
    /// `…/AddtlInf`, where `block` is `StsRsnInf` or `RtrInf` and `owner` the
    /// element the reason belongs to (so a nested block's reason never leaks up).
    pub fn feed(&mut self, w: &Walker, owner: Tag, block: Tag, tag: Tag) {
        match tag {
            Tag::Cd if w.at(&[owner, block, Tag::Rsn, Tag::Cd]) => self.set_code(w.value()),
            Tag::Prtry if w.at(&[owner, block, Tag::Rsn, Tag::Prtry]) => self.set_proprietary(w.value()),
            Tag::AddtlInf if w.at(&[owner, block, Tag::AddtlInf]) => self.texts.push(w.value()),
            _ => {}
        }
    }
}
