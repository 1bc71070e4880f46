//! The example county's two months of rosters, as data. Every deliberate mistake
//! is planted here together with the code it must raise, so the expected
//! exception list comes from how the files were made, not from running a validator.

use crate::domain::{Code, Fen, Period, Program};

use super::people::{break_id, break_luhn, Gen, Person, PASSBOOK_BANK};

/// One data line of a roster, exactly as it will be written.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub township: &'static str,
    pub village: &'static str,
    pub name: String,
    pub id: String,
    pub account: String,
    pub bank: &'static str,
    /// The amount the approval total counts (the amount as written, parsed).
    pub amount: Fen,
    /// The amount as the clerk wrote it (`¥300`, `３００`, `6,800.00`…).
    pub amount_text: String,
    pub payee_name: String,
    /// As written in the roster (`self`, `本人`, `供养机构`…).
    pub payee_type: &'static str,
    pub household: Option<u32>,
    pub category: &'static str,
    pub note: String,
    /// The (field, code) pairs this line must raise.
    pub expect: Vec<(&'static str, Code)>,
}

impl Line {
    fn of(p: &Person, amount: Fen) -> Line {
        Line {
            township: p.township,
            village: p.village,
            name: p.name.clone(),
            id: p.id.clone(),
            account: p.account.clone(),
            bank: p.bank,
            amount,
            amount_text: amount.yuan_string(),
            payee_name: p.name.clone(),
            payee_type: "",
            household: None,
            category: "",
            note: String::new(),
            expect: Vec::new(),
        }
    }

    fn expect(mut self, field: &'static str, code: Code) -> Line {
        self.expect.push((field, code));
        self
    }

    fn note(mut self, note: impl Into<String>) -> Line {
        self.note = note.into();
        self
    }
}

/// One roster file of one program and period.
#[derive(Debug, Clone)]
pub(crate) struct Roster {
    pub program: Program,
    pub period: Period,
    /// Rows above the first data line (title and header).
    pub header_rows: u64,
    pub lines: Vec<Line>,
}

impl Roster {
    /// The file as the config names it, relative to the office folder.
    pub(crate) fn file(&self) -> String {
        let ext = if self.program == Program::Dibao { "xlsx" } else { "csv" };
        format!("rosters/{}/{}.{ext}", self.period, self.program.code())
    }

    /// The row a spreadsheet shows for line `i` (0-based).
    pub(crate) fn row(&self, i: usize) -> u64 {
        self.header_rows + i as u64 + 1
    }

    pub(crate) fn total(&self) -> Fen {
        self.lines.iter().map(|l| l.amount).sum()
    }
}

/// A stop-list entry: ID, reason, effective date.
pub(crate) type Stop = (String, &'static str, &'static str);

/// Everything the example office holds.
pub(crate) struct Office {
    pub rosters: Vec<Roster>,
    pub stops: Vec<Stop>,
    /// 殡葬火化数据 (a check list, SPEC §9): ID, cremation date, place.
    pub cremations: Vec<Stop>,
}

pub(crate) const OCT: Period = Period { year: 2026, month: 10 };
pub(crate) const NOV: Period = Period { year: 2026, month: 11 };

/// The institution 集中供养 people are paid through (one account for all of them).
pub(crate) const INSTITUTION: &str = "示例县中心敬老院";

fn fen(yuan: i64) -> Fen {
    Fen(yuan * 100)
}

/// Builds both months. The seed is fixed: same office every time.
pub(crate) fn build() -> Office {
    let mut g = Gen::new(0x2026_1011_D15B_0123);
    let dibao = Dibao::new(&mut g);
    let wubao = Wubao::new(&mut g, dibao.heads[Dibao::BOTH].clone());
    let youfu = Youfu::new(&mut g);
    let yiwubing = Yiwubing::new(&mut g);
    let yimin = Yimin::new(&mut g);
    let gaoling = Gaoling::new(&mut g);
    let mut rosters = Vec::new();
    for period in [OCT, NOV] {
        let nov = period == NOV;
        rosters.push(roster(Program::Dibao, period, 2, dibao.lines(nov)));
        rosters.push(roster(Program::Wubao, period, 1, wubao.lines(nov)));
        rosters.push(roster(Program::Youfu, period, 1, youfu.lines(nov)));
        rosters.push(roster(Program::Yiwubing, period, 1, yiwubing.lines(nov)));
        rosters.push(roster(Program::Yimin, period, 1, yimin.lines(nov)));
        rosters.push(roster(Program::Gaoling, period, 1, gaoling.lines(nov)));
    }
    // A 高龄 recipient cremated in October is still on November's roster: the
    // cremation list holds the line (R03) and names itself in the message.
    let cremations = vec![(gaoling.people[Gaoling::CREMATED].id.clone(), "2026-10-18", "示例县殡仪馆")];
    let stops = vec![
        (dibao.heads[Dibao::DEAD].id.clone(), "death", "2026-10-15"),
        (dibao.heads[Dibao::DROPPED].id.clone(), "cancelled", "2026-11-01"),
        (youfu.people[Youfu::FUTURE_STOP].id.clone(), "prison", "2026-12-01"),
    ];
    Office { rosters, stops, cremations }
}

