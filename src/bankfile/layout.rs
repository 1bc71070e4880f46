//! The text layout language of `formats/<name>.toml`: a bank's batch-payment file
//! described as data, so adding a bank is adding one file.
//!
//! A layout is a list of `[[lines]]` records written in order: `text` lines (fixed
//! text with `{placeholders}`, e.g. `#` comments or a `*` end marker), at most one
//! `summary` line (fields such as 总笔数 `count` and 总金额 `total`) and exactly one
//! `details` record (one line per payment). Each field takes its value from a fixed
//! set of [`Source`]s. Widths count **bytes in the file's encoding**; a value that
//! does not fit is an error, never cut. The `[returns]` table describes the bank's
//! return file (回盘) for this layout. Every table refuses unknown keys, so a typo
//! is an error rather than a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{Fen, PaymentStatus, TextEncoding};

/// One layout file, as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Layout {
    /// What a person reads about this layout (which bank, which channel).
    #[serde(default)]
    pub description: String,
    pub encoding: TextEncoding,
    /// `delimited` or `fixed`.
    pub kind: Kind,
    /// Delimited layouts: the separator, e.g. `|`.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Delimited layouts: whether every line also ends with the delimiter (`a|b|`).
    #[serde(default)]
    pub trailing_delimiter: bool,
    pub line_ending: LineEnding,
    /// File name pattern, e.g. `{batch_id}_{part:03}.txt`.
    pub file_name: String,
    /// Most detail lines per file; a larger batch is split into numbered parts.
    #[serde(default)]
    pub line_limit: Option<usize>,
    pub amount: AmountSpec,
    pub lines: Vec<Record>,
    pub returns: ReturnsSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Delimited,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LineEnding {
    Crlf,
    Lf,
}

impl LineEnding {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Crlf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// How amounts are written: yuan with `decimals` places (2 to 4, e.g. ABC's `%.3f`)
/// or integer fen.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmountSpec {
    pub unit: AmountUnit,
    #[serde(default = "two")]
    pub decimals: u8,
}

fn two() -> u8 {
    2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AmountUnit {
    Yuan,
    Fen,
}

impl AmountSpec {
    /// The amount as the layout writes it (exact: extra yuan decimals are zeros).
    pub fn format(&self, f: Fen) -> String {
        match self.unit {
            AmountUnit::Fen => f.0.to_string(),
            AmountUnit::Yuan => {
                let mut s = f.yuan_string();
                for _ in 2..self.decimals {
                    s.push('0');
                }
                s
            }
        }
    }

    /// Reads an amount back; `None` if it is not a whole number of fen.
    pub fn parse(unit: AmountUnit, s: &str) -> Option<Fen> {
        let s = s.trim();
        match unit {
            AmountUnit::Fen => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse::<i64>().ok().map(Fen)
            }
            AmountUnit::Yuan => crate::domain::parse_amount(s).ok().and_then(Fen::from_yuan),
        }
    }
}

/// One `[[lines]]` record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub kind: RecordKind,
    /// `text` records: the line, with placeholders (see [`Template`]).
    #[serde(default)]
    pub text: Option<String>,
    /// `summary` and `details` records: the fields, in order.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RecordKind {
    Text,
    Summary,
    Details,
}

/// One field of a summary or detail line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldSpec {
    pub source: Source,
    /// `literal` (and `id_type`, default `01` = 居民身份证): the text written.
    #[serde(default)]
    pub value: Option<String>,
    /// Exact width in bytes of the encoding; shorter values are padded. Required
    /// in fixed layouts, optional in delimited ones.
    #[serde(default)]
    pub width: Option<usize>,
    /// Delimited layouts: longest value in bytes (no padding).
    #[serde(default)]
    pub max: Option<usize>,
    #[serde(default)]
    pub align: Align,
    /// One ASCII character used for padding (default space).
    #[serde(default = "space")]
    pub pad: char,
}

