//! Money in integer fen (分). A yuan amount is parsed from text exactly; a float
//! never touches it.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Text;

/// An amount of money in fen (1 yuan = 100 fen). `i64` holds ±92 trillion yuan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Converts an exact decimal yuan amount; `None` if it has more than 2 decimal
    /// places or does not fit.
    pub fn from_yuan(d: Decimal) -> Option<Fen> {
        if d.scale() <= 2 {
            // Exact without Decimal arithmetic: yuan × 100 = mantissa × 10^(2 − scale).
            let fen = d.mantissa().checked_mul(10i128.pow(2 - d.scale()))?;
            return i64::try_from(fen).ok().map(Fen);
        }
        let scaled = d.checked_mul(Decimal::ONE_HUNDRED)?;
        if !scaled.fract().is_zero() {
            return None;
        }
        i64::try_from(scaled.trunc()).ok().map(Fen)
    }

    /// The amount in yuan as an exact decimal with two places.
    pub fn to_yuan(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Yuan with exactly two decimals, e.g. `1200.00` (what CSV reports and XML carry).
    pub fn yuan_string(self) -> String {
        self.yuan_str(&mut [0; YUAN_MAX]).to_string()
    }

    /// [`Fen::yuan_string`] written into `buf`, for the million lines of a run's
    /// reports: digit by digit, where `format!` with a padded field was ~1% of a
    /// run's CPU.
    pub fn yuan_str(self, buf: &mut [u8; YUAN_MAX]) -> &str {
        let mut a = self.0.unsigned_abs();
        let mut at = buf.len();
        for i in 0.. {
            at -= 1;
            buf[at] = if i == 2 { b'.' } else { b'0' + (a % 10) as u8 };
            if i != 2 {
                a /= 10;
            }
            if i >= 3 && a == 0 {
                break;
            }
        }
        if self.0 < 0 {
            at -= 1;
            buf[at] = b'-';
        }
        std::str::from_utf8(&buf[at..]).expect("ASCII digits")
    }

    pub fn checked_add(self, o: Fen) -> Option<Fen> {
        self.0.checked_add(o.0).map(Fen)
    }
}

/// Bytes of the longest [`Fen::yuan_str`]: `-92233720368547758.08`.
pub const YUAN_MAX: usize = 21;

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.yuan_str(&mut [0; YUAN_MAX]))
    }
}

impl Add for Fen {
    type Output = Fen;
    fn add(self, o: Fen) -> Fen {
        Fen(self.0.checked_add(o.0).expect("money overflow: more than 92 trillion yuan"))
    }
}

impl AddAssign for Fen {
    fn add_assign(&mut self, o: Fen) {
        *self = *self + o;
    }
}

impl Sub for Fen {
    type Output = Fen;
    fn sub(self, o: Fen) -> Fen {
        Fen(self.0.checked_sub(o.0).expect("money overflow"))
    }
}

impl Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        iter.fold(Fen::ZERO, |a, b| a + b)
    }
}

/// Why an amount text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{}", crate::tr!("金额是空的", "amount is empty"))]
    Empty,
    #[error("{}", crate::tr!("'{_0}' 不是数字", "'{_0}' is not a number"))]
    NotANumber(String),
}

/// Parses an amount as a clerk writes it: `1,200.00`, `¥396`, `￥396`, `396元`,
/// full-width digits, surrounding spaces. Returns the exact decimal as written
/// (scale kept, so `1.005` stays `1.005` and validation can hold it).
///
/// Thousands separators are accepted only in groups of three, so `1,20` is not
/// silently read as 120.
pub fn parse_amount(raw: &str) -> Result<Decimal, AmountError> {
    match plain_amount(raw) {
        Some(d) => Ok(d),
        None => parse_written_amount(raw),
    }
}

/// The form nearly every roster writes, read without allocating: ASCII digits
/// with at most one point between digits, nothing else (no sign, separator,
/// currency sign, unit or space). `None` for anything else, which the general
/// reading takes; for what it accepts, both give the same value and scale.
fn plain_amount(raw: &str) -> Option<Decimal> {
    let b = raw.as_bytes();
    let (mut mantissa, mut scale, mut point) = (0i64, 0u32, false);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
                scale += u32::from(point);
            }
            b'.' if !point && i > 0 && i + 1 < b.len() => point = true,
            _ => return None,
        }
    }
    // More than 28 decimals is past what a Decimal holds: the general reading says so.
    Decimal::try_new(mantissa, scale).ok().filter(|_| !b.is_empty())
}

/// [`parse_amount`] for every form a clerk may write.
fn parse_written_amount(raw: &str) -> Result<Decimal, AmountError> {
    let half = compact_number(raw);
    let mut s = half.as_str();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    s = s.trim_start_matches(['¥', '￥']);
    s = s.strip_suffix("元").unwrap_or(s);
    s = s.strip_suffix("RMB").unwrap_or(s);
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let body = strip_thousands(body).ok_or_else(|| AmountError::NotANumber(raw.trim().to_string()))?;
    let valid = !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '.')
        && body.matches('.').count() <= 1
        && !body.starts_with('.')
        && !body.ends_with('.');
    if !valid {
        return Err(AmountError::NotANumber(raw.trim().to_string()));
    }
    format!("{sign}{body}").parse::<Decimal>().map_err(|_| AmountError::NotANumber(raw.trim().to_string()))
}

