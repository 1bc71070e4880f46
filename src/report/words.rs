//! Amounts in Chinese capitals (大写金额), as the People's Bank of China writing
//! rules for bills and vouchers require them on a 汇总表 that is signed: capitals
//! cannot be turned into another amount with a stroke of a pen.
//!
//! Where the rules allow a choice, this writes:
//! - one 零 for a run of zeros between two non-zero digits, inside a section or
//!   across a 万/亿 boundary, except when the only zero is the digit that carries
//!   the section unit (105,000 → 壹拾万伍仟, but 10,005,000 → 壹仟万零伍仟);
//! - no 零 between 元 and a non-zero 角 (10.30 → 壹拾元叁角), one 零 when 角 is
//!   zero and 分 is not (100.05 → 壹佰元零伍分);
//! - 壹 before a leading 拾 (10 → 壹拾元整);
//! - 整 only when there is no 角 and no 分.

use crate::domain::Fen;

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const UNITS: [&str; 4] = ["", "拾", "佰", "仟"];
const WAN: u64 = 10_000;
const YI: u64 = 100_000_000;

/// The amount in Chinese capitals, e.g. `Fen(12345678)` → 壹拾贰万叁仟肆佰伍拾陆元柒角捌分.
/// Zero is 零元整; a negative amount is prefixed 负.
pub fn amount_in_words(amount: Fen) -> String {
    let sign = if amount.0 < 0 { "负" } else { "" };
    let abs = amount.0.unsigned_abs();
    let (yuan, jiao, fen) = (abs / 100, (abs / 10 % 10) as usize, (abs % 10) as usize);
    if abs == 0 {
        return "零元整".to_string();
    }
    let mut out = String::from(sign);
    if yuan > 0 {
        out.push_str(&integer_words(yuan));
        out.push('元');
    }
    if jiao == 0 && fen == 0 {
        out.push('整');
        return out;
    }
    if jiao > 0 {
        out.push(DIGITS[jiao]);
        out.push('角');
    } else if yuan > 0 {
        out.push('零');
    }
    if fen > 0 {
        out.push(DIGITS[fen]);
        out.push('分');
    }
    out
}

/// Capitals of a positive whole number, split at 亿 (recursively, so 万亿 and
/// above still read correctly).
fn integer_words(n: u64) -> String {
    if n < YI {
        return below_yi(n);
    }
    let (hi, lo) = (n / YI, n % YI);
    let mut s = integer_words(hi);
    s.push('亿');
    if lo > 0 {
        if needs_zero(hi, lo, YI / 10) {
            s.push('零');
        }
        s.push_str(&below_yi(lo));
    }
    s
}

/// Capitals of 1 ..= 99,999,999, split at 万.
fn below_yi(n: u64) -> String {
    let (hi, lo) = (n / WAN, n % WAN);
    let mut s = String::new();
    if hi > 0 {
        s.push_str(&section(hi));
        s.push('万');
    }
    if lo > 0 {
        if hi > 0 && needs_zero(hi, lo, WAN / 10) {
            s.push('零');
        }
        s.push_str(&section(lo));
    }
    s
}

/// Whether a 零 goes between an upper part ending in `hi` and a lower part `lo`
/// whose full width starts at `top` (1000 for a 万 boundary, 10^7 for 亿):
/// yes when `lo` has leading zeros, or `hi` ends in more than the one zero that
/// sits under the unit character itself.
fn needs_zero(hi: u64, lo: u64, top: u64) -> bool {
    lo < top || trailing_zeros(hi) > 1
}

fn trailing_zeros(mut n: u64) -> u32 {
    let mut z = 0;
    while n > 0 && n.is_multiple_of(10) {
        n /= 10;
        z += 1;
    }
    z
}

/// Capitals of one four-digit section, 1 ..= 9999: one 零 per inner zero run,
/// none for trailing zeros, 壹拾 written in full.
fn section(n: u64) -> String {
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    let mut s = String::new();
    let mut pending_zero = false;
    for (i, &d) in digits.iter().enumerate() {
        if d == 0 {
            pending_zero = !s.is_empty();
            continue;
        }
        if pending_zero {
            s.push('零');
            pending_zero = false;
        }
        s.push(DIGITS[d as usize]);
        s.push_str(UNITS[3 - i]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(fen: i64) -> String {
        amount_in_words(Fen(fen))
    }

    #[test]
    fn hand_checked_table() {
        let cases: &[(i64, &str)] = &[
            (12_345_678, "壹拾贰万叁仟肆佰伍拾陆元柒角捌分"),
            (10_000_000, "壹拾万元整"),
            (101_000, "壹仟零壹拾元整"),
            (10_005, "壹佰元零伍分"),
            (50, "伍角"),
            (1_030, "壹拾元叁角"),
            (10_500_000, "壹拾万伍仟元整"),
            (10_000_000_000, "壹亿元整"),
            (0, "零元整"),
            (1_000_500_000, "壹仟万零伍仟元整"),
            (20_000_010_000, "贰亿零壹佰元整"),
            (5, "伍分"),
            (100, "壹元整"),
            (1_000, "壹拾元整"),
            (1_500, "壹拾伍元整"),
            (105, "壹元零伍分"),
            (168_032, "壹仟陆佰捌拾元叁角贰分"),
            (10_700_053, "壹拾万柒仟元伍角叁分"),
            (100_050_000, "壹佰万零伍佰元整"),
            (10_500_000_000, "壹亿零伍佰万元整"),
            (105_000_000_000, "壹拾亿伍仟万元整"),
            (120_000_500_000, "壹拾贰亿零伍仟元整"),
            (100_000_010_000, "壹拾亿零壹佰元整"),
            (1_005_000_000_000, "壹佰亿零伍仟万元整"),
            (100_000_000_000_000, "壹万亿元整"),
            (123_456_789_012_345, "壹万贰仟叁佰肆拾伍亿陆仟柒佰捌拾玖万零壹佰贰拾叁元肆角伍分"),
            (1_001_000, "壹万零壹拾元整"),
            (39_600, "叁佰玖拾陆元整"),
            (60_000, "陆佰元整"),
            (2_000_000, "贰万元整"),
            (11_000_000, "壹拾壹万元整"),
            (-39_650, "负叁佰玖拾陆元伍角"),
            (-5, "负伍分"),
            (99_999_999_999, "玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ];
        for &(fen, words) in cases {
            assert_eq!(w(fen), words, "{}", Fen(fen));
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        assert!(w(i64::MAX).ends_with("柒分"));
        assert!(w(i64::MIN).starts_with('负'));
    }
}
