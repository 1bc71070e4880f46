//! Domain types every stage shares: money, ID numbers, accounts, programs, periods,
//! roster positions, payment lines, exceptions and receipts.
//!
//! Why a module of its own: each stage (ingest → validate → reconcile → totals →
//! bankfile → sign → ledger → returns → report) speaks in these types, so none of
//! them needs to reach into another stage to understand a line.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod encoding;
mod line;
mod lists;
mod money;
mod person;
mod program;
mod receipt;

pub use encoding::{Length, TextEncoding, TextRules};
pub use line::{LineKind, LineType};
pub use lists::{Change, ChangeKind, Failure};
pub use money::{parse_amount, AmountError, Fen, YUAN_MAX};
/// A short text of a line: a name, a place, a number, a reference.
///
/// Why not `String`: a million-line run builds about fourteen texts a line in each
/// pass and frees them on another thread, and the allocator was a tenth of the run.
/// Nearly all are at most 24 bytes (a Chinese name 6–12, an ID 18, an account
/// 16–19, a reference 19), which a `CompactString` keeps inline, in the same 24
/// bytes a `String` takes. Longer ones (a bank's full name) go to the heap as before.
pub type Text = compact_str::CompactString;

pub use person::{
    id_key, id_number_of_key, luhn_digit, luhn_ok, mask_account, mask_id, mask_numbers, mask_reference, Account,
    AccountError, IdError, IdNumber,
};
pub use program::Program;
pub use receipt::{Conflict, Entry, Place, ReceiptLine};

/// A payment period, a calendar month (`YYYY-MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    /// The first day of the period: stops effective on or before it are not paid.
    pub fn first_day(self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid period")
    }

    /// The period before this one.
    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    /// `YYYYMM`, used inside end-to-end references and file names.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            crate::tr!(
                "发放期 '{s}' 不是 年-月 的写法（例如 2026-11）",
                "period '{s}' is not YYYY-MM (for example 2026-11)"
            )
        };
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Period { year, month })
    }
}

/// Who receives the money for a beneficiary (收款人类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PayeeType {
    /// 本人: the beneficiary's own account.
    #[default]
    SelfPaid,
    /// 监护人: a guardian receives for a minor or incapacitated person.
    Guardian,
    /// 照料人: a caregiver receives the care fee (分散供养).
    Caregiver,
    /// 供养机构: a care institution's collective account (集中供养).
    Institution,
}

impl PayeeType {
    /// Every payee type.
    pub const ALL: [PayeeType; 4] =
        [PayeeType::SelfPaid, PayeeType::Guardian, PayeeType::Caregiver, PayeeType::Institution];

    /// A payee type's one-byte tag in pass 1's spill file (exhaustive, as [`Code::tag`]).
    pub fn tag(self) -> u8 {
        match self {
            PayeeType::SelfPaid => 0,
            PayeeType::Guardian => 1,
            PayeeType::Caregiver => 2,
            PayeeType::Institution => 3,
        }
    }

    /// The payee type with this [`PayeeType::tag`].
    pub fn from_tag(tag: u8) -> Option<PayeeType> {
        PayeeType::ALL.get(usize::from(tag)).copied().filter(|p| p.tag() == tag)
    }

    /// Parses the roster's 收款人类型 (English code or Chinese word); empty means `self`.
    pub fn parse(s: &str) -> Option<PayeeType> {
        match s.trim() {
            "" | "self" | "本人" => Some(PayeeType::SelfPaid),
            "guardian" | "监护人" => Some(PayeeType::Guardian),
            "caregiver" | "照料人" | "护理人" => Some(PayeeType::Caregiver),
            "institution" | "机构" | "供养机构" | "敬老院" => Some(PayeeType::Institution),
            _ => None,
        }
    }

    /// The English code of SPEC §2.
    pub fn code(self) -> &'static str {
        match self {
            PayeeType::SelfPaid => "self",
            PayeeType::Guardian => "guardian",
            PayeeType::Caregiver => "caregiver",
            PayeeType::Institution => "institution",
        }
    }
}

/// Where a line came from, as a person finds it: the file and the row number the
/// spreadsheet shows (1-based, counting title and header rows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourcePos {
    /// The file name as the clerk knows it (relative to the config folder).
    pub file: Text,
    /// The row a spreadsheet shows for this line.
    pub row: u64,
}

