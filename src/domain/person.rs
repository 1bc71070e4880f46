//! Identity numbers (公民身份号码) and bank accounts, with the masking every
//! notice, log and failure list must use.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::money::compact_number;
use super::Text;

/// A valid 18-character citizen ID number (GB 11643-1999), upper-case `X`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdNumber(Text);

/// The birth date in digits 7–14 of an 18-digit number, if it is a real date.
/// (Built from the digits: chrono's `parse_from_str` re-reads its format string
/// on every call, which showed in a million-row profile.)
fn birth_of(digits: &[u8]) -> Option<chrono::NaiveDate> {
    let num = |r: std::ops::Range<usize>| {
        digits.get(r)?.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    chrono::NaiveDate::from_ymd_opt(num(6..10)? as i32, num(10..12)?, num(12..14)?)
}

/// Why an ID number is not valid; the message is what a clerk reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{}", crate::tr!("身份证号有 {_0} 位，应为 18 位", "ID number has {_0} characters, expected 18"))]
    Length(usize),
    #[error("{}", crate::tr!("身份证号被表格软件变成了数字（{_0}）：末几位已经丢失；请以文本格式重新录入", "ID number looks like a spreadsheet float ({_0}): its last digits are lost; type it again as text"))]
    Float(String),
    #[error("{}", crate::tr!("身份证号是 15 位旧号码；请取得 18 位号码", "ID number is a 15-digit legacy number; ask for the 18-digit number"))]
    Legacy,
    #[error("{}", crate::tr!("身份证号里有非数字字符（只有最后一位可以是 X）", "ID number has a character that is not a digit (only the last may be X)"))]
    Characters,
    #[error("{}", crate::tr!("身份证号里的出生日期不存在（{_0}）", "ID number carries a birth date that does not exist ({_0})"))]
    BirthDate(String),
    #[error("{}", crate::tr!("身份证号校验码不对（应为 {expected}，实为 {found}）：有一位录错了", "ID number fails its check digit (expected {expected}, found {found}): a digit was mistyped"))]
    Check { expected: char, found: char },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

impl IdNumber {
    /// The number as one integer, for comparing a million people without a
    /// million strings. Exact: 17 digits and the check character (X = 10).
    pub fn key(&self) -> u64 {
        id_key(&self.0).unwrap_or(0)
    }

    /// A number [`IdNumber::parse`] accepted earlier, as [`IdNumber::as_str`]
    /// gave it (pass 1 keeps checked rows in a temporary file for pass 2): only
    /// its shape is checked again, which tells a damaged copy; its date and check
    /// digit were checked when it was read.
    pub(crate) fn from_checked(s: Text) -> Option<IdNumber> {
        (id_key(&s).is_some() && !s.ends_with('x')).then_some(IdNumber(s))
    }

    /// Validates and normalises (trim, full-width to half-width, `x` → `X`).
    pub fn parse(raw: &str) -> Result<IdNumber, IdError> {
        let b = raw.as_bytes();
        if b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && matches!(b[17], b'0'..=b'9' | b'X' | b'x') {
            // As nearly every roster writes it: only the date and check digit are left to check.
            let mut s = Text::new(raw);
            s.make_ascii_uppercase();
            return Self::dated_and_checked(s);
        }
        let mut s = compact_number(raw);
        s.make_ascii_uppercase();
        if s.contains('E') && s.chars().all(|c| c.is_ascii_digit() || "E+-.".contains(c)) || s.contains('.') {
            return Err(IdError::Float(mask_id(&s)));
        }
        let n = s.chars().count();
        if n == 15 && s.chars().all(|c| c.is_ascii_digit()) {
            return Err(IdError::Legacy);
        }
        if n != 18 {
            return Err(IdError::Length(n));
        }
        let b = s.as_bytes();
        if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdError::Characters);
        }
        Self::dated_and_checked(s)
    }

    /// The last checks of [`IdNumber::parse`], on 17 digits and a digit or `X`.
    fn dated_and_checked(s: Text) -> Result<IdNumber, IdError> {
        let b = s.as_bytes();
        let birth = &s[6..14];
        if birth_of(b).is_none() || &s[6..8] < "18" {
            return Err(IdError::BirthDate(birth.to_string()));
        }
        let expected = Self::check_char(&b[..17]);
        if expected != b[17] as char {
            return Err(IdError::Check { expected, found: b[17] as char });
        }
        Ok(IdNumber(s))
    }

    /// The ISO 7064 MOD 11-2 check character of the first 17 digits.
    pub fn check_char(first17: &[u8]) -> char {
        let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
        CHECK[(sum % 11) as usize] as char
    }

    /// The full number: only for bank files, paid.csv and the ledger.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full number, moved out (for the ledger).
    pub fn into_text(self) -> Text {
        self.0
    }

    /// First 6 and last 4 kept, the rest `*` (SPEC §4).
    pub fn masked(&self) -> String {
        mask_id(&self.0)
    }

    /// Birth date (YYYY-MM-DD) the number carries.
    pub fn birth_date(&self) -> chrono::NaiveDate {
        birth_of(self.0.as_bytes()).expect("validated")
    }
}

