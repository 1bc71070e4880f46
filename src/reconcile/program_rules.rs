//! The rules a program's configuration sets (SPEC §9): ages (A01), standards by
//! age (A03), payee types and guardians (P01), institutions (P02), the funeral
//! grant (丧葬补助), check lists (比对名单: R03 / W03), and — with what the ledger
//! says — the annual cap (A02) and back pay for a month already paid (A04).
//!
//! Why here and as plain functions: every rule is a question about one row (or
//! one row and a number the pipeline read from the ledger), so each is tested
//! without files or a database, and the pipeline only decides when to ask.
//! Which rule holds what differs by place: the values are configuration
//! (`[programs.CODE]`), the built-in defaults are in `config::presets`.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use crate::domain::{Code, Fen, Field, LineType, PayeeType, Program};
use crate::validate::Checked;

/// One standard amount by age (`standards = [{ min_age = 80, amount = "100.00" }]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standard {
    pub min_age: u32,
    pub amount: Fen,
}

/// The rule keys of one program (all optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramRules {
    /// Age on the period's first day, from the ID number's birth date (A01).
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    /// A basic line's amount must equal the standard of the highest `min_age`
    /// the person has reached (A03). Sorted by `min_age`.
    pub standards: Vec<Standard>,
    /// Per person per calendar year, all lines of the program (A02).
    pub annual_cap: Option<Fen>,
    /// Programs one person may not be paid by together for one month (R02).
    pub exclusive_with: Vec<Program>,
    /// Payee types allowed (P01); `None`: any.
    pub payees: Option<Vec<PayeeType>>,
    /// A guardian may receive only for a beneficiary under 18 …
    pub guardian_only_for_minors: bool,
    /// … or one whose 类别 is one of these.
    pub guardian_categories: Vec<String>,
    /// `institutions` file configured: an `institution` payee must be one of
    /// these (name, account) (P02).
    pub institutions_file: Option<String>,
    /// A line of one of these 类别 must be paid to an institution (P02).
    pub institution_categories: Vec<String>,
    /// The funeral line equals this many months of the last amount (A03).
    pub funeral_months: Option<u32>,
}

/// The care institutions an `institution` payee must be one of (institutions.csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Institutions {
    /// Account (digits) → institution name.
    pub by_account: HashMap<String, String>,
}

/// A configured check list (比对名单) as loaded for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckList {
    pub name: String,
    /// Hold (R03) or warn (W03).
    pub hold: bool,
    /// Empty: every program.
    pub programs: Vec<Program>,
    /// ID key → (date, note) as listed.
    pub people: HashMap<u64, (Option<NaiveDate>, String)>,
}

/// What the per-row rules need besides the row.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    pub rules: &'a ProgramRules,
    pub institutions: Option<&'a Institutions>,
    /// The period's first day: ages are counted on it.
    pub period_start: NaiveDate,
    pub lists: &'a [CheckList],
    /// People on the stop list with reason death (ID key), for this program.
    pub dead: &'a std::collections::HashSet<u64>,
}

