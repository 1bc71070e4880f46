//! Writing and reading Chinese bank text files described by a [`layout`](super::layout).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::layout::{Align, AmountSpec, Checked, FieldSpec, Kind, Placeholder, RecordKind, Source};
use super::{BankFileError, BatchHead, Controls, ParsedPayment, Part};
use crate::domain::{Fen, PaymentLine, ReceiptLine};

/// What the placeholders and fields of one file draw on.
pub(crate) struct FileCtx<'a> {
    head: &'a BatchHead<'a>,
    part: &'a Part,
    /// Values every line repeats, formatted once per file.
    date: String,
    period: String,
    purpose: String,
}

impl<'a> FileCtx<'a> {
    pub fn new(head: &'a BatchHead<'a>, part: &'a Part) -> Self {
        FileCtx {
            head,
            part,
            date: head.execution_date.format("%Y%m%d").to_string(),
            period: head.period.compact(),
            purpose: purpose_text(head),
        }
    }

    pub(crate) fn placeholder(&self, spec: &AmountSpec, p: Placeholder) -> String {
        let b = self.head;
        match p {
            Placeholder::BatchId => b.batch_id.clone(),
            Placeholder::FileId => self.part.file_id.clone(),
            Placeholder::Date => self.date.clone(),
            Placeholder::Created => {
                // Beijing time, as on the bank's side (and in pain.001 CreDtTm).
                let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
                b.created.with_timezone(&cst).format("%Y%m%d%H%M%S").to_string()
            }
            Placeholder::Part => self.part.number.to_string(),
            Placeholder::Parts => self.part.of.to_string(),
            Placeholder::Count => self.part.lines.to_string(),
            Placeholder::Total => spec.format(self.part.total),
            Placeholder::PayerAccount => b.payer.account.clone(),
            Placeholder::PayerName => b.payer.name.clone(),
            Placeholder::PayerBankCode => b.payer.bank_code.clone(),
            Placeholder::Program => b.program.chinese_name().to_string(),
            Placeholder::ProgramCode => b.program.code().to_string(),
            Placeholder::Period => self.period.clone(),
            Placeholder::Office => b.office.name.clone(),
        }
    }

    /// The value of a field that is not taken from a payment line.
    fn value<'v>(&'v self, spec: &AmountSpec, f: &'v FieldSpec) -> Cow<'v, str> {
        let b = self.head;
        match f.source {
            Source::IdType => f.value.as_deref().unwrap_or("01").into(),
            Source::Literal => f.value.as_deref().unwrap_or("").into(),
            Source::Purpose => self.purpose.as_str().into(),
            Source::Program => b.program.chinese_name().into(),
            Source::Period => self.period.as_str().into(),
            Source::Date => self.date.as_str().into(),
            Source::PayerAccount => b.payer.account.as_str().into(),
            Source::PayerName => b.payer.name.as_str().into(),
            Source::PayerBankCode => b.payer.bank_code.as_str().into(),
            Source::BatchId => b.batch_id.as_str().into(),
            Source::Count => self.part.lines.to_string().into(),
            Source::Total => spec.format(self.part.total).into(),
            _ => "".into(),
        }
    }
}

/// 用途 text, e.g. `2026年11月城乡最低生活保障金`.
pub(crate) fn purpose_text(b: &BatchHead) -> String {
    format!("{}年{}月{}", b.period.year, b.period.month, b.program.chinese_name())
}