/// `Debug` masks: a full ID must never reach a log by accident.
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// Masks any ID-like text: first 6 and last 4 characters kept, the rest `*`.
/// Short text (10 characters or fewer) is masked whole but for its last 2.
pub fn mask_id(s: &str) -> String {
    mask_keep(s, 6, 4)
}

/// Masks an account number for failure lists and logs: last 4 digits kept.
pub fn mask_account(s: &str) -> String {
    mask_keep(s, 0, 4)
}

fn mask_keep(s: &str, head: usize, tail: usize) -> String {
    if s.is_ascii() {
        // Every ID and account the ledger holds: bytes are characters, and the
        // notice masks two per line (a million lines made this 2.5% of a run).
        let n = s.len();
        let (head, tail) = if n <= head + tail { (0, n.min(2)) } else { (head, tail) };
        let mut out = String::with_capacity(n);
        out.push_str(&s[..head]);
        out.extend(std::iter::repeat_n('*', n - head - tail));
        out.push_str(&s[n - tail..]);
        return out;
    }
    mask_chars(s, head, tail)
}

/// [`mask_keep`] counted in characters (full-width digits, names).
fn mask_chars(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= head + tail {
        let keep = n.min(2);
        return "*".repeat(n - keep) + &chars[n - keep..].iter().collect::<String>();
    }
    chars.iter().enumerate().map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' }).collect()
}

/// How many digits make a run of digits in free text an account or ID number to
/// mask. Why 12: our own references carry at most 10 in a row (`YF202610R0010000001`)
/// and a phone number 11, while Chinese account and card numbers have 12 to 19.
/// The shortest digit run masked in free text: every ID (15 or 18), every card,
/// and bank accounts of 11 digits or more; a payment reference's digit run
/// (batch and line, 10 digits) and a date stay readable.
const NUMBER_MIN: usize = 11;

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// Masks an ID (18 characters) or an account number found whole.
fn mask_number(s: &str) -> String {
    if s.chars().count() == 18 {
        mask_id(s)
    } else {
        mask_account(s)
    }
}