/// `name` (a roster's path as the clerk knows it) as a [`Text`] that clones
/// without allocating.
///
/// Why: such paths (`rosters/2026-11/yiwubing.csv`) are often just over the 24
/// bytes a `Text` holds inline, and every row carries its roster's name through
/// both passes, about five copies a row. A longer name is kept once for the
/// life of the process and the rows point at it: a run reads a few rosters, the
/// same names month after month, so what is kept stays a few hundred bytes.
pub fn file_text(name: &str) -> Text {
    use std::sync::{Mutex, PoisonError};
    static LONG_NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    if name.len() <= std::mem::size_of::<Text>() {
        return Text::new(name);
    }
    let mut names = LONG_NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let kept = match names.get(name) {
        Some(kept) => *kept,
        None => {
            let kept: &'static str = Box::leak(name.into());
            names.insert(kept);
            kept
        }
    };
    Text::const_new(kept)
}

/// A roster field of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Township,
    Village,
    Name,
    IdNumber,
    Account,
    Bank,
    Amount,
    PayeeName,
    PayeeType,
    HouseholdSize,
    Category,
    Note,
    /// 项目类型 (SPEC §9): basic, care, back_pay, one_off, funeral.
    LineType,
    /// 所属期: the month a back pay covers (`YYYY-MM`).
    Covers,
}

impl Field {
    /// Every field, in roster order.
    pub const ALL: [Field; 14] = [
        Field::Township,
        Field::Village,
        Field::Name,
        Field::IdNumber,
        Field::Account,
        Field::Bank,
        Field::Amount,
        Field::PayeeName,
        Field::PayeeType,
        Field::HouseholdSize,
        Field::Category,
        Field::Note,
        Field::LineType,
        Field::Covers,
    ];

    /// A field's one-byte tag in pass 1's spill file (exhaustive, as [`Code::tag`]).
    pub fn tag(self) -> u8 {
        match self {
            Field::Township => 0,
            Field::Village => 1,
            Field::Name => 2,
            Field::IdNumber => 3,
            Field::Account => 4,
            Field::Bank => 5,
            Field::Amount => 6,
            Field::PayeeName => 7,
            Field::PayeeType => 8,
            Field::HouseholdSize => 9,
            Field::Category => 10,
            Field::Note => 11,
            Field::LineType => 12,
            Field::Covers => 13,
        }
    }

    /// The field with this [`Field::tag`].
    pub fn from_tag(tag: u8) -> Option<Field> {
        Field::ALL.get(usize::from(tag)).copied().filter(|f| f.tag() == tag)
    }

    /// The English column name of SPEC §2 (also what exceptions.csv says in `field`).
    pub fn code(self) -> &'static str {
        match self {
            Field::Township => "township",
            Field::Village => "village",
            Field::Name => "name",
            Field::IdNumber => "id_number",
            Field::Account => "account",
            Field::Bank => "bank",
            Field::Amount => "amount",
            Field::PayeeName => "payee_name",
            Field::PayeeType => "payee_type",
            Field::HouseholdSize => "household_size",
            Field::Category => "category",
            Field::Note => "note",
            Field::LineType => "line_type",
            Field::Covers => "covers",
        }
    }

    /// Whether SPEC §2 requires the column.
    pub fn required(self) -> bool {
        matches!(
            self,
            Field::Township | Field::Village | Field::Name | Field::IdNumber | Field::Account | Field::Amount
        )
    }

    /// The header names a roster may use for this field (SPEC §2), already normalised
    /// (no spaces, half-width, lower-case).
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Field::Township => &["乡镇", "乡镇(街道)", "township"],
            Field::Village => &["村(社区)", "村居", "village"],
            Field::Name => &["姓名", "享受人", "name"],
            Field::IdNumber => &["身份证号", "身份证号码", "公民身份号码", "id_number"],
            Field::Account => &["银行账号", "账号", "卡号", "account"],
            Field::Bank => &["开户行", "开户银行", "bank"],
            Field::Amount => &["金额", "发放金额", "保障金额", "补贴金额", "津贴金额", "amount"],
            Field::PayeeName => &["收款人", "户名", "账户名称", "payee_name"],
            Field::PayeeType => &["收款人类型", "payee_type"],
            Field::HouseholdSize => &["保障人数", "household_size"],
            Field::Category => &["类别", "category"],
            Field::Note => &["备注", "note"],
            Field::LineType => &["项目类型", "发放类型", "line_type"],
            Field::Covers => &["所属期", "所属月份", "covers"],
        }
    }
}