/// Removes `,` thousands separators when they group the integer part by three.
fn strip_thousands(s: &str) -> Option<String> {
    if !s.contains(',') {
        return Some(s.to_string());
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let groups: Vec<&str> = int.split(',').collect();
    let ok = (1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3);
    if !ok || frac.is_some_and(|f| f.contains(',')) {
        return None;
    }
    let mut out = groups.concat();
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// Maps full-width ASCII forms (０-９, ．, ，, －, ＋, space) to half-width.
/// A number as typed, with full-width digits and signs made half-width and every
/// space dropped. Most cells are plain ASCII already and are copied as they are:
/// this runs on three fields of every roster row.
pub(crate) fn compact_number(raw: &str) -> Text {
    if raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Text::new(raw);
    }
    raw.chars().map(half_width).filter(|c| !c.is_whitespace()).collect()
}

pub(crate) fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digit by digit gives what the format string gave, at the edges too.
    #[test]
    fn yuan_str_is_the_formatted_amount() {
        let formatted = |f: i64| {
            let (sign, a) = (if f < 0 { "-" } else { "" }, f.unsigned_abs());
            format!("{sign}{}.{:02}", a / 100, a % 100)
        };
        for f in [0, 1, 9, 10, 99, 100, 101, 120000, 123456789, -1, -5, -100, -120050, i64::MAX, i64::MIN] {
            assert_eq!(Fen(f).yuan_str(&mut [0; YUAN_MAX]), formatted(f), "{f}");
            assert_eq!(Fen(f).yuan_string(), formatted(f));
            assert_eq!(Fen(f).to_string(), formatted(f));
        }
    }

    /// The ASCII shortcut gives what the character-by-character path gives.
    /// The allocation-free reading gives what the general one gives, value and
    /// scale, and leaves every other form to it.
    #[test]
    fn plain_amounts_read_as_written_amounts() {
        for raw in ["0", "7", "396", "396.5", "396.50", "1.005", "007.50", "123456789012345678", "0.00"] {
            let fast = plain_amount(raw).unwrap_or_else(|| panic!("{raw} is plain"));
            let slow = parse_written_amount(raw).unwrap();
            assert_eq!((fast, fast.scale()), (slow, slow.scale()), "{raw}");
        }
        for raw in [
            "",
            ".5",
            "5.",
            "1.2.3",
            "-5",
            "+5",
            "1,200.00",
            "¥396",
            " 12",
            "12 ",
            "３９６",
            "1e3",
            "99999999999999999999",
            "0.00000000000000000000000000001",
        ] {
            assert_eq!(plain_amount(raw), None, "{raw}");
        }
        for d in [dec!(396), dec!(396.5), dec!(396.55), dec!(-1.5), dec!(0.00), dec!(1.005), dec!(396.500)] {
            let slow = d
                .checked_mul(Decimal::ONE_HUNDRED)
                .filter(|s| s.fract().is_zero())
                .map(|s| Fen(i64::try_from(s.trunc()).unwrap()));
            assert_eq!(Fen::from_yuan(d), slow, "{d}");
        }
        assert_eq!(Fen::from_yuan(Decimal::new(i64::MAX, 0)), None, "too many fen for an i64");
        let tiny = "0.00000000000000000000000000001";
        assert_eq!(parse_amount(tiny), parse_written_amount(tiny), "29 decimals: the general reading, not a panic");
    }

    #[test]
    fn compact_number_shortcut_agrees() {
        for raw in
            ["6228480402564890018", "1,234.50", " 12 34 ", "１２３４", "11010519491231002x", "a\tb", "", "1\u{3000}2"]
        {
            let slow: String = raw.chars().map(half_width).filter(|c| !c.is_whitespace()).collect();
            assert_eq!(compact_number(raw), slow, "{raw:?}");
        }
    }
    use rust_decimal_macros::dec;

    #[test]
    fn parses_clerk_forms() {
        assert_eq!(parse_amount("1,200.00").unwrap(), dec!(1200.00));
        assert_eq!(parse_amount("¥396").unwrap(), dec!(396));
        assert_eq!(parse_amount("￥396").unwrap(), dec!(396));
        assert_eq!(parse_amount("396元").unwrap(), dec!(396));
        assert_eq!(parse_amount("３９６．５０").unwrap(), dec!(396.50));
        assert_eq!(parse_amount(" 12 ").unwrap(), dec!(12));
        assert_eq!(parse_amount("-5").unwrap(), dec!(-5));
        assert_eq!(parse_amount("1.005").unwrap(), dec!(1.005));
        assert_eq!(parse_amount("1,234,567.8").unwrap(), dec!(1234567.8));
    }

    #[test]
    fn refuses_non_numbers() {
        for bad in ["", "abc", "1,20", "1.2.3", ".5", "5.", "12a", "--1", "1e3", "NaN"] {
            assert!(parse_amount(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn fen_conversion_is_exact() {
        assert_eq!(Fen::from_yuan(dec!(396.5)), Some(Fen(39650)));
        assert_eq!(Fen::from_yuan(dec!(1.005)), None);
        assert_eq!(Fen(39650).yuan_string(), "396.50");
        assert_eq!(Fen(-5).yuan_string(), "-0.05");
        assert_eq!(Fen(7).to_yuan(), dec!(0.07));
    }

    proptest::proptest! {
        // Fixed seed: the suite draws the same cases on every run.
        #![proptest_config(proptest::test_runner::Config {
            rng_seed: proptest::test_runner::RngSeed::Fixed(7),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn fen_text_round_trip(f in -10_000_000_000i64..10_000_000_000i64) {
            let text = Fen(f).yuan_string();
            let back = Fen::from_yuan(parse_amount(&text).unwrap()).unwrap();
            proptest::prop_assert_eq!(back, Fen(f));
        }
    }
}