fn roster(program: Program, period: Period, header_rows: u64, lines: Vec<Line>) -> Roster {
    Roster { program, period, header_rows, lines }
}

/// 低保: one line per household, paid to the household head.
struct Dibao {
    heads: Vec<Person>,
    /// (household size, October amount) per head.
    terms: Vec<(u32, Fen)>,
    new_heads: [Person; 2],
    new_card: (String, &'static str),
}

impl Dibao {
    const OCT_BAD_ID: usize = 3;
    const RARE_NAME: usize = 5;
    const DEAD: usize = 7;
    const RAISED: usize = 11;
    const OVER_CAP: usize = 15;
    const TWICE: usize = 19;
    const BOTH: usize = 23;
    const NO_NAME: usize = 27;
    const DROPPED: usize = 31;
    const NEW_CARD: usize = 35;

    fn new(g: &mut Gen) -> Dibao {
        g.reserve_name("刘䶮");
        let mut heads: Vec<Person> = (0..40).map(|i| g.person(i * 12 / 40, (1948, 1992))).collect();
        // 䶮 is outside GBK but fine in a UTF-8 pain.001 file: it must NOT be held.
        heads[Self::RARE_NAME].name = "刘䶮".to_string();
        let terms = (0..40)
            .map(|_| {
                let size = g.rng.range(1, 4) as u32;
                let per = g.rng.range(180, 640) as i64;
                let half = if g.rng.range(0, 3) == 0 { 50 } else { 0 };
                (size, Fen((i64::from(size) * per * 100 + half).min(290_000)))
            })
            .collect::<Vec<_>>();
        let new_heads = [g.person(2, (1960, 1990)), g.person(9, (1955, 1985))];
        let new_card = g.card();
        let mut d = Dibao { heads, terms, new_heads, new_card };
        d.terms[Self::RAISED] = (2, fen(620));
        d.terms[Self::OVER_CAP] = (5, fen(2900));
        d
    }

    fn line(p: &Person, size: u32, amount: Fen) -> Line {
        let mut l = Line::of(p, amount);
        l.household = Some(size);
        l
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, (p, &(size, amount))) in self.heads.iter().zip(&self.terms).enumerate() {
            let l = Self::line(p, size, amount);
            let l = match (nov, i) {
                (false, Self::OCT_BAD_ID) => Line { id: break_id(&p.id), ..l }.expect("id_number", Code::V02),
                (true, Self::DROPPED) => continue,
                (true, Self::DEAD) => l.expect("id_number", Code::R03),
                (true, Self::RAISED) => {
                    Self::line(p, 3, fen(860)).note("新生儿增加保障人口").expect("amount", Code::R06)
                }
                (true, Self::OVER_CAP) => {
                    Self::line(p, size, fen(3280)).note("含分类施保金").expect("amount", Code::V04)
                }
                (true, Self::TWICE) => l.expect("id_number", Code::R01),
                (true, Self::BOTH) => l.expect("id_number", Code::R02),
                (true, Self::NO_NAME) => Line { name: String::new(), ..l }.expect("name", Code::V01),
                (true, Self::NEW_CARD) => {
                    Line { account: self.new_card.0.clone(), bank: self.new_card.1, ..l }.note("2026年10月换卡")
                }
                _ => l,
            };
            out.push(l);
        }
        if nov {
            let [a, b] = &self.new_heads;
            out.push(Self::line(a, 2, Fen(71_050)).note("2026年11月新增"));
            let bad = Line { id: break_id(&b.id), ..Self::line(b, 1, fen(455)) };
            out.push(bad.note("2026年11月新增").expect("id_number", Code::V02));
            let (size, amount) = self.terms[Self::TWICE];
            out.push(Self::line(&self.heads[Self::TWICE], size, amount).expect("id_number", Code::R01));
        }
        out
    }
}

