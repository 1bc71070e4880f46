//! Made-up but realistic people: names, ID numbers with valid birth dates and
//! check digits, UnionPay cards that pass Luhn and passbook accounts. A fixed-seed
//! generator (no OS randomness) so the example office is the same bytes every time.

use std::collections::BTreeSet;

use super::digits::{id_check, luhn_digit};

/// SplitMix64: tiny, well-mixed and, above all, seeded by us.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() as u64 - 1) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.range(0, 9) as u8)).collect()
    }
}

/// The county's townships and villages (乡镇, 村(社区)).
pub(crate) const PLACES: [(&str, &str); 12] = [
    ("城关镇", "城东社区"),
    ("城关镇", "城西社区"),
    ("城关镇", "南门村"),
    ("城关镇", "北山村"),
    ("东岭乡", "东岭村"),
    ("东岭乡", "上坑村"),
    ("东岭乡", "岭脚村"),
    ("东岭乡", "茶园村"),
    ("西河镇", "西河村"),
    ("西河镇", "下洋村"),
    ("西河镇", "溪口村"),
    ("西河镇", "石桥村"),
];

/// The county part of every ID number (a fictional county in 浙江 330xxx).
pub(crate) const COUNTY: &str = "330729";

const SURNAMES: [&str; 30] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "朱", "胡", "郭", "何", "林", "高", "郑",
    "叶", "应", "蒋", "楼", "金", "方", "潘", "施", "俞", "章", "钱",
];
const MALE: [&str; 24] = [
    "建", "国", "明", "华", "军", "伟", "强", "德", "福", "生", "荣", "根", "林", "海", "平", "志", "文", "兵", "东",
    "春", "忠", "良", "友", "金",
];
const FEMALE: [&str; 24] = [
    "秀", "英", "兰", "芳", "梅", "珍", "凤", "玉", "娟", "红", "美", "丽", "霞", "琴", "桂", "花", "月", "云", "萍",
    "燕", "素", "仙", "菊", "莲",
];

/// Card BINs of the banks with a branch in the county, and the branch names.
pub(crate) const CARD_BANKS: [(&str, &str); 4] = [
    ("622848", "中国农业银行示例县支行"),
    ("621700", "中国建设银行示例县支行"),
    ("622202", "中国工商银行示例县支行"),
    ("621098", "中国邮政储蓄银行示例县支行"),
];
/// Passbooks (存折, 一折通) are kept at the rural credit union.
pub(crate) const PASSBOOK_BANK: &str = "示例县农村信用合作联社";

/// One made-up person with an account.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub township: &'static str,
    pub village: &'static str,
    pub name: String,
    pub id: String,
    pub account: String,
    pub bank: &'static str,
}

impl Person {
    pub(crate) fn surname(&self) -> &str {
        self.name.get(..3).unwrap_or("")
    }
}

/// Hands out people with names, IDs and accounts never used before in the office.
pub(crate) struct Gen {
    pub rng: Rng,
    names: BTreeSet<String>,
    ids: BTreeSet<String>,
    accounts: BTreeSet<String>,
}

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        Gen { rng: Rng::new(seed), names: BTreeSet::new(), ids: BTreeSet::new(), accounts: BTreeSet::new() }
    }

    /// A two- or three-character name not yet used, avoiding `avoid_surname`.
    pub(crate) fn name(&mut self, female: bool, avoid_surname: &str) -> String {
        loop {
            let surname = *self.rng.pick(&SURNAMES);
            let chars: &[&str] = if female { &FEMALE } else { &MALE };
            let given: String = (0..self.rng.range(1, 2)).map(|_| *self.rng.pick(chars)).collect();
            let name = format!("{surname}{given}");
            if surname != avoid_surname && self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Reserves a name given by hand (so a generated one never repeats it).
    pub(crate) fn reserve_name(&mut self, name: &str) {
        self.names.insert(name.to_string());
    }

    /// A valid, unused 18-digit ID for someone born in `years`; odd sequence = male.
    pub(crate) fn id(&mut self, years: (u64, u64), female: bool) -> String {
        loop {
            let (y, m, d) = (self.rng.range(years.0, years.1), self.rng.range(1, 12), self.rng.range(1, 28));
            let seq = self.rng.range(0, 498) * 2 + u64::from(!female);
            let first17 = format!("{COUNTY}{y:04}{m:02}{d:02}{seq:03}");
            let id = format!("{first17}{}", id_check(&first17));
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// A 19-digit UnionPay card that passes Luhn, with its bank.
    pub(crate) fn card(&mut self) -> (String, &'static str) {
        let bank = self.rng.range(0, CARD_BANKS.len() as u64 - 1) as usize;
        self.card_of(bank)
    }

    /// A card of `CARD_BANKS[bank]`.
    pub(crate) fn card_of(&mut self, bank: usize) -> (String, &'static str) {
        loop {
            let (bin, bank) = CARD_BANKS[bank % CARD_BANKS.len()];
            let body = format!("{bin}{}", self.rng.digits(12));
            let card = format!("{body}{}", luhn_digit(&body));
            if self.accounts.insert(card.clone()) {
                return (card, bank);
            }
        }
    }

    /// An 18-digit passbook account at the credit union (not a card: no Luhn).
    pub(crate) fn passbook(&mut self) -> String {
        loop {
            let acct = format!("2010{}", self.rng.digits(14));
            if self.accounts.insert(acct.clone()) {
                return acct;
            }
        }
    }

    /// Someone living in `PLACES[place]`, born in `years`; one in six has a passbook.
    pub(crate) fn person(&mut self, place: usize, years: (u64, u64)) -> Person {
        self.person_as(place, years, None, "")
    }

    /// Like [`Gen::person`], with the sex fixed if `female` is given and a surname to avoid.
    pub(crate) fn person_as(
        &mut self,
        place: usize,
        years: (u64, u64),
        female: Option<bool>,
        avoid_surname: &str,
    ) -> Person {
        let coin = self.rng.range(0, 1) == 1;
        let female = female.unwrap_or(coin);
        let name = self.name(female, avoid_surname);
        let id = self.id(years, female);
        let (account, bank) = if self.rng.range(0, 5) == 0 { (self.passbook(), PASSBOOK_BANK) } else { self.card() };
        let (township, village) = PLACES[place % PLACES.len()];
        Person { township, village, name, id, account, bank }
    }
}

/// The same ID with a wrong check character (a mistyped last digit): V02.
pub(crate) fn break_id(id: &str) -> String {
    let (head, last) = id.split_at(17);
    let wrong = match last {
        "X" => '0',
        "9" => 'X',
        d => char::from_digit(d.parse::<u32>().unwrap_or(0) + 1, 10).unwrap_or('0'),
    };
    format!("{head}{wrong}")
}

/// The same card with its Luhn digit off by one: W01.
pub(crate) fn break_luhn(card: &str) -> String {
    let (head, last) = card.split_at(card.len() - 1);
    let d = last.parse::<u32>().unwrap_or(0);
    format!("{head}{}", (d + 1) % 10)
}