/// A cell as ingest read it: text exactly as written, or a number a spreadsheet
/// stored as an IEEE double (the only place a float exists, and only until
/// validation turns it into exact fen or holds the line).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(Text),
    /// A numeric spreadsheet cell. Kept as the shortest decimal text that
    /// round-trips the double (e.g. `395.99999999999994`, `6.22848E+18` shows as
    /// `6228480000000000000`), so no arithmetic ever happens on a float.
    Number(Text),
}

impl Cell {
    /// The cell as text (numbers in their shortest round-trip form).
    pub fn as_text(&self) -> &str {
        match self {
            Cell::Empty => "",
            Cell::Text(s) | Cell::Number(s) => s,
        }
    }

    /// True when the cell holds nothing but white space.
    pub fn is_blank(&self) -> bool {
        self.as_text().trim().is_empty()
    }
}

/// One data row of a roster (发放名册) as read, before any check.
#[derive(Debug, Clone)]
pub struct RosterRow {
    pub program: Program,
    pub pos: SourcePos,
    /// The cell of each field the roster has a column for.
    pub cells: Vec<(Field, Cell)>,
}

impl RosterRow {
    /// The cell of `field`, or `Cell::Empty` when the roster has no such column.
    pub fn cell(&self, field: Field) -> &Cell {
        static EMPTY: Cell = Cell::Empty;
        self.cells.iter().find(|(f, _)| *f == field).map(|(_, c)| c).unwrap_or(&EMPTY)
    }

    /// The trimmed text of `field`.
    pub fn text(&self, field: Field) -> &str {
        self.cell(field).as_text().trim()
    }
}

/// The reference that travels with one payment to the bank and back (≤ 35
/// characters, unique for ever). Format: program prefix, period, `R` (run) or `C`
/// (correction), batch number and line number, e.g. `DB202611R0010000042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndToEndId(pub Text);

impl EndToEndId {
    /// Builds the reference of line `seq` of batch `batch` of kind `kind` (`'R'` or `'C'`).
    /// Written digit by digit: a run builds a million of these on the thread that
    /// writes the bank files, where `format!` showed in the profile.
    pub fn new(program: Program, period: Period, kind: char, batch: u32, seq: u64) -> EndToEndId {
        let mut s = Text::with_capacity(24);
        s.push_str(program.ref_prefix());
        push_padded(&mut s, u64::try_from(period.year).unwrap_or(0), 4);
        push_padded(&mut s, u64::from(period.month), 2);
        s.push(kind);
        push_padded(&mut s, u64::from(batch), 3);
        push_padded(&mut s, seq, 7);
        EndToEndId(s)
    }

    /// [`EndToEndId::new`] with the office's 行政区划代码 after the program prefix
    /// (`DB330729202611R0010000042`, 25 characters), so that a receipt routes to
    /// the office of a shared ledger that sent the line. Without a code (an
    /// office's own ledger) the reference is as it always was.
    pub fn for_office(
        office: Option<&str>,
        program: Program,
        period: Period,
        kind: char,
        batch: u32,
        seq: u64,
    ) -> EndToEndId {
        let plain = EndToEndId::new(program, period, kind, batch, seq);
        match office {
            Some(code) => {
                let mut s = Text::with_capacity(plain.0.len() + code.len());
                s.push_str(&plain.0[..2]);
                s.push_str(code);
                s.push_str(&plain.0[2..]);
                EndToEndId(s)
            }
            None => plain,
        }
    }