/// The bytes of one file before its first detail line and after its last one
/// (text lines, summary line), from the planned count and total.
pub(crate) fn head_and_tail(c: &Checked, ctx: &FileCtx) -> Result<(Vec<u8>, Vec<u8>), BankFileError> {
    let l = &c.layout;
    let eol = l.line_ending.bytes();
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    for (i, rec) in l.lines.iter().enumerate() {
        let out = if i < c.details { &mut head } else { &mut tail };
        match rec.kind {
            RecordKind::Text => {
                let t = c.texts[i].as_ref().expect("checked: text records have templates");
                let s = t.render(|p| ctx.placeholder(&l.amount, p));
                let bytes = l.encoding.encode(&s).map_err(|ch| {
                    BankFileError::Other(format!(
                        "text line {} of layout becomes '{s}', whose character '{ch}' {} cannot hold",
                        i + 1,
                        l.encoding.name()
                    ))
                })?;
                out.extend_from_slice(&bytes);
                out.extend_from_slice(eol);
            }
            RecordKind::Summary => {
                let mut first = true;
                for f in &rec.fields {
                    if !first {
                        out.extend_from_slice(l.delimiter.as_deref().unwrap_or("").as_bytes());
                    }
                    first = false;
                    let v = ctx.value(&l.amount, f);
                    put_field(c, f, &v, out, &mut Vec::new())
                        .map_err(|why| BankFileError::Other(format!("file {}: {why}", ctx.part.file_id)))?;
                }
                if l.trailing_delimiter {
                    out.extend_from_slice(l.delimiter.as_deref().unwrap_or("").as_bytes());
                }
                out.extend_from_slice(eol);
            }
            RecordKind::Details => {}
        }
    }
    Ok((head, tail))
}

/// Renders detail lines, one at a time, into a buffer it reuses.
pub(crate) struct LineWriter<'f> {
    c: &'f Checked,
    /// The padded bytes of detail fields that are the same on every line of the
    /// batch (payer, date, literals…), encoded once; `None` for per-line fields.
    consts: Vec<Option<Vec<u8>>>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    num: String,
}

impl<'f> LineWriter<'f> {
    /// Encodes the constant detail fields (errors name the first file).
    pub fn new(c: &'f Checked, ctx: &FileCtx) -> Result<Self, BankFileError> {
        let mut consts = Vec::new();
        let mut scratch = Vec::new();
        for f in c.detail_fields() {
            if f.source.detail_only() {
                consts.push(None);
            } else {
                let mut b = Vec::new();
                put_field(c, f, &ctx.value(&c.layout.amount, f), &mut b, &mut scratch)
                    .map_err(|why| BankFileError::Other(format!("file {}: {why}", ctx.part.file_id)))?;
                consts.push(Some(b));
            }
        }
        Ok(LineWriter { c, consts, buf: Vec::with_capacity(512), scratch, num: String::new() })
    }

    /// The bytes of detail line `seq` (1-based within its file), line ending included.
    pub fn line(&mut self, l: &PaymentLine, seq: u64) -> Result<&[u8], BankFileError> {
        let lay = &self.c.layout;
        let delim = lay.delimiter.as_deref().unwrap_or("").as_bytes();
        self.buf.clear();
        for (i, f) in self.c.detail_fields().iter().enumerate() {
            if i > 0 {
                self.buf.extend_from_slice(delim);
            }
            if let Some(Some(b)) = self.consts.get(i) {
                self.buf.extend_from_slice(b);
                continue;
            }
            let v: &str = match f.source {
                Source::Sequence | Source::Amount => {
                    self.num.clear();
                    if f.source == Source::Sequence {
                        let _ = write!(self.num, "{seq}");
                    } else {
                        write_amount(&lay.amount, l.amount, &mut self.num);
                    }
                    &self.num
                }
                Source::EndToEndId => l.end_to_end_id.as_str(),
                Source::Account => l.account.as_str(),
                Source::Name => &l.payee_name,
                Source::BeneficiaryName => &l.name,
                Source::IdNumber => l.id_number.as_str(),
                Source::Bank => &l.bank,
                Source::Township => &l.township,
                Source::Village => &l.village,
                Source::IdType => f.value.as_deref().unwrap_or("01"),
                _ => "",
            };
            put_field(self.c, f, v, &mut self.buf, &mut self.scratch)
                .map_err(|message| BankFileError::Line { end_to_end_id: l.end_to_end_id.to_string(), message })?;
        }
        if lay.trailing_delimiter {
            self.buf.extend_from_slice(delim);
        }
        self.buf.extend_from_slice(lay.line_ending.bytes());
        Ok(&self.buf)
    }
}