/// Masks every account or ID number inside free text (a bank's reason, an
/// `AddtlInf`): any run of 11 or more digits, written together or in groups
/// (`6222 0202 0011 2233 445`), an ID's final `X` included. Why: what a receipt
/// says is echoed into messages, flag lists and the ledger's reason text, and a
/// bank may quote the full number there.
pub fn mask_numbers(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().filter(|c| is_digit(*c)).count() < NUMBER_MIN {
        return std::borrow::Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (start, mut j) = (i, i);
        let mut compact = String::new();
        loop {
            while j < chars.len() && is_digit(chars[j]) {
                compact.push(chars[j]);
                j += 1;
            }
            // One space or dash between groups of digits keeps the run going.
            if j + 1 < chars.len() && matches!(chars[j], ' ' | '-') && is_digit(chars[j + 1]) {
                j += 1;
                continue;
            }
            break;
        }
        if j < chars.len() && matches!(chars[j], 'X' | 'x' | 'Ｘ') && compact.chars().count() == 17 {
            compact.push(chars[j]);
            j += 1;
        }
        if compact.chars().filter(|c| is_digit(*c)).count() >= NUMBER_MIN {
            out.push_str(&mask_number(&compact));
        } else {
            out.extend(&chars[start..j]);
        }
        i = j;
    }
    std::borrow::Cow::Owned(out)
}

/// Masks a reference a receipt names when it is really an account or ID number
/// (all digits, 8 or more, an ID's `X` allowed): an unknown reference is echoed
/// to the terminal and the flag list. Anything else is shown as [`mask_numbers`]
/// leaves it.
pub fn mask_reference(s: &str) -> std::borrow::Cow<'_, str> {
    let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let body = compact.strip_suffix(['X', 'x', 'Ｘ']).unwrap_or(&compact);
    if body.chars().count() >= 8 && body.chars().all(is_digit) {
        return std::borrow::Cow::Owned(mask_number(&compact));
    }
    mask_numbers(s)
}

/// A bank account or card number: digits only, 8–32 of them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Account(Text);

/// Why an account number is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{}", crate::tr!("银行账号被表格软件变成了数字（{_0}）：真实的数字已经丢失，请以文本格式重新录入", "account number was turned into a float by a spreadsheet ({_0}); the real digits are lost, type it again as text"))]
    Float(String),
    #[error("{}", crate::tr!("银行账号只能是数字", "account number may hold only digits"))]
    Characters,
    #[error("{}", crate::tr!("银行账号有 {_0} 位，应为 8 到 32 位", "account number has {_0} digits, expected 8 to 32"))]
    Length(usize),
}