/// 特困 (五保): 集中供养 paid to the care home's one account, 分散供养 to the person.
struct Wubao {
    people: Vec<Person>,
    amounts: Vec<Fen>,
    home_account: String,
    /// A 低保 head newly found 特困 in November but left on the 低保 roster: R02.
    also_dibao: Person,
}

impl Wubao {
    const CENTRAL: [usize; 6] = [1, 5, 9, 13, 17, 21];
    const MANGLED: usize = 10;

    fn new(g: &mut Gen, also_dibao: Person) -> Wubao {
        let mut people: Vec<Person> = (0..25).map(|i| g.person(i * 12 / 25, (1936, 1962))).collect();
        let (card, bank) = g.card_of(0); // 农行: its mangled form is 6.22848E+18
        people[Self::MANGLED].account = card;
        people[Self::MANGLED].bank = bank;
        let amounts = (0..25)
            .map(|i| {
                if Self::CENTRAL.contains(&i) {
                    fen(1460)
                } else {
                    Fen(113_500 + [0, 10_500, 17_950][g.rng.range(0, 2) as usize])
                }
            })
            .collect();
        let home_account = g.passbook();
        Wubao { people, amounts, home_account, also_dibao }
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, (p, &amount)) in self.people.iter().zip(&self.amounts).enumerate() {
            let mut l = Line::of(p, amount);
            if Self::CENTRAL.contains(&i) {
                l.category = "集中供养";
                l.payee_name = INSTITUTION.to_string();
                l.payee_type = "供养机构";
                l.account = self.home_account.clone();
                l.bank = PASSBOOK_BANK;
            } else {
                l.category = "分散供养";
                l.payee_type = "本人";
            }
            if nov && i == Self::MANGLED {
                l.account = "6.22848E+18".to_string();
                l = l.expect("account", Code::V03);
            }
            out.push(l);
        }
        if nov {
            let mut l = Line::of(&self.also_dibao, Fen(113_500)).note("2026年11月新认定特困");
            l.category = "分散供养";
            l.payee_type = "本人";
            out.push(l.expect("id_number", Code::R02));
        }
        out
    }
}