/// [`AmountSpec::format`] into a reused string.
fn write_amount(spec: &AmountSpec, f: Fen, out: &mut String) {
    match spec.unit {
        super::layout::AmountUnit::Fen => {
            let _ = write!(out, "{}", f.0);
        }
        super::layout::AmountUnit::Yuan => {
            let sign = if f.0 < 0 { "-" } else { "" };
            let a = f.0.unsigned_abs();
            let _ = write!(out, "{sign}{}.{:02}", a / 100, a % 100);
            for _ in 2..spec.decimals {
                out.push('0');
            }
        }
    }
}

/// One field: checks (line breaks, delimiter, encoding, width), then the padded
/// bytes appended to `out`. The error is the message (never the value).
fn put_field(c: &Checked, f: &FieldSpec, v: &str, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<(), String> {
    let l = &c.layout;
    if v.contains(['\r', '\n']) || l.delimiter.as_deref().is_some_and(|d| v.contains(d)) {
        return Err(format!("field {} contains a line break or the delimiter", field_label(f)));
    }
    scratch.clear();
    l.encoding.encode_into(v, scratch).map_err(|ch| {
        format!(
            "field {} has the character '{ch}' that {} cannot hold; correct the name or use a GB18030 layout",
            field_label(f),
            l.encoding.name()
        )
    })?;
    let n = scratch.len();
    if let Some(max) = f.width.or(f.max).filter(|&max| n > max) {
        return Err(format!(
            "field {} needs {n} bytes in {} but the layout allows {max}; it is never cut",
            field_label(f),
            l.encoding.name()
        ));
    }
    let pad = f.width.map_or(0, |w| w - n);
    if f.align == Align::Right {
        out.extend(std::iter::repeat_n(f.pad as u8, pad));
    }
    out.extend_from_slice(scratch);
    if f.align == Align::Left {
        out.extend(std::iter::repeat_n(f.pad as u8, pad));
    }
    Ok(())
}

/// A field's name for messages (never its value: it may be an ID or account number).
fn field_label(f: &FieldSpec) -> String {
    format!("{:?}", f.source).to_lowercase()
}

/// Splits bytes into lines (without the line ending). A final line ending is
/// required: a file cut short in the middle of a line is refused.
fn split_lines<'b>(bytes: &'b [u8], file: &str) -> Result<Vec<&'b [u8]>, BankFileError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for l in lines.iter_mut() {
        if let Some(s) = l.strip_suffix(b"\r") {
            *l = s;
        }
    }
    if !bytes.ends_with(b"\n") && !lines.is_empty() {
        return Err(malformed(file, lines.len(), "the last line has no line ending: the file may be cut short"));
    }
    Ok(lines)
}

fn malformed(file: &str, line: usize, message: impl Into<String>) -> BankFileError {
    BankFileError::Malformed { file: file.to_string(), line: line as u64, message: message.into() }
}