fn space() -> char {
    ' '
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Align {
    #[default]
    Left,
    Right,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    // detail lines
    /// 1, 2, 3 … within the file.
    Sequence,
    EndToEndId,
    Account,
    /// 户名: the payee (account holder) name.
    Name,
    /// 享受人: the beneficiary.
    BeneficiaryName,
    Amount,
    /// 证件类型: `value`, default `01` (居民身份证).
    IdType,
    IdNumber,
    /// 开户行 as on the roster.
    Bank,
    Township,
    Village,
    // both
    /// 用途, e.g. `2026年11月城乡最低生活保障金`.
    Purpose,
    /// The program's Chinese name.
    Program,
    /// `YYYYMM`.
    Period,
    /// Execution date `YYYYMMDD`.
    Date,
    PayerAccount,
    PayerName,
    PayerBankCode,
    BatchId,
    Literal,
    Empty,
    // summary lines
    /// 总笔数 of the file.
    Count,
    /// 总金额 of the file.
    Total,
}

impl Source {
    /// Sources whose value differs from line to line.
    pub fn detail_only(self) -> bool {
        use Source::*;
        matches!(
            self,
            Sequence
                | EndToEndId
                | Account
                | Name
                | BeneficiaryName
                | Amount
                | IdType
                | IdNumber
                | Bank
                | Township
                | Village
        )
    }

    fn summary_only(self) -> bool {
        matches!(self, Source::Count | Source::Total)
    }
}

/// The `[returns]` table: the bank's return file (回盘) for this layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnsSpec {
    pub encoding: TextEncoding,
    pub delimiter: String,
    #[serde(default)]
    pub trailing_delimiter: bool,
    /// Exact number of columns of a data line.
    pub columns: usize,
    /// Header lines at the top to skip (e.g. a summary line).
    #[serde(default)]
    pub skip_lines: usize,
    /// Lines starting with this are comments.
    #[serde(default)]
    pub comment_prefix: Option<String>,
    /// A line equal to this ends the file; when declared, it must be present.
    #[serde(default)]
    pub end_marker: Option<String>,
    /// 1-based column numbers.
    pub end_to_end_id: usize,
    pub status: usize,
    #[serde(default)]
    pub amount: Option<usize>,
    #[serde(default)]
    pub reason: Option<usize>,
    #[serde(default = "yuan")]
    pub amount_unit: AmountUnit,
    /// Bank status value → `settled`, `failed`, `pending` or `returned`.
    pub statuses: BTreeMap<String, PaymentStatus>,
}

fn yuan() -> AmountUnit {
    AmountUnit::Yuan
}

/// A parsed `{placeholder}` text: literal pieces and placeholders with an optional
/// zero-padded width (`{part:03}`). `{{` and `}}` are literal braces.
#[derive(Debug, Clone)]
pub(crate) struct Template(pub Vec<Piece>);

#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Lit(String),
    Ph(Placeholder, usize),
}

/// The placeholders of text lines and file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    BatchId,
    FileId,
    Date,
    Created,
    Part,
    Parts,
    Count,
    Total,
    PayerAccount,
    PayerName,
    PayerBankCode,
    Program,
    ProgramCode,
    Period,
    Office,
}

const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("batch_id", Placeholder::BatchId),
    ("file_id", Placeholder::FileId),
    ("date", Placeholder::Date),
    ("created", Placeholder::Created),
    ("part", Placeholder::Part),
    ("parts", Placeholder::Parts),
    ("count", Placeholder::Count),
    ("total", Placeholder::Total),
    ("payer_account", Placeholder::PayerAccount),
    ("payer_name", Placeholder::PayerName),
    ("payer_bank_code", Placeholder::PayerBankCode),
    ("program", Placeholder::Program),
    ("program_code", Placeholder::ProgramCode),
    ("period", Placeholder::Period),
    ("office", Placeholder::Office),
];

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let (name, width) = match inner.split_once(':') {
                        Some((n, w)) => {
                            let w = w.strip_prefix('0').unwrap_or(w);
                            (n, w.parse::<usize>().map_err(|_| format!("'{{{inner}}}': width must be like :03"))?)
                        }
                        None => (inner.as_str(), 0),
                    };
                    let ph = PLACEHOLDERS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).ok_or_else(|| {
                        let known: Vec<&str> = PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
                        format!("unknown placeholder '{{{inner}}}' (known: {})", known.join(", "))
                    })?;
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Ph(ph, width));
                }
                '}' => return Err("a lone '}' (write '}}' for a literal brace)".into()),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template(pieces))
    }

    pub fn uses(&self, p: Placeholder) -> bool {
        self.0.iter().any(|x| matches!(x, Piece::Ph(q, _) if *q == p))
    }

    /// Fills the placeholders with `value`.
    pub fn render(&self, value: impl Fn(Placeholder) -> String) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Ph(ph, w) => {
                    let v = value(*ph);
                    for _ in v.chars().count()..*w {
                        out.push('0');
                    }
                    out.push_str(&v);
                }
            }
        }
        out
    }
}