    /// The office code a reference carries ([`EndToEndId::for_office`]), if any:
    /// six digits after the two-letter prefix, followed by the six digits of the
    /// period (a reference without a code has `R` or `C` there instead).
    pub fn office_of(reference: &str) -> Option<&str> {
        let b = reference.as_bytes();
        let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        (b.len() >= 15 && b[..2].iter().all(u8::is_ascii_uppercase) && digits(2..14) && matches!(b[14], b'R' | b'C'))
            .then(|| &reference[2..8])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (`{:0width$}`).
fn push_padded(s: &mut Text, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let (mut n, mut at) = (n, digits.len());
    while n > 0 || at == digits.len() || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    s.extend(digits[at..].iter().map(|&d| d as char));
}

impl fmt::Display for EndToEndId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A line that passed every check and goes to the bank (发放明细).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentLine {
    pub program: Program,
    pub end_to_end_id: EndToEndId,
    pub township: Text,
    pub village: Text,
    /// 享受人: the beneficiary.
    pub name: Text,
    pub id_number: IdNumber,
    /// 户名: whose account receives.
    pub payee_name: Text,
    pub payee_type: PayeeType,
    pub account: Account,
    /// 开户行 as written on the roster (may be empty).
    pub bank: Text,
    pub amount: Fen,
    pub household_size: Option<u32>,
    pub category: Text,
    pub note: Text,
    /// 项目类型 and 所属期 (SPEC §9): with program, period and person, what makes it one payment.
    pub kind: LineKind,
    /// Where the line came from (for corrections: the corrections file).
    pub pos: SourcePos,
}

/// How serious an exception is (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The line is not paid.
    Hold,
    /// Paid, but listed for a person to look at.
    Warn,
    /// Already paid: silently never sent again, listed for the record.
    Skip,
    /// The whole program is refused.
    Refuse,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Hold => "hold",
            Severity::Warn => "warn",
            Severity::Skip => "skip",
            Severity::Refuse => "refuse",
        }
    }
}

/// The check codes of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    V01,
    V02,
    V03,
    V04,
    V05,
    V06,
    W01,
    R01,
    R02,
    R03,
    R04,
    R05,
    R06,
    R07,
    /// Paid by another office of a shared ledger (跨县重复享受, SPEC §10).
    R08,
    /// Age outside the program's bounds (SPEC §9).
    A01,
    /// Annual cap per person exceeded.
    A02,
    /// Amount differs from the program's standard.
    A03,
    /// Back pay for a month already paid.
    A04,
    /// Payee type not allowed.
    P01,
    /// Institution rule broken.
    P02,
    /// On a warn-only check list (比对名单): paid, listed.
    W03,
}

impl Code {
    /// Every code, in the order of SPEC §3.
    pub const ALL: [Code; 22] = [
        Code::V01,
        Code::V02,
        Code::V03,
        Code::V04,
        Code::V05,
        Code::V06,
        Code::W01,
        Code::R01,
        Code::R02,
        Code::R03,
        Code::R04,
        Code::R05,
        Code::R06,
        Code::R07,
        Code::R08,
        Code::A01,
        Code::A02,
        Code::A03,
        Code::A04,
        Code::P01,
        Code::P02,
        Code::W03,
    ];

    /// A code's one-byte tag in pass 1's spill file. The match is exhaustive: a
    /// new code does not compile until it has a tag, and the unit test
    /// `tags_round_trip` fails until it is in [`Code::ALL`] too.
    pub fn tag(self) -> u8 {
        match self {
            Code::V01 => 0,
            Code::V02 => 1,
            Code::V03 => 2,
            Code::V04 => 3,
            Code::V05 => 4,
            Code::V06 => 5,
            Code::W01 => 6,
            Code::R01 => 7,
            Code::R02 => 8,
            Code::R03 => 9,
            Code::R04 => 10,
            Code::R05 => 11,
            Code::R06 => 12,
            Code::R07 => 13,
            Code::R08 => 14,
            Code::A01 => 15,
            Code::A02 => 16,
            Code::A03 => 17,
            Code::A04 => 18,
            Code::P01 => 19,
            Code::P02 => 20,
            Code::W03 => 21,
        }
    }