/// 优抚: veterans and martyrs' families, a pension by category.
struct Youfu {
    people: Vec<Person>,
    categories: Vec<(&'static str, Fen)>,
}

impl Youfu {
    const BAD_LUHN: usize = 2;
    const PAYEE_TYPO: usize = 6;
    const SHARED_FROM: usize = 11;
    const SHARED_TO: usize = 12;
    const FUTURE_STOP: usize = 15;
    const CATEGORIES: [(&'static str, i64); 8] = [
        ("伤残军人(因战六级)", 241_500),
        ("伤残军人(因公八级)", 155_250),
        ("烈属定期抚恤", 231_000),
        ("病故军人遗属定期抚恤", 215_000),
        ("带病回乡退役军人", 80_650),
        ("在乡复员军人", 317_500),
        ("参战退役军人", 85_600),
        ("60周岁以上农村籍退役士兵", 12_300),
    ];

    fn new(g: &mut Gen) -> Youfu {
        let categories: Vec<(&'static str, Fen)> = (0..20)
            .map(|_| {
                let (c, f) = *g.rng.pick(&Self::CATEGORIES);
                (c, Fen(f))
            })
            .collect();
        let mut people: Vec<Person> = Vec::new();
        for (i, (category, _)) in categories.iter().enumerate() {
            let avoid = if i == Self::SHARED_TO { people[Self::SHARED_FROM].surname_owned() } else { String::new() };
            // Veterans themselves are men here; survivors (遗属, 烈属) are mostly widows.
            let female = if category.contains('属') { None } else { Some(false) };
            let years = if category.starts_with("60") { (1950, 1966) } else { (1938, 1975) };
            people.push(g.person_as(i * 12 / 20, years, female, &avoid));
        }
        let (card, bank) = g.card();
        people[Self::BAD_LUHN].account = break_luhn(&card);
        people[Self::BAD_LUHN].bank = bank;
        Youfu { people, categories }
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, (p, &(category, amount))) in self.people.iter().zip(&self.categories).enumerate() {
            let mut l = Line::of(p, amount);
            l.category = category;
            l.payee_type = "self";
            if i == Self::BAD_LUHN {
                l = l.expect("account", Code::W01);
            }
            if nov {
                match i {
                    Self::PAYEE_TYPO => {
                        l.payee_name = typo(&p.name);
                        l = l.expect("payee_name", Code::V06);
                    }
                    // Pasted from the row above: two strangers, one account.
                    Self::SHARED_FROM => l = l.expect("account", Code::R05),
                    Self::SHARED_TO => {
                        l.account = self.people[Self::SHARED_FROM].account.clone();
                        l.bank = self.people[Self::SHARED_FROM].bank;
                        l = l.expect("account", Code::R05);
                    }
                    _ => {}
                }
            }
            out.push(l);
        }
        out
    }
}

impl Person {
    fn surname_owned(&self) -> String {
        self.surname().to_string()
    }
}

/// A name with its last character written as a homophone (建华 → 建化): the kind
/// of slip between a roster and a bank card V06 catches.
fn typo(name: &str) -> String {
    const SOUNDS_ALIKE: [(char, char); 24] = [
        ('华', '化'),
        ('明', '铭'),
        ('国', '果'),
        ('军', '君'),
        ('伟', '玮'),
        ('强', '墙'),
        ('德', '得'),
        ('生', '升'),
        ('林', '琳'),
        ('海', '亥'),
        ('平', '萍'),
        ('东', '冬'),
        ('英', '瑛'),
        ('兰', '岚'),
        ('芳', '方'),
        ('梅', '玫'),
        ('珍', '真'),
        ('红', '宏'),
        ('丽', '莉'),
        ('霞', '侠'),
        ('云', '芸'),
        ('燕', '艳'),
        ('金', '今'),
        ('荣', '蓉'),
    ];
    let mut chars: Vec<char> = name.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = SOUNDS_ALIKE.iter().find(|(a, _)| a == last).map_or('生', |(_, b)| *b);
    }
    chars.into_iter().collect()
}

/// 义务兵优待金: the year's allowance in two halves (October, November).
struct Yiwubing {
    families: Vec<(Person, String, Fen)>,
    guardian: Person,
}

impl Yiwubing {
    const MINOR: usize = 5;

    fn new(g: &mut Gen) -> Yiwubing {
        let uplift = [fen(6800), fen(6800), fen(7820), fen(6800), fen(6800), fen(6800), fen(7480), fen(6800)];
        let families = (0..8)
            .map(|i| {
                let place = [0, 1, 3, 4, 6, 7, 9, 10][i];
                let head = if i == Self::MINOR { g.person(place, (2011, 2013)) } else { g.person(place, (1968, 1980)) };
                let soldier = g.name(false, "");
                let soldier = format!("{}{}", head.surname(), soldier.get(3..).unwrap_or(""));
                (head, soldier, uplift[i])
            })
            .collect::<Vec<(Person, String, Fen)>>();
        // The guardian (an uncle) shares the minor's surname.
        let surname = families[Self::MINOR].0.surname().to_string();
        let mut guardian = g.person_as(7, (1970, 1978), Some(false), "");
        let given = guardian.name.get(3..).unwrap_or("").to_string();
        guardian.name = format!("{surname}{given}");
        Yiwubing { families, guardian }
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let half = if nov { "第2次" } else { "第1次" };
        self.families
            .iter()
            .enumerate()
            .map(|(i, (p, soldier, amount))| {
                let mut l = Line::of(p, *amount);
                l.amount_text = thousands(*amount);
                l.payee_type = "本人";
                let merit = match amount.0 {
                    782_000 => "，荣立三等功上浮15%",
                    748_000 => "，获优秀士兵上浮10%",
                    _ => "",
                };
                l.note = format!("义务兵{soldier}2025年9月入伍{merit}；2026年度优待金{half}(共2次)");
                if i == Self::MINOR {
                    l.payee_name = self.guardian.name.clone();
                    l.payee_type = "监护人";
                    l.account = self.guardian.account.clone();
                    l.bank = self.guardian.bank;
                    l.note = format!("父母双亡，兄{soldier}2025年9月入伍，叔父代领；2026年度优待金{half}(共2次)");
                }
                l
            })
            .collect()
    }
}

/// `6,800.00`: how a spreadsheet shows money, thousands separated.
fn thousands(f: Fen) -> String {
    let s = f.yuan_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{frac}")
}

/// 水库移民直补: 600 a year, paid as two halves of 300, mostly to passbooks.
struct Yimin {
    people: Vec<Person>,
}

impl Yimin {
    const OCT_OVER_CAP: usize = 9;
    const WRITTEN: [&'static str; 5] = ["300.00", "¥300", "300元", "３００", "300"];

    fn new(g: &mut Gen) -> Yimin {
        let people = (0..20)
            .map(|i| {
                let mut p = g.person(4 + i * 8 / 20, (1945, 1985));
                if i % 3 != 0 && p.bank != PASSBOOK_BANK {
                    p.account = g.passbook();
                    p.bank = PASSBOOK_BANK;
                }
                p
            })
            .collect();
        Yimin { people }
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let half = if nov { "2026年下半年直补" } else { "2026年上半年直补" };
        self.people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut l = Line::of(p, fen(300)).note(half);
                l.amount_text = Self::WRITTEN[i % Self::WRITTEN.len()].to_string();
                if !nov && i == Self::OCT_OVER_CAP {
                    l.amount = fen(1200);
                    l.amount_text = "1,200.00".to_string();
                    l = l.note("含补发2024、2025年度").expect("amount", Code::V04);
                }
                l
            })
            .collect()
    }
}