impl Account {
    /// A number [`Account::parse`] accepted earlier, as [`Account::as_str`] gave
    /// it: only its shape (8–32 ASCII digits) is checked again (see
    /// [`IdNumber::from_checked`]).
    pub(crate) fn from_checked(s: Text) -> Option<Account> {
        ((8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then_some(Account(s))
    }

    /// Validates; spaces (and full-width digits) are normalised, nothing else is "fixed".
    pub fn parse(raw: &str) -> Result<Account, AccountError> {
        let s = compact_number(raw);
        let up = s.to_ascii_uppercase();
        if up.contains('E') && up.chars().all(|c| c.is_ascii_digit() || "E+-.".contains(c)) || up.contains('.') {
            return Err(AccountError::Float(mask_account(&s)));
        }
        if !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(AccountError::Characters);
        }
        if !(8..=32).contains(&s.len()) {
            return Err(AccountError::Length(s.len()));
        }
        Ok(Account(s))
    }

    /// The full number: only for bank files, paid.csv and the ledger.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full number, moved out (for the ledger).
    pub fn into_text(self) -> Text {
        self.0
    }

    /// The account as one number, for comparing a million accounts without a
    /// million strings. Exact, not a hash: a leading `1` keeps leading zeros
    /// apart, and 33 digits fit in a `u128`. Never 0.
    pub fn key(&self) -> u128 {
        self.0.bytes().fold(1u128, |k, b| k * 10 + u128::from(b - b'0'))
    }

    /// Last 4 digits kept.
    pub fn masked(&self) -> String {
        mask_account(&self.0)
    }

    /// A UnionPay card number (62…, 16–19 digits) that fails Luhn: W01. Passbook
    /// and 一折通 account numbers are not cards, so Luhn is never applied to them.
    pub fn is_card_failing_luhn(&self) -> bool {
        let s = &self.0;
        s.starts_with("62") && (16..=19).contains(&s.len()) && !luhn_ok(s)
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Account({})", self.masked())
    }
}

/// [`IdNumber::key`] of an ID number already validated (as the ledger and the
/// stop list hold them); `None` for anything that is not 17 digits and a check character.
pub fn id_key(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let check = match b[17] {
        b'X' | b'x' => 10,
        d if d.is_ascii_digit() => u64::from(d - b'0'),
        _ => return None,
    };
    Some(b[..17].iter().fold(0u64, |k, d| k * 10 + u64::from(d - b'0')) * 11 + check + 1)
}

/// The ID number whose [`id_key`] is `key` (check character `X`, as
/// [`IdNumber::parse`] writes it), or `None` when no ID number has that key.
/// What a ledger that stores ID numbers as text looks a few keys up by.
pub fn id_number_of_key(key: u64) -> Option<String> {
    let n = key.checked_sub(1)?;
    let (digits, check) = (n / 11, n % 11);
    if digits >= 100_000_000_000_000_000 {
        return None;
    }
    let check = if check == 10 { 'X' } else { char::from(b'0' + check as u8) };
    Some(format!("{digits:017}{check}"))
}

/// The Luhn (ISO/IEC 7812) check over a digit string.
pub fn luhn_ok(digits: &str) -> bool {
    let n = digits.len();
    n >= 2
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn_digit(&digits[..n - 1]) == digits.as_bytes()[n - 1] as char
}

/// The Luhn digit that completes `body` (a card number without its last digit).
pub fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0') % 10);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key names one ID number (its `x` read as `X`); no other number is a key.
    #[test]
    fn keys_turn_back_into_their_id_numbers() {
        for id in ["110105194912310011", "11010519491231002X", "000000000000000000", "99999999999999999X"] {
            assert_eq!(id_number_of_key(id_key(id).unwrap()).as_deref(), Some(id));
        }
        assert_eq!(id_number_of_key(id_key("11010519491231002x").unwrap()).as_deref(), Some("11010519491231002X"));
        assert_eq!(id_number_of_key(0), None);
        assert_eq!(id_number_of_key(id_key("99999999999999999X").unwrap() + 1), None);
        assert_eq!(id_number_of_key(u64::MAX), None);
    }

    /// The ASCII path masks as the character path does, for every length.
    #[test]
    fn masking_ascii_matches_masking_characters() {
        let by_chars = mask_chars;
        let digits = "11010519491231002X6222021234567890123";
        for n in 0..=digits.len() {
            let s = &digits[..n];
            assert_eq!(mask_id(s), by_chars(s, 6, 4), "{s}");
            assert_eq!(mask_account(s), by_chars(s, 0, 4), "{s}");
        }
        assert_eq!(mask_id("１１０１０５１９４９１２３１００２Ｘ"), "１１０１０５********００２Ｘ");
    }

    /// What `parse` accepted comes back through `from_checked` unchanged; a copy
    /// damaged in shape does not.
    #[test]
    fn checked_numbers_come_back_as_they_were() {
        let id = IdNumber::parse(" 11010519491231002x ").unwrap();
        assert_eq!(IdNumber::from_checked(id.as_str().into()), Some(id));
        for bad in ["11010519491231002", "1101051949123100a1", "11010519491231002x", ""] {
            assert_eq!(IdNumber::from_checked(bad.into()), None, "{bad}");
        }
        let acct = Account::parse("6222 0212 3456 7890").unwrap();
        assert_eq!(Account::from_checked(acct.as_str().into()), Some(acct));
        for bad in ["1234567", "12345678x", &"1".repeat(33)] {
            assert_eq!(Account::from_checked(bad.into()), None, "{bad}");
        }
    }