    /// The code with this [`Code::tag`].
    pub fn from_tag(tag: u8) -> Option<Code> {
        Code::ALL.get(usize::from(tag)).copied().filter(|c| c.tag() == tag)
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::W01 | Code::R06 | Code::W03 => Severity::Warn,
            Code::R04 => Severity::Skip,
            Code::R07 => Severity::Refuse,
            _ => Severity::Hold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::V01 => "V01",
            Code::V02 => "V02",
            Code::V03 => "V03",
            Code::V04 => "V04",
            Code::V05 => "V05",
            Code::V06 => "V06",
            Code::W01 => "W01",
            Code::R01 => "R01",
            Code::R02 => "R02",
            Code::R03 => "R03",
            Code::R04 => "R04",
            Code::R05 => "R05",
            Code::R06 => "R06",
            Code::R07 => "R07",
            Code::R08 => "R08",
            Code::A01 => "A01",
            Code::A02 => "A02",
            Code::A03 => "A03",
            Code::A04 => "A04",
            Code::P01 => "P01",
            Code::P02 => "P02",
            Code::W03 => "W03",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the exception list (异常清单). Never carries a full ID number.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    pub program: Program,
    pub file: String,
    /// The spreadsheet row; 0 for a file-level exception such as R07.
    pub row: u64,
    /// The field at fault (`""` for file-level exceptions).
    pub field: &'static str,
    pub code: Code,
    pub name: String,
    pub id_number_masked: String,
    /// What a finance clerk reads: what is wrong and what to do.
    pub message: String,
}

impl Exception {
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// The final or provisional state of a payment line at the bank (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Written and signed, no receipt yet (在途).
    #[default]
    Sent,
    /// Receipt said: accepted, not final (处理中).
    Pending,
    /// Credited to the payee (成功).
    Settled,
    /// Rejected by the bank (失败).
    Failed,
    /// Credited, then sent back (退票).
    Returned,
}

impl PaymentStatus {
    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::Sent => "sent",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Settled => "settled",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        [Self::Sent, Self::Pending, Self::Settled, Self::Failed, Self::Returned].into_iter().find(|st| st.code() == s)
    }

    /// The status as a clerk reads it (已发出, 成功, 失败 …).
    pub fn chinese(self) -> &'static str {
        match self {
            PaymentStatus::Sent => "已发出",
            PaymentStatus::Pending => "处理中",
            PaymentStatus::Settled => "成功",
            PaymentStatus::Failed => "失败",
            PaymentStatus::Returned => "退票",
        }
    }
}

/// Approved count and total of one program (审批), from approvals.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub program: Program,
    pub count: u64,
    /// Exact decimal: the approval covers amounts as written.
    pub total: Decimal,
    pub reference: String,
    pub approved_by: String,
    pub approved_on: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tag names one value and reads back as it: a value missing from `ALL`
    /// (or two values with one tag) fails here.
    #[test]
    fn tags_round_trip() {
        let codes: Vec<Code> = (0..=u8::MAX).filter_map(Code::from_tag).collect();
        assert_eq!(codes, Code::ALL);
        assert!(Code::ALL.iter().all(|c| Code::from_tag(c.tag()) == Some(*c)));
        let fields: Vec<Field> = (0..=u8::MAX).filter_map(Field::from_tag).collect();
        assert_eq!(fields, Field::ALL);
        let payees: Vec<PayeeType> = (0..=u8::MAX).filter_map(PayeeType::from_tag).collect();
        assert_eq!(payees, PayeeType::ALL);
    }
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    #[test]
    fn references_carry_the_office_code_or_stay_as_they_were() {
        let p: Period = "2026-11".parse().unwrap();
        let plain = EndToEndId::new(Program::Dibao, p, 'R', 1, 42);
        assert_eq!(plain.as_str(), "DB202611R0010000042");
        assert_eq!(EndToEndId::for_office(None, Program::Dibao, p, 'R', 1, 42), plain);
        let coded = EndToEndId::for_office(Some("330729"), Program::Wubao, p, 'C', 999, 9_999_999);
        assert_eq!(coded.as_str(), "WB330729202611C9999999999");
        assert!(coded.as_str().len() <= 35);
        assert_eq!(EndToEndId::office_of(coded.as_str()), Some("330729"));
        assert_eq!(EndToEndId::office_of(plain.as_str()), None);
        assert_eq!(EndToEndId::office_of("XX"), None);
        assert_eq!(EndToEndId::office_of("DB33072920261XR001"), None);
    }
}