/// A checked layout, ready to write and read.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub layout: Layout,
    pub file_name: Template,
    /// Templates of `text` records, by record index.
    pub texts: Vec<Option<Template>>,
    /// Index of the `details` record.
    pub details: usize,
}

impl Checked {
    pub fn detail_fields(&self) -> &[FieldSpec] {
        &self.layout.lines[self.details].fields
    }
}

/// Parses and checks a layout; the message says what to fix.
pub(crate) fn parse(text: &str) -> Result<Checked, String> {
    let layout: Layout = toml::from_str(text).map_err(|e| e.to_string())?;
    check(layout)
}

fn check(layout: Layout) -> Result<Checked, String> {
    match (layout.kind, &layout.delimiter) {
        (Kind::Delimited, None) => return Err("kind = \"delimited\" needs a delimiter".into()),
        (Kind::Delimited, Some(d)) if d.is_empty() || d.contains(['\r', '\n']) => {
            return Err("the delimiter must be non-empty and on one line".into())
        }
        (Kind::Fixed, Some(_)) => return Err("kind = \"fixed\" takes no delimiter".into()),
        _ => {}
    }
    if layout.line_limit == Some(0) {
        return Err("line_limit must be at least 1".into());
    }
    let a = layout.amount;
    if a.unit == AmountUnit::Yuan && !(2..=4).contains(&a.decimals) {
        return Err("amount.decimals must be 2, 3 or 4 (fewer would round fen away)".into());
    }
    if a.unit == AmountUnit::Fen && a.decimals != 2 {
        return Err("amount.decimals applies to unit = \"yuan\" only".into());
    }
    let file_name = Template::parse(&layout.file_name).map_err(|e| format!("file_name: {e}"))?;
    if layout.line_limit.is_some() && !file_name.uses(Placeholder::Part) && !file_name.uses(Placeholder::FileId) {
        return Err("file_name needs {part} (or {file_id}) when line_limit splits a batch into parts".into());
    }
    let mut texts = Vec::new();
    let mut details = None;
    let mut summaries = 0;
    for (i, r) in layout.lines.iter().enumerate() {
        let at = format!("lines[{}]", i + 1);
        match r.kind {
            RecordKind::Text => {
                let t = r.text.as_deref().ok_or(format!("{at}: kind = \"text\" needs text"))?;
                if !r.fields.is_empty() || t.contains(['\r', '\n']) {
                    return Err(format!("{at}: a text line has one line of text and no fields"));
                }
                texts.push(Some(Template::parse(t).map_err(|e| format!("{at}: {e}"))?));
                continue;
            }
            RecordKind::Summary => summaries += 1,
            RecordKind::Details => {
                if details.replace(i).is_some() {
                    return Err("only one kind = \"details\" record is allowed".into());
                }
            }
        }
        texts.push(None);
        if r.text.is_some() || r.fields.is_empty() {
            return Err(format!("{at}: summary and details records have fields and no text"));
        }
        for (j, f) in r.fields.iter().enumerate() {
            check_field(&layout, r.kind, f).map_err(|e| format!("{at}.fields[{}] ({:?}): {e}", j + 1, f.source))?;
        }
    }
    if summaries > 1 {
        return Err("at most one kind = \"summary\" record is allowed".into());
    }
    let details = details.ok_or("the layout needs one kind = \"details\" record")?;
    for need in [Source::EndToEndId, Source::Account, Source::Name, Source::Amount] {
        if !layout.lines[details].fields.iter().any(|f| f.source == need) {
            return Err(format!("detail lines must carry {need:?} (it is how a line is matched and checked)"));
        }
    }
    check_returns(&layout.returns).map_err(|e| format!("[returns]: {e}"))?;
    Ok(Checked { layout, file_name, texts, details })
}