/// Cuts one line of a layout we wrote into field texts (pads removed).
fn cut_fields(
    c: &Checked,
    fields: &[FieldSpec],
    raw: &[u8],
    file: &str,
    n: usize,
) -> Result<Vec<String>, BankFileError> {
    let l = &c.layout;
    let enc = l.encoding;
    match l.kind {
        Kind::Fixed => {
            let want: usize = fields.iter().map(|f| f.width.unwrap_or(0)).sum();
            if raw.len() != want {
                return Err(malformed(file, n, format!("line has {} bytes, the layout has {want}", raw.len())));
            }
            let mut at = 0;
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let w = f.width.unwrap_or(0);
                let s = enc.decode(&raw[at..at + w]).ok_or_else(|| {
                    malformed(file, n, format!("field {} is not valid {}", field_label(f), enc.name()))
                })?;
                at += w;
                out.push(unpad(f, &s).to_string());
            }
            Ok(out)
        }
        Kind::Delimited => {
            let s = enc.decode(raw).ok_or_else(|| malformed(file, n, format!("line is not valid {}", enc.name())))?;
            let d = l.delimiter.as_deref().unwrap_or("|");
            let mut parts: Vec<&str> = s.split(d).collect();
            if l.trailing_delimiter {
                if parts.last() != Some(&"") {
                    return Err(malformed(file, n, format!("line does not end with '{d}'")));
                }
                parts.pop();
            }
            if parts.len() != fields.len() {
                return Err(malformed(
                    file,
                    n,
                    format!("line has {} fields, the layout has {}", parts.len(), fields.len()),
                ));
            }
            Ok(parts.iter().zip(fields).map(|(p, f)| unpad(f, p).to_string()).collect())
        }
    }
}

fn unpad<'s>(f: &FieldSpec, s: &'s str) -> &'s str {
    if f.width.is_none() {
        return s;
    }
    match f.align {
        Align::Left => s.trim_end_matches(f.pad),
        Align::Right => s.trim_start_matches(f.pad),
    }
}

/// Re-reads a file we wrote: detail lines into payments, and the summary line's
/// count and total if the layout has one.
pub(crate) fn read(c: &Checked, bytes: &[u8], file: &str) -> Result<(Vec<ParsedPayment>, Controls), BankFileError> {
    let lines = split_lines(bytes, file)?;
    let head = c.details;
    let tail = c.layout.lines.len() - head - 1;
    if lines.len() < head + tail {
        return Err(malformed(file, lines.len(), "the file has fewer lines than its layout's header and trailer"));
    }
    let mut summary = Controls::default();
    let n_details = lines.len() - head - tail;
    for (i, rec) in c.layout.lines.iter().enumerate() {
        // records after the details come after all detail lines
        let at = if i < head { i } else { (i + n_details).saturating_sub(1) };
        match rec.kind {
            RecordKind::Details => {}
            RecordKind::Text => {
                let want = c.layout.lines[i].text.as_deref().unwrap_or("");
                if !want.contains('{') && c.layout.encoding.decode(lines[at]).as_deref() != Some(want) {
                    return Err(malformed(file, at + 1, format!("expected the layout's line '{want}'")));
                }
            }
            RecordKind::Summary => {
                let vals = cut_fields(c, &rec.fields, lines[at], file, at + 1)?;
                summary = summary_values(c, &rec.fields, &vals, file, at + 1)?;
            }
        }
    }
    let fields = c.detail_fields();
    let mut out = Vec::with_capacity(n_details);
    for (k, raw) in lines[head..head + n_details].iter().enumerate() {
        let n = head + k + 1;
        let vals = cut_fields(c, fields, raw, file, n)?;
        out.push(payment(c, fields, vals, file, n)?);
    }
    Ok((out, summary))
}

fn summary_values(
    c: &Checked,
    fields: &[FieldSpec],
    vals: &[String],
    file: &str,
    n: usize,
) -> Result<Controls, BankFileError> {
    let mut count = None;
    let mut total = None;
    for (f, v) in fields.iter().zip(vals) {
        match f.source {
            Source::Count => {
                count = Some(
                    v.trim().parse::<u64>().map_err(|_| malformed(file, n, format!("总笔数 '{v}' is not a number")))?,
                )
            }
            Source::Total => {
                total = Some(
                    AmountSpec::parse(c.layout.amount.unit, v)
                        .ok_or_else(|| malformed(file, n, format!("总金额 '{v}' is not an amount")))?,
                )
            }
            _ => {}
        }
    }
    Ok(Controls { count, total })
}