/// 高龄津贴: by age on the month's first day (80–89: 100, 90–99: 200, 100 and
/// over: 500, the config's `standards`), to the person.
pub(crate) struct Gaoling {
    pub people: Vec<Person>,
}

impl Gaoling {
    /// Born in 1947: 79 in November 2026, under the program's 80 (A01).
    const TOO_YOUNG: usize = 3;
    /// Ninety-odd, written with the 80–89 amount (A03).
    const WRONG_STANDARD: usize = 6;
    /// On the cremation list from October (R03 in November).
    pub(crate) const CREMATED: usize = 8;

    fn new(g: &mut Gen) -> Gaoling {
        let people = (0..12)
            .map(|i| match i {
                Self::TOO_YOUNG => g.person(2, (1947, 1947)),
                Self::WRONG_STANDARD => g.person(5, (1929, 1933)),
                _ => g.person(i % 9, (1930, 1944)),
            })
            .collect();
        Gaoling { people }
    }

    /// The standard of the person's age on the period's first day.
    fn standard(p: &Person, period: Period) -> Fen {
        let birth = crate::domain::IdNumber::parse(&p.id).map(|id| id.birth_date()).ok();
        let age = birth.map_or(0, |b| crate::reconcile::program_rules::age_on(b, period.first_day()));
        fen(match age {
            100.. => 500,
            90..=99 => 200,
            _ => 100,
        })
    }

    fn lines(&self, nov: bool) -> Vec<Line> {
        let period = if nov { NOV } else { OCT };
        self.people
            .iter()
            .enumerate()
            .filter(|(i, _)| nov || *i != Self::TOO_YOUNG)
            .map(|(i, p)| {
                let l = Line::of(p, Self::standard(p, period));
                match i {
                    Self::TOO_YOUNG => l.expect("id_number", Code::A01).note("明年满80周岁"),
                    Self::WRONG_STANDARD if nov => {
                        let mut l = Line::of(p, fen(100)).expect("amount", Code::A03);
                        l.note = "按80周岁档填写".into();
                        l
                    }
                    Self::CREMATED if nov => l.expect("id_number", Code::R03),
                    _ => l,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups() {
        assert_eq!(thousands(fen(6800)), "6,800.00");
        assert_eq!(thousands(Fen(12_345_678)), "123,456.78");
        assert_eq!(thousands(fen(300)), "300.00");
    }

    #[test]
    fn planted_mistakes_are_where_planned() {
        let office = build();
        let nov_youfu = office.rosters.iter().find(|r| r.period == NOV && r.program == Program::Youfu).unwrap();
        let a = &nov_youfu.lines[Youfu::SHARED_FROM];
        let b = &nov_youfu.lines[Youfu::SHARED_TO];
        assert_eq!(a.account, b.account);
        assert_ne!(a.name.get(..3), b.name.get(..3), "R05 pair must not look like one household");
        assert_ne!(a.village, b.village);
        let nov_dibao = office.rosters.iter().find(|r| r.period == NOV && r.program == Program::Dibao).unwrap();
        assert_eq!(nov_dibao.lines.len(), 42);
        assert!(office.rosters.iter().all(|r| r.lines.iter().all(|l| l.amount.0 > 0)));
    }
}
