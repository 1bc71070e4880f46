//! Check digits the example office must get right: ID numbers (ISO 7064 MOD 11-2,
//! via [`IdNumber::check_char`]), UnionPay cards (Luhn) and the office's unified
//! social credit code (GB 32100, whose 9-character organisation code carries its own
//! GB 11714 check). Computed, never typed by hand, so the example never lies.

use crate::domain::IdNumber;

/// The MOD 11-2 check character for the first 17 digits of an ID number.
pub(crate) fn id_check(first17: &str) -> char {
    IdNumber::check_char(first17.as_bytes())
}

pub(crate) use crate::domain::luhn_digit;

/// The 31 characters a unified social credit code may use (no I, O, Z, S, V).
const USCC_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The GB 32100 check character for the first 17 characters of a USCC, or `None`
/// if one of them is not allowed.
pub(crate) fn uscc_check(first17: &str) -> Option<char> {
    let mut weight = 1u32;
    let mut sum = 0u32;
    for c in first17.chars() {
        let v = USCC_CHARS.find(c)? as u32;
        sum += v * weight;
        weight = weight * 3 % 31;
    }
    USCC_CHARS.chars().nth(((31 - sum % 31) % 31) as usize)
}

/// True when an 18-character USCC carries the right GB 32100 check character.
pub fn uscc_ok(uscc: &str) -> bool {
    uscc.chars().count() == 18 && uscc.is_ascii() && uscc_check(&uscc[..17]) == uscc.chars().nth(17)
}

/// The GB 11714 check character of an 8-character organisation code body.
pub(crate) fn org_code_check(first8: &str) -> Option<char> {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let mut sum = 0;
    for (c, w) in first8.chars().zip(W) {
        sum += c.to_digit(36)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10)?,
    })
}

/// The example office's USCC: 1 (registered by 机构编制) 1 (机关), county code,
/// organisation code with its GB 11714 check, then the GB 32100 check.
pub(crate) fn example_uscc(county: &str, org8: &str) -> String {
    let org = format!("{org8}{}", org_code_check(org8).unwrap_or('0'));
    let first17 = format!("11{county}{org}");
    let check = uscc_check(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::luhn_ok;

    #[test]
    fn luhn_known_cards() {
        assert!(luhn_ok("6222081302002142160"));
        assert!(!luhn_ok("6221558812340000"));
        assert_eq!(luhn_digit("622208130200214216"), '0');
        assert!(luhn_ok("79927398713"));
    }

    #[test]
    fn uscc_known_codes() {
        // Published codes (GB 32100 examples seen on public licences).
        assert!(uscc_ok("91350100M000100Y43"));
        assert!(uscc_ok("914403001922038216"));
        assert!(!uscc_ok("914403001922038217"));
        let ours = example_uscc("330729", "00253117");
        assert!(uscc_ok(&ours), "{ours}");
        assert!(ours.starts_with("11330729"));
    }

    #[test]
    fn org_code_check_known() {
        // The organisation code inside 914403001922038216 is 19220382-1.
        assert_eq!(org_code_check("19220382"), Some('1'));
    }
}