fn payment(
    c: &Checked,
    fields: &[FieldSpec],
    vals: Vec<String>,
    file: &str,
    n: usize,
) -> Result<ParsedPayment, BankFileError> {
    let mut p = ParsedPayment {
        end_to_end_id: String::new(),
        name: String::new(),
        account: String::new(),
        id_number: None,
        amount: Fen::ZERO,
    };
    for (f, v) in fields.iter().zip(vals) {
        match f.source {
            Source::EndToEndId => p.end_to_end_id = v,
            Source::Name => p.name = v,
            Source::Account => p.account = v,
            Source::IdNumber => p.id_number = Some(v),
            Source::Amount => {
                p.amount = AmountSpec::parse(c.layout.amount.unit, &v)
                    .ok_or_else(|| malformed(file, n, format!("amount '{v}' is not an amount")))?
            }
            _ => {}
        }
    }
    if p.end_to_end_id.is_empty() {
        return Err(malformed(file, n, "the end-to-end reference is empty"));
    }
    Ok(p)
}

/// Reads the layout's return file (回盘). Reason codes are left empty: the
/// returns stage maps the bank's text to ISO codes.
pub(crate) fn read_returns(c: &Checked, bytes: &[u8], file: &str) -> Result<Vec<ReceiptLine>, BankFileError> {
    let mut out = Vec::new();
    stream_returns(c, &mut &bytes[..], file, &mut |l| out.push(l))?;
    Ok(out)
}

/// [`read_returns`] a line at a time from `input`, handing each receipt line to
/// `sink` as it is read: a return file of a million lines is over 100 MB, and
/// neither it nor its lines are held. Returns how many lines `sink` was given.
/// On an error `sink` may already have had the lines before it: a caller that
/// must not act on half a file reads it once with a sink that only counts.
pub(crate) fn stream_returns(
    c: &Checked,
    input: &mut dyn std::io::BufRead,
    file: &str,
    sink: &mut dyn FnMut(ReceiptLine),
) -> Result<u64, BankFileError> {
    let r = &c.layout.returns;
    let unreadable = |n: usize, e: std::io::Error| malformed(file, n, format!("cannot read the file: {e}"));
    let (mut n, mut given, mut ended, mut blank) = (0usize, 0u64, false, true);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        // At most one byte past the longest line a file may have: a file with no
        // line ends (damaged, or not a return file) is refused, not held whole.
        let limit = crate::ingest::limits::LINE_BYTES;
        use std::io::BufRead as _;
        let mut bounded = std::io::Read::take(&mut *input, limit as u64 + 1);
        if bounded.read_until(b'\n', &mut raw).map_err(|e| unreadable(n + 1, e))? == 0 {
            break;
        }
        if raw.len() > limit && raw.last() != Some(&b'\n') {
            let size = crate::ingest::limits::bytes(limit as u64);
            return Err(malformed(file, n + 1, format!("the line is longer than {size}, which no return line is: the file is damaged or not a return file; ask the bank for it again")));
        }
        n += 1;
        let mut line = raw.as_slice();
        if n == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(line);
        }
        blank &= line.iter().all(u8::is_ascii_whitespace);
        let Some(line) = line.strip_suffix(b"\n") else {
            if blank {
                break;
            }
            return Err(malformed(file, n, "the last line has no line ending: the file may be cut short"));
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = r
            .encoding
            .decode(line)
            .ok_or_else(|| malformed(file, n, format!("line is not valid {}", r.encoding.name())))?;
        if text.trim().is_empty() {
            continue;
        }
        if ended {
            return Err(malformed(file, n, "text after the end marker"));
        }
        if n <= r.skip_lines || r.comment_prefix.as_deref().is_some_and(|p| text.starts_with(p)) {
            continue;
        }
        if r.end_marker.as_deref() == Some(text.trim()) {
            ended = true;
            continue;
        }
        sink(return_line(c, &text, file, n)?);
        given += 1;
    }
    // An empty download is a failed transfer, not a bank saying "nothing happened".
    if blank {
        return Err(malformed(file, 1, "the file is empty: download the return file from the bank again"));
    }
    if let (Some(m), false) = (&r.end_marker, ended) {
        return Err(malformed(file, n, format!("the end marker '{m}' is missing: the file may be incomplete")));
    }
    Ok(given)
}