fn check_field(layout: &Layout, kind: RecordKind, f: &FieldSpec) -> Result<(), String> {
    if kind == RecordKind::Summary && f.source.detail_only() {
        return Err("this source belongs on detail lines".into());
    }
    if kind == RecordKind::Details && f.source.summary_only() {
        return Err("this source belongs on the summary line".into());
    }
    if f.value.is_some() && !matches!(f.source, Source::Literal | Source::IdType) {
        return Err("value is only for literal and id_type".into());
    }
    if f.source == Source::Literal && f.value.is_none() {
        return Err("a literal needs value".into());
    }
    if !f.pad.is_ascii() || f.pad.is_ascii_control() {
        return Err("pad must be one printable ASCII character (so padding never splits a character)".into());
    }
    match layout.kind {
        Kind::Fixed if f.width.is_none() => return Err("fixed layouts give every field a width (bytes)".into()),
        Kind::Fixed if f.max.is_some() => return Err("max is for delimited layouts; use width".into()),
        _ => {}
    }
    if f.width == Some(0) || f.max == Some(0) {
        return Err("width and max must be at least 1".into());
    }
    if let (Some(v), Some(d)) = (&f.value, &layout.delimiter) {
        if v.contains(d.as_str()) {
            return Err("the literal contains the delimiter".into());
        }
    }
    Ok(())
}

fn check_returns(r: &ReturnsSpec) -> Result<(), String> {
    if r.delimiter.is_empty() {
        return Err("delimiter must not be empty".into());
    }
    let cols = [Some(r.end_to_end_id), Some(r.status), r.amount, r.reason];
    if cols.iter().flatten().any(|&c| c == 0 || c > r.columns) {
        return Err(format!("column numbers count from 1 and must be at most columns = {}", r.columns));
    }
    if r.statuses.is_empty() {
        return Err("statuses must map at least one bank status".into());
    }
    if r.statuses.values().any(|s| *s == PaymentStatus::Sent) {
        return Err("a bank status maps to settled, failed, pending or returned (not sent)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = Template::parse("{batch_id}_{part:03}{{x}}.txt").unwrap();
        let s = t.render(|p| match p {
            Placeholder::BatchId => "B1".into(),
            Placeholder::Part => "7".into(),
            _ => "?".into(),
        });
        assert_eq!(s, "B1_007{x}.txt");
        assert!(t.uses(Placeholder::Part) && !t.uses(Placeholder::Date));
        assert!(Template::parse("{nope}").unwrap_err().contains("nope"));
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("{part:x}").is_err());
    }

    #[test]
    fn amounts() {
        let y3 = AmountSpec { unit: AmountUnit::Yuan, decimals: 3 };
        assert_eq!(y3.format(Fen(76500)), "765.000");
        assert_eq!(AmountSpec { unit: AmountUnit::Fen, decimals: 2 }.format(Fen(76500)), "76500");
        assert_eq!(AmountSpec::parse(AmountUnit::Yuan, "765.000"), Some(Fen(76500)));
        assert_eq!(AmountSpec::parse(AmountUnit::Yuan, "765.001"), None);
        assert_eq!(AmountSpec::parse(AmountUnit::Fen, "76500"), Some(Fen(76500)));
        assert_eq!(AmountSpec::parse(AmountUnit::Fen, "765.00"), None);
        assert_eq!(AmountSpec::parse(AmountUnit::Fen, ""), None);
    }

    #[test]
    fn shipped_layouts_parse() {
        for (name, text) in crate::bankfile::builtin_formats() {
            parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