/// Age in whole years on `day` of someone born on `birth`.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// Applies the per-row rules to a checked row: A01, A03 (standards), P01, P02,
/// the funeral line's conditions, and the check lists. A row already held by
/// validation keeps its holds and gets no more (one reason at a time is what a
/// clerk can act on), except the check lists, which always speak.
pub fn check_row_rules(c: &mut Checked, cx: &RowContext<'_>) {
    check_lists(c, cx);
    let Some(line) = c.line.as_ref() else { return };
    let r = cx.rules;
    let age = age_on(line.id_number.birth_date(), cx.period_start);
    let line_type = line.kind.line_type;
    let mut holds: Vec<(Code, Field, String)> = Vec::new();
    if line_type == LineType::Funeral {
        // A funeral grant is for someone who died (SPEC §9), to somebody else.
        if !cx.dead.contains(&line.id_number.key()) {
            holds.push((
                Code::A03,
                Field::LineType,
                "丧葬补助只能发给停发名单中因死亡停发的人，此人不在其中：请先把死亡信息登记到停发名单".into(),
            ));
        }
        if line.payee_type == PayeeType::SelfPaid || line.payee_name == line.name {
            holds.push((
                Code::P01,
                Field::PayeeName,
                "丧葬补助不能发给已故本人：请填写领取人（家属）的姓名、账号和收款人类型".into(),
            ));
        }
    } else {
        let too_young = r.min_age.is_some_and(|m| age < m);
        let too_old = r.max_age.is_some_and(|m| age > m);
        if too_young || too_old {
            let bounds = match (r.min_age, r.max_age) {
                (Some(a), Some(b)) => format!("{a}至{b}周岁"),
                (Some(a), None) => format!("年满{a}周岁"),
                (None, Some(b)) => format!("不超过{b}周岁"),
                (None, None) => String::new(),
            };
            holds.push((
                Code::A01,
                Field::IdNumber,
                format!(
                    "按身份证号出生日期，此人在{}时{age}周岁，不符合本项目“{bounds}”的年龄条件：请核实身份证号或享受资格",
                    cx.period_start
                ),
            ));
        }
        if line_type == LineType::Basic && !too_young && !too_old {
            if let Some(s) = r.standards.iter().rev().find(|s| age >= s.min_age) {
                if line.amount != s.amount {
                    holds.push((
                        Code::A03,
                        Field::Amount,
                        format!(
                            "金额{}元与本项目{}周岁以上的标准{}元不符（此人{age}周岁）：请按标准核对金额",
                            line.amount, s.min_age, s.amount
                        ),
                    ));
                }
            }
        }
    }
    if let Some(allowed) = &r.payees {
        if !allowed.contains(&line.payee_type) {
            let names: Vec<&str> = allowed.iter().map(|p| payee_zh(*p)).collect();
            holds.push((
                Code::P01,
                Field::PayeeType,
                format!(
                    "本项目不能发给{}（收款人类型），只能发给：{}。请核实收款人",
                    payee_zh(line.payee_type),
                    names.join("、")
                ),
            ));
        }
    }
    if line.payee_type == PayeeType::Guardian
        && r.guardian_only_for_minors
        && age >= 18
        && !r.guardian_categories.iter().any(|c| c.as_str() == line.category.as_str())
    {
        let also = if r.guardian_categories.is_empty() {
            String::new()
        } else {
            format!("或类别为{}的人", r.guardian_categories.join("、"))
        };
        holds.push((
            Code::P01,
            Field::PayeeType,
            format!("此人已{age}周岁，本项目只能为未满18周岁{also}由监护人代领：请改为发给本人账户，或核实类别"),
        ));
    }
    if r.institution_categories.iter().any(|c| c.as_str() == line.category.as_str())
        && line.payee_type != PayeeType::Institution
    {
        holds.push((
            Code::P02,
            Field::PayeeType,
            format!("类别为“{}”的人应发到供养机构的集体账户，不能发到个人账户：请改为机构收款", line.category),
        ));
    }
    if let (PayeeType::Institution, Some(list)) = (line.payee_type, cx.institutions) {
        let known = list.by_account.get(line.account.as_str());
        if known.is_none_or(|name| name.as_str() != line.payee_name.as_str()) {
            holds.push((
                Code::P02,
                Field::Account,
                format!(
                    "收款机构“{}”及其账号不在本项目的供养机构名单中：只能发到名单上的机构账户，请核对账号或更新机构名单",
                    line.payee_name
                ),
            ));
        }
    }
    for (code, field, message) in holds {
        c.hold(code, field, message);
    }
}

/// R03 or W03: the person is on a configured check list for this program. The
/// message names the list (SPEC §9).
fn check_lists(c: &mut Checked, cx: &RowContext<'_>) {
    let Some(id) = c.id.as_ref().map(|i| i.key()) else { return };
    for list in cx.lists {
        if !list.programs.is_empty() && !list.programs.contains(&c.program) {
            continue;
        }
        let Some((date, note)) = list.people.get(&id) else { continue };
        // Listed from a date after the period's first day: as a stop, it counts
        // from the next period on (policy_rules §0: stops take effect next month).
        if date.is_some_and(|d| d > cx.period_start) {
            continue;
        }
        // The funeral grant is paid because of a death: a death list does not hold it.
        if list.hold && c.kind.line_type == LineType::Funeral {
            continue;
        }
        let when = date.map(|d| format!("，{d}")).unwrap_or_default();
        let note = if note.is_empty() { String::new() } else { format!("，{note}") };
        if list.hold {
            let msg = format!("此人在比对名单“{}”中{when}{note}，不予发放：请核实，如有误请更正比对名单", list.name);
            c.hold(Code::R03, Field::IdNumber, msg);
        } else {
            let msg = format!("此人在比对名单“{}”中{when}{note}：照常发放，请核实", list.name);
            c.hold(Code::W03, Field::IdNumber, msg);
        }
    }
}

/// How a clerk says a payee type.
pub fn payee_zh(p: PayeeType) -> &'static str {
    match p {
        PayeeType::SelfPaid => "本人",
        PayeeType::Guardian => "监护人",
        PayeeType::Caregiver => "照料人",
        PayeeType::Institution => "供养机构",
    }
}

/// A02: whether paying `amount` now takes the person over the annual cap, given
/// what the program already paid them this calendar year. Returns the message.
pub fn over_annual_cap(cap: Fen, already: Fen, amount: Fen, year: i32) -> Option<String> {
    (already.0 + amount.0 > cap.0).then(|| {
        format!("{year}年已发放{already}元，再发{amount}元将超过本项目每人每年{cap}元的上限，暂缓：请核实是否重复发放")
    })
}