fn return_line(c: &Checked, text: &str, file: &str, n: usize) -> Result<ReceiptLine, BankFileError> {
    let r = &c.layout.returns;
    let mut cols: Vec<&str> = text.split(r.delimiter.as_str()).collect();
    if r.trailing_delimiter && cols.len() > 1 && cols.last() == Some(&"") {
        cols.pop();
    }
    if cols.len() != r.columns {
        return Err(malformed(
            file,
            n,
            format!("line has {} columns, the return layout has {}", cols.len(), r.columns),
        ));
    }
    let col = |k: usize| cols[k - 1].trim();
    let e2e = col(r.end_to_end_id);
    if e2e.is_empty() {
        return Err(malformed(file, n, "the end-to-end reference column is empty"));
    }
    let st = col(r.status);
    let status = *r.statuses.get(st).ok_or_else(|| {
        let known: Vec<&str> = r.statuses.keys().map(String::as_str).collect();
        malformed(file, n, format!("status '{st}' is not one of {}", known.join(", ")))
    })?;
    let amount = match r.amount.map(col) {
        None | Some("") => None,
        Some(a) => Some(
            AmountSpec::parse(r.amount_unit, a)
                .ok_or_else(|| malformed(file, n, format!("amount '{a}' is not an amount")))?,
        ),
    };
    Ok(ReceiptLine {
        file: file.to_string(),
        position: n as u64,
        end_to_end_id: e2e.to_string(),
        status,
        amount,
        reason_code: String::new(),
        reason_text: r.reason.map(col).unwrap_or("").to_string(),
        place: crate::domain::Place::Line(n as u64),
        ..ReceiptLine::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TextEncoding;

    /// encoding_rs on the whole string, the first unmappable character found one
    /// character at a time: what the fast encoder must agree with.
    fn reference(e: TextEncoding, s: &str) -> Result<Vec<u8>, char> {
        let enc = match e {
            TextEncoding::Utf8 => return Ok(s.as_bytes().to_vec()),
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
        };
        match enc.encode(s) {
            (_, _, true) => Err(s.chars().find(|c| enc.encode(&c.to_string()).2).unwrap()),
            (b, _, false) => Ok(b.into_owned()),
        }
    }

    /// The table-driven encoder appends the bytes encoding_rs writes, and refuses
    /// the same first character, for names inside and outside its table.
    #[test]
    fn encode_into_matches_encoding_rs() {
        let samples =
            ["", "abc 123", "张三", "欧阳娜娜·买买提", "A张𠀀B", "𠀀", "龘€", "é", "乾隆 ＡＢＣ", "一龥", "龦"];
        for e in [TextEncoding::Gbk, TextEncoding::Gb18030, TextEncoding::Utf8] {
            for s in samples {
                let mut out = b"keep".to_vec();
                let got = e.encode_into(s, &mut out).map(|()| out[4..].to_vec());
                assert_eq!(got, reference(e, s), "{e:?} {s}");
                assert!(out.starts_with(b"keep"));
            }
        }
    }

    #[test]
    fn amounts_match_amount_spec() {
        use super::super::layout::AmountUnit;
        for spec in [
            AmountSpec { unit: AmountUnit::Fen, decimals: 2 },
            AmountSpec { unit: AmountUnit::Yuan, decimals: 2 },
            AmountSpec { unit: AmountUnit::Yuan, decimals: 4 },
        ] {
            for f in [1, 5, 99, 100, 76_500, 123_456_789, -250] {
                let mut s = String::from("x");
                write_amount(&spec, Fen(f), &mut s);
                assert_eq!(s[1..], spec.format(Fen(f)));
            }
        }
    }
}
