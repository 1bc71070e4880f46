//! Deterministic generators of realistic roster lines for large tests.

use disburse::domain::IdNumber;

/// A valid 18-digit ID number for person `n` (unique for n < 10^7).
pub fn id_number(n: u64) -> String {
    let region = 1000 + (n / 1000) % 9000;
    let birth = format!("{:04}{:02}{:02}", 1940 + n % 60, 1 + n / 60 % 12, 1 + n % 28);
    let first17 = format!("33{region:04}{birth}{:03}", n % 1000);
    let check = IdNumber::check_char(first17.as_bytes());
    format!("{first17}{check}")
}

/// A 19-digit UnionPay card number that passes Luhn, unique per n.
pub fn card(n: u64) -> String {
    let body = format!("622848{:012}", n);
    let mut sum = 0;
    for (i, b) in body.bytes().rev().enumerate() {
        let d = (b - b'0') as u32;
        sum += if i % 2 == 0 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡"];
const GIVEN: &[&str] =
    &["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超"];
const TOWNS: &[&str] = &["城关镇", "东岭乡", "西河镇"];

/// A Chinese name for person n.
pub fn name(n: u64) -> String {
    format!("{}{}", SURNAMES[(n % 15) as usize], GIVEN[(n / 15 % 18) as usize])
}

/// (township, village) for person n.
pub fn place(n: u64) -> (&'static str, String) {
    let t = TOWNS[(n % 3) as usize];
    (t, format!("{}村", ["东", "西", "南", "北"][(n / 3 % 4) as usize]))
}

/// A UTF-8 roster CSV of `count` valid lines starting at person `from`, with its
/// exact total in fen.
pub fn roster_csv(from: u64, count: u64) -> (String, i64) {
    let mut s = String::from("乡镇,村(社区),姓名,身份证号,银行账号,金额\n");
    let mut total = 0i64;
    for n in from..from + count {
        let (t, v) = place(n);
        let fen = 30_000 + (n % 500) as i64 * 100 + (n % 7) as i64;
        total += fen;
        s += &format!("{t},{v},{},{},{},{}.{:02}\n", name(n), id_number(n), card(n), fen / 100, fen % 100);
    }
    (s, total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_numbers_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..5_000 {
            let id = super::id_number(n);
            assert!(disburse::domain::IdNumber::parse(&id).is_ok(), "{id}");
            assert!(seen.insert(id));
            let c = disburse::domain::Account::parse(&super::card(n)).unwrap();
            assert!(!c.is_card_failing_luhn());
        }
    }
}