    #[test]
    fn standard_vectors_pass() {
        for id in ["11010519491231002X", "360426199101010071", "110101202311012176"] {
            assert!(IdNumber::parse(id).is_ok(), "{id}");
        }
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap().as_str(), "11010519491231002X");
    }

    #[test]
    fn bad_ids_say_why() {
        assert_eq!(IdNumber::parse("110105194912310021"), Err(IdError::Check { expected: 'X', found: '1' }));
        assert!(matches!(IdNumber::parse("1.10105194912E+17"), Err(IdError::Float(_))));
        assert!(matches!(IdNumber::parse("110105194902300021"), Err(IdError::BirthDate(_))));
        assert_eq!(IdNumber::parse("110105491231002"), Err(IdError::Legacy));
        assert_eq!(IdNumber::parse("1101051949"), Err(IdError::Length(10)));
        assert_eq!(IdNumber::parse("11010519491231A02X"), Err(IdError::Characters));
    }

    /// The birth date is a real calendar date: leap days only in leap years, no
    /// month 13 or day 0; and the check digit is not what decides it.
    #[test]
    fn birth_dates_are_calendar_dates() {
        let with_check = |first17: &str| format!("{first17}{}", IdNumber::check_char(first17.as_bytes()));
        for (date, real) in [
            ("20000229", true),
            ("19000229", false),
            ("20240229", true),
            ("20230229", false),
            ("19491301", false),
            ("19491200", false),
            ("19491231", true),
            ("19490431", false),
        ] {
            let id = with_check(&format!("110105{date}002"));
            assert_eq!(IdNumber::parse(&id).is_ok(), real, "{date}");
            if real {
                assert_eq!(IdNumber::parse(&id).unwrap().birth_date().format("%Y%m%d").to_string(), date);
            }
        }
    }

    #[test]
    fn numbers_in_free_text_are_masked() {
        assert_eq!(mask_numbers("账号6222020200112233445已销户"), "账号***************3445已销户");
        assert_eq!(mask_numbers("身份证11010519491231002X不符"), "身份证110105********002X不符");
        assert_eq!(mask_numbers("卡号 6222 0202 0011 2233 445"), "卡号 ***************3445");
        assert_eq!(mask_numbers("账号６２２２０２０２００１１２２３３"), "账号************２２３３");
        assert_eq!(mask_numbers("存折33001610000"), "存折*******0000", "an 11-digit passbook account");
        for kept in ["YF202610R0010000001 已销户", "电话0571-1234", "金额1552.50元", "2026-11-26 09:00"] {
            assert_eq!(mask_numbers(kept), kept);
        }
    }

    #[test]
    fn references_that_are_numbers_are_masked() {
        assert_eq!(mask_reference("6222020200112233445"), "***************3445");
        assert_eq!(mask_reference("11010519491231002X"), "110105********002X");
        assert_eq!(mask_reference("62220202"), "****0202");
        assert_eq!(mask_reference("YF202610R0010000001"), "YF202610R0010000001");
        assert_eq!(mask_reference("NOTPROVIDED"), "NOTPROVIDED");
    }

    #[test]
    fn masks_keep_six_and_four() {
        assert_eq!(mask_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_account("6222081302002142160"), "***************2160");
        assert_eq!(format!("{:?}", IdNumber::parse("11010519491231002X").unwrap()), "IdNumber(110105********002X)");
    }

    #[test]
    fn accounts() {
        assert!(matches!(Account::parse("6.22848E+18"), Err(AccountError::Float(_))));
        assert_eq!(Account::parse("6222 0813 0200 2142 160").unwrap().as_str(), "6222081302002142160");
        assert_eq!(Account::parse("12-34567890"), Err(AccountError::Characters));
        assert!(!Account::parse("6222081302002142160").unwrap().is_card_failing_luhn());
        assert!(Account::parse("6221558812340000").unwrap().is_card_failing_luhn());
        assert!(!Account::parse("33001610000053012345").unwrap().is_card_failing_luhn());
    }
}