/// A03 for a funeral line: the amount must equal `months` × the person's last
/// monthly amount. `last`: that amount, if the ledger has one.
pub fn funeral_amount_wrong(months: u32, last: Option<Fen>, amount: Fen) -> Option<String> {
    match last {
        None => Some("账本中找不到此人以往的发放金额，无法核定丧葬补助：请人工核定后单独处理".to_string()),
        Some(l) if Fen(l.0 * i64::from(months)) != amount => Some(format!(
            "丧葬补助应为{months}个月×最后月发放额{l}元＝{}元，名册为{amount}元：请按标准核对金额",
            Fen(l.0 * i64::from(months))
        )),
        Some(_) => None,
    }
}

/// A04's message: a back pay for a month the ledger shows paid.
pub fn back_pay_message(covers: crate::domain::Period) -> String {
    format!("补发所属期{covers}的基本待遇账本中已发放过，不能再补发：如为提标补差请填写项目类型“一次性”")
}

/// The type and covered month a [`super::Entry::kind`] stands for.
pub fn kind_of(key: u32) -> (Option<LineType>, Option<crate::domain::Period>) {
    let covers = key / 8;
    let period =
        (covers > 0).then(|| crate::domain::Period { year: ((covers - 1) / 12) as i32, month: (covers - 1) % 12 + 1 });
    (LineType::from_tag((key % 8) as u8), period)
}

/// A02 over one roster's entries (`start`: the run index of the first): in
/// roster order, a payable line that would take its person past `cap` for the
/// year, counting what the ledger paid this year (`paid`: ID key → amount) and
/// the lines before it in this run, is held.
pub fn hold_over_annual_cap(
    entries: &mut [super::Entry],
    start: usize,
    amount: &dyn Fn(usize) -> Fen,
    paid: &super::FastMap<u64, Fen>,
    cap: Fen,
    year: i32,
    found: &mut Vec<super::Finding>,
) {
    let mut this_run: super::FastMap<u64, Fen> = super::FastMap::default();
    for i in 0..entries.len() {
        let e = &entries[i];
        if !e.payable || e.id == 0 {
            continue;
        }
        let now = amount(start + i);
        let before = Fen(paid.get(&e.id).map_or(0, |f| f.0) + this_run.get(&e.id).map_or(0, |f| f.0));
        match over_annual_cap(cap, before, now, year) {
            Some(msg) => {
                entries[i].payable = false;
                found.push(super::Finding {
                    index: start + i,
                    code: Code::A02,
                    field: Field::Amount,
                    message: msg.into(),
                });
            }
            None => {
                this_run.entry(entries[i].id).or_insert(Fen(0)).0 += now.0;
            }
        }
    }
}

/// A04 over one roster's entries: a payable back pay whose person the ledger
/// shows paid a basic line for the month it covers (`paid_basic(month)`) is held.
pub fn hold_back_pay_already_paid(
    entries: &mut [super::Entry],
    start: usize,
    paid_basic: &mut dyn FnMut(crate::domain::Period) -> Option<std::sync::Arc<std::collections::HashSet<u64>>>,
    found: &mut Vec<super::Finding>,
) {
    for i in 0..entries.len() {
        let e = &entries[i];
        let (Some(LineType::BackPay), Some(covers)) = kind_of(e.kind) else { continue };
        if !e.payable || e.id == 0 {
            continue;
        }
        if paid_basic(covers).is_some_and(|s| s.contains(&e.id)) {
            entries[i].payable = false;
            let message = back_pay_message(covers).into();
            found.push(super::Finding { index: start + i, code: Code::A04, field: Field::Covers, message });
        }
    }
}

/// A03 over one roster's funeral lines: each must be `months` × the person's
/// last amount (`last(id key)`); without `months` configured no funeral line is paid.
pub fn hold_funeral_amounts(
    entries: &mut [super::Entry],
    start: usize,
    amount: &dyn Fn(usize) -> Fen,
    months: Option<u32>,
    last: &mut dyn FnMut(u64) -> Option<Fen>,
    found: &mut Vec<super::Finding>,
) {
    for i in 0..entries.len() {
        let e = &entries[i];
        if !e.payable || !super::is_funeral(e.kind) {
            continue;
        }
        let msg = match months {
            None => {
                Some("本项目没有配置丧葬补助月数（funeral_months），不能发放丧葬补助：请先在配置中设定".to_string())
            }
            Some(m) => funeral_amount_wrong(m, last(e.id), amount(start + i)),
        };
        if let Some(msg) = msg {
            entries[i].payable = false;
            found.push(super::Finding { index: start + i, code: Code::A03, field: Field::Amount, message: msg.into() });
        }
    }
}

#[cfg(test)]
mod tests;
