//! Validate: checks one roster row on its own (SPEC §3 V01–V06, W01) and turns it
//! into a payment line, or holds it with exceptions a clerk can act on.
//!
//! Nothing here looks at other rows: duplicates, stops and shared accounts are
//! the reconcile stage's business.

pub mod spill;

use rust_decimal::Decimal;

use crate::domain::{
    parse_amount, Account, AccountError, Cell, Code, EndToEndId, Exception, Fen, Field, IdError, IdNumber, Length,
    LineKind, LineType, PayeeType, PaymentLine, Period, Program, RosterRow, Text, TextRules,
};

/// One row after validation.
#[derive(Debug, Clone)]
pub struct Checked {
    pub program: Program,
    pub file: Text,
    pub row: u64,
    pub township: Text,
    pub village: Text,
    pub name: Text,
    /// The ID number if it is valid (reconcile keys people on it even when the
    /// line is held for another reason).
    pub id: Option<IdNumber>,
    /// The amount as written (0 when missing or not a number): what the approval covers.
    pub written_amount: Decimal,
    /// 项目类型 and 所属期 as read (basic when absent or unreadable: such a row is held).
    pub kind: LineKind,
    /// The line to pay, when nothing holds it.
    pub line: Option<PaymentLine>,
    /// Every hold and warning found, in field order.
    pub exceptions: Vec<Exception>,
}

impl Checked {
    /// True when the row is held (some exception has severity hold).
    pub fn is_held(&self) -> bool {
        self.line.is_none()
    }

    /// The ID number as masked text, for exceptions.
    pub fn id_masked(&self) -> String {
        self.id.as_ref().map(IdNumber::masked).unwrap_or_default()
    }

    /// Holds the line with `code` on `field`, unless already held.
    pub fn hold(&mut self, code: Code, field: Field, message: String) {
        let ex = self.exception(code, field.code(), message);
        self.exceptions.push(ex);
        if code.severity() == crate::domain::Severity::Hold {
            self.line = None;
        }
    }

    /// Builds an exception for this row.
    pub fn exception(&self, code: Code, field: &'static str, message: String) -> Exception {
        Exception {
            program: self.program,
            file: self.file.to_string(),
            row: self.row,
            field,
            code,
            name: self.name.to_string(),
            id_number_masked: self.id_masked(),
            message,
        }
    }
}

/// What validation needs to know about a program.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub cap: Fen,
    /// Limits of the program's bank format (V05).
    pub text: TextRules,
}

/// A row's cells and their trimmed texts, each field found once.
///
/// Why: the checks read most fields two or three times, and finding a cell and
/// trimming its text again each time was about a twentieth of reading a roster.
struct Cells<'a> {
    cells: [&'a Cell; Field::ALL.len()],
    texts: [&'a str; Field::ALL.len()],
}

impl<'a> Cells<'a> {
    fn of(row: &'a RosterRow) -> Cells<'a> {
        let cells = Field::ALL.map(|f| row.cell(f));
        Cells { cells, texts: cells.map(|c| c.as_text().trim()) }
    }

    /// As [`RosterRow::cell`].
    fn cell(&self, field: Field) -> &'a Cell {
        self.cells[field as usize]
    }

    /// As [`RosterRow::text`].
    fn text(&self, field: Field) -> &'a str {
        self.texts[field as usize]
    }
}

/// Checks one row.
pub fn check_row(row: &RosterRow, rules: &Rules) -> Checked {
    let cells = Cells::of(row);
    let mut c = Checked {
        program: row.program,
        file: row.pos.file.clone(),
        row: row.pos.row,
        township: Text::new(cells.text(Field::Township)),
        village: Text::new(cells.text(Field::Village)),
        name: Text::new(cells.text(Field::Name)),
        id: None,
        written_amount: Decimal::ZERO,
        kind: LineKind::BASIC,
        line: None,
        exceptions: Vec::new(),
    };
    let mut problems: Vec<(Code, Field, String)> = Vec::new();
    for field in Field::ALL.into_iter().filter(|f| f.required()) {
        if cells.text(field).is_empty() {
            problems.push((Code::V01, field, format!("必填项“{}”为空，请补全后重新报送", field_zh(field))));
        }
    }
    let id = check_id(&cells, &mut problems);
    c.id = id.clone();
    let account = check_account(&cells, &mut problems);
    let (amount, written) = check_amount(cells.cell(Field::Amount), rules.cap, &mut problems);
    c.written_amount = written;
    let payee_type = check_payee_type(&cells, &mut problems);
    let payee_name = match cells.text(Field::PayeeName) {
        "" => c.name.clone(),
        p => Text::new(p),
    };
    check_name(Field::Name, &c.name, rules.text, &mut problems);
    if payee_name != c.name {
        check_name(Field::PayeeName, &payee_name, rules.text, &mut problems);
    }
    if payee_type == Some(PayeeType::SelfPaid) && !c.name.is_empty() && payee_name != c.name {
        problems.push((
            Code::V06,
            Field::PayeeName,
            format!("收款人“{payee_name}”与享受人“{}”不一致，但收款人类型为本人：请核实，或填写收款人类型（监护人/照料人/机构）", c.name),
        ));
    }
    let household_size = check_household(&cells, &mut problems);
    c.kind = check_kind(&cells, &mut problems);
    let warn_luhn = account.as_ref().is_some_and(Account::is_card_failing_luhn);
    for (code, field, msg) in problems {
        c.exceptions.push(c.exception(code, field.code(), msg));
    }
    if warn_luhn {
        let msg = "银行卡号未通过校验位检查：照常发放，请核对卡号是否抄错".to_string();
        c.exceptions.push(c.exception(Code::W01, Field::Account.code(), msg));
    }
    if c.exceptions.iter().any(|e| e.severity() == crate::domain::Severity::Hold) {
        return c;
    }
    if let (Some(id), Some(account), Some(amount), Some(payee_type)) = (id, account, amount, payee_type) {
        c.line = Some(PaymentLine {
            program: row.program,
            end_to_end_id: EndToEndId(Text::default()),
            township: c.township.clone(),
            village: c.village.clone(),
            name: c.name.clone(),
            id_number: id,
            payee_name,
            payee_type,
            account,
            bank: Text::new(cells.text(Field::Bank)),
            amount,
            household_size,
            category: Text::new(cells.text(Field::Category)),
            note: Text::new(cells.text(Field::Note)),
            kind: c.kind,
            pos: row.pos.clone(),
        });
    }
    c
}

/// The Chinese column name a clerk knows.
pub fn field_zh(f: Field) -> &'static str {
    f.headers()[0]
}

type Problems = Vec<(Code, Field, String)>;

fn check_id(row: &Cells, problems: &mut Problems) -> Option<IdNumber> {
    let raw = row.text(Field::IdNumber);
    if raw.is_empty() {
        return None;
    }
    // An ID typed into a numeric cell keeps only 15 significant digits.
    if matches!(row.cell(Field::IdNumber), Cell::Number(n) if n.len() > 15 || n.contains(['e', 'E', '.'])) {
        problems.push((
            Code::V02,
            Field::IdNumber,
            "身份证号被表格软件当成数字（末几位已丢失），请把该列设为文本后重新录入".into(),
        ));
        return None;
    }
    IdNumber::parse(raw)
        .map_err(|e| {
            let msg = match e {
                IdError::Length(n) => format!("身份证号有{n}位，应为18位"),
                IdError::Float(_) => "身份证号被表格软件当成数字（末几位已丢失），请把该列设为文本后重新录入".into(),
                IdError::Legacy => "身份证号为15位旧号码，请换成18位新号码".into(),
                IdError::Characters => "身份证号含有非数字字符（只有最后一位可以是X）".into(),
                IdError::BirthDate(d) => format!("身份证号中的出生日期{d}不存在"),
                IdError::Check { .. } => "身份证号校验位不对，可能有数字录错，请与户口簿核对".into(),
            };
            problems.push((Code::V02, Field::IdNumber, msg));
        })
        .ok()
}

fn check_account(row: &Cells, problems: &mut Problems) -> Option<Account> {
    let raw = row.text(Field::Account);
    if raw.is_empty() {
        return None;
    }
    let raw = match row.cell(Field::Account) {
        // A number cell: the spreadsheet stored the account as a float. Even when
        // it looks intact, digits past the 15th are not trustworthy.
        Cell::Number(n) if n.len() > 15 || n.contains(['e', 'E', '.']) => {
            problems.push((Code::V03, Field::Account, msg_account(AccountError::Float(String::new()))));
            return None;
        }
        _ => raw,
    };
    Account::parse(raw).map_err(|e| problems.push((Code::V03, Field::Account, msg_account(e)))).ok()
}

fn msg_account(e: AccountError) -> String {
    match e {
        AccountError::Float(_) => "银行账号被表格软件改成了科学计数法（如6.22848E+18），真实数字已丢失：请把该列设为文本，按存折或银行卡重新录入".into(),
        AccountError::Characters => "银行账号只能是数字".into(),
        AccountError::Length(n) => format!("银行账号有{n}位，应为8到32位数字"),
    }
}

/// Checks the amount; returns the payable amount and the amount as written.
///
/// Decision on spreadsheet floats (documented in the README): a numeric cell is a
/// double, so `396` may arrive as `395.99999999999994`. A numeric cell within one
/// millionth of a yuan of a whole fen is taken as that fen (it is what Excel
/// shows); anything else with more than two decimals is V04. Text cells are taken
/// literally: `395.999` typed as text is V04.
fn check_amount(cell: &Cell, cap: Fen, problems: &mut Problems) -> (Option<Fen>, Decimal) {
    let raw = cell.as_text().trim();
    if raw.is_empty() {
        return (None, Decimal::ZERO);
    }
    let Ok(mut value) = parse_amount(raw) else {
        problems.push((Code::V04, Field::Amount, format!("金额“{raw}”不是数字")));
        return (None, Decimal::ZERO);
    };
    if matches!(cell, Cell::Number(_)) && value.scale() > 2 {
        let snapped = value.round_dp(2);
        if (snapped - value).abs() < Decimal::new(1, 6) {
            value = snapped;
        }
    }
    let fen = Fen::from_yuan(value);
    let msg = match fen {
        // Whole fen but too big for the ledger: say so, not "too many decimals".
        None if value.round_dp(2) == value => Some(format!("金额“{raw}”过大，超过本项目单笔上限{cap}元，请核实")),
        None => Some(format!("金额“{raw}”超过两位小数（精确到分）")),
        Some(f) if f.0 <= 0 => Some(format!("金额“{raw}”必须大于0")),
        Some(f) if f > cap => Some(format!("金额{}元超过本项目单笔上限{}元，请核实", f, cap)),
        Some(_) => None,
    };
    if let Some(m) = msg {
        problems.push((Code::V04, Field::Amount, m));
        return (None, value);
    }
    (fen, value)
}

fn check_payee_type(row: &Cells, problems: &mut Problems) -> Option<PayeeType> {
    let raw = row.text(Field::PayeeType);
    let t = PayeeType::parse(raw);
    if t.is_none() {
        problems.push((
            Code::V06,
            Field::PayeeType,
            format!("收款人类型“{raw}”无法识别，应为本人/监护人/照料人/机构（self/guardian/caregiver/institution）"),
        ));
    }
    t
}

/// 项目类型 and 所属期 (SPEC §9): an unknown type, or a back pay without the
/// month it makes up, is held (V01) — paid as basic it could pay a month twice.
/// Only a back pay keeps its `covers`.
fn check_kind(row: &Cells, problems: &mut Problems) -> LineKind {
    let raw = row.text(Field::LineType);
    let Some(line_type) = LineType::parse(raw) else {
        problems.push((
            Code::V01,
            Field::LineType,
            format!(
                "项目类型“{raw}”无法识别，应为基本/护理费/补发/一次性/丧葬补助（basic/care/back_pay/one_off/funeral）"
            ),
        ));
        return LineKind::BASIC;
    };
    if line_type != LineType::BackPay {
        return LineKind { line_type, covers: None };
    }
    let covers = row.text(Field::Covers);
    let month = covers.replace(['/', '.', '年'], "-").trim_end_matches('月').to_string();
    let month = match month.split_once('-') {
        Some((y, m)) if m.len() == 1 => format!("{y}-0{m}"),
        _ => month,
    };
    match month.parse::<Period>() {
        Ok(p) => LineKind { line_type, covers: Some(p) },
        Err(_) => {
            let msg = if covers.is_empty() {
                "补发必须填写所属期（补的是哪个月，如2026-09），否则无法防止同一个月发两次".to_string()
            } else {
                format!("所属期“{covers}”不是年月（如2026-09）")
            };
            problems.push((Code::V01, Field::Covers, msg));
            LineKind { line_type, covers: None }
        }
    }
}

/// The most people one line may count (保障人数).
pub const MAX_HOUSEHOLD: u32 = 9_999;

fn check_household(row: &Cells, problems: &mut Problems) -> Option<u32> {
    let raw = row.text(Field::HouseholdSize);
    if raw.is_empty() {
        return None;
    }
    let n = raw.strip_suffix(".0").unwrap_or(raw).trim_end_matches('人').parse::<u32>().ok().filter(|n| *n > 0);
    match n {
        None => problems.push((Code::V01, Field::HouseholdSize, format!("保障人数“{raw}”不是正整数"))),
        // A care home's line counts its residents; no line counts ten thousand
        // (and pass 1 keeps the number in two bytes a row).
        Some(n) if n > MAX_HOUSEHOLD => problems.push((
            Code::V01,
            Field::HouseholdSize,
            format!("保障人数“{raw}”过大（一行最多{MAX_HOUSEHOLD}人），请核实"),
        )),
        Some(_) => return n,
    }
    None
}

/// V05: a name must be letters of a person's or an institution's name, and fit
/// the bank file's encoding and length.
fn check_name(field: Field, name: &str, rules: TextRules, problems: &mut Problems) {
    if name.is_empty() {
        return;
    }
    let label = field_zh(field);
    if let Some(bad) = name.chars().find(|c| !name_char_ok(*c, field == Field::PayeeName)) {
        problems.push((Code::V05, field, format!("{label}“{name}”含有不应出现的字符“{}”", bad.escape_default())));
        return;
    }
    match rules.encoding.encoded_len(name) {
        Err(c) => problems.push((
            Code::V05,
            field,
            format!(
                "{label}中的“{c}”是生僻字，银行文件的{}编码无法表示：请与银行核对户名的写法，人工处理",
                rules.encoding.name()
            ),
        )),
        Ok(bytes) => {
            let too_long = match rules.name_max {
                Some(Length::Chars(n)) => name.chars().count() > n,
                Some(Length::Bytes(n)) => bytes > n,
                None => false,
            };
            if too_long {
                problems.push((
                    Code::V05,
                    field,
                    format!("{label}“{name}”超过银行文件允许的长度，不能截断，请人工处理"),
                ));
            }
        }
    }
}

fn name_char_ok(c: char, institution_allowed: bool) -> bool {
    let cjk = matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF | 0x3007);
    let sep = matches!(c, '·' | '•' | '・' | ' ' | '.');
    let institution = institution_allowed && matches!(c, '(' | ')' | '（' | '）' | '、' | '-' | '0'..='9');
    cjk || sep || c.is_ascii_alphabetic() || institution
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SourcePos, TextEncoding};

    /// `Cells` finds a field at its place in `Field::ALL`, and answers as the row does.
    #[test]
    fn cells_answer_as_the_row() {
        assert!(Field::ALL.iter().enumerate().all(|(i, f)| *f as usize == i));
        let mut cells = good();
        cells.push((Field::Note, Cell::Text("  补发 ".into())));
        let r = row(&cells);
        let c = Cells::of(&r);
        for f in Field::ALL {
            assert_eq!((c.cell(f), c.text(f)), (r.cell(f), r.text(f)), "{f:?}");
        }
    }

    fn row(cells: &[(Field, Cell)]) -> RosterRow {
        RosterRow { program: Program::Dibao, pos: SourcePos { file: "d.csv".into(), row: 2 }, cells: cells.to_vec() }
    }

    fn good() -> Vec<(Field, Cell)> {
        vec![
            (Field::Township, Cell::Text("城关镇".into())),
            (Field::Village, Cell::Text("东村".into())),
            (Field::Name, Cell::Text("张三".into())),
            (Field::IdNumber, Cell::Text("11010519491231002x".into())),
            (Field::Account, Cell::Text("6222081302002142160".into())),
            (Field::Amount, Cell::Text("¥396".into())),
        ]
    }

    fn rules(enc: TextEncoding) -> Rules {
        Rules { cap: Fen(300_000), text: TextRules { encoding: enc, name_max: None } }
    }

    fn codes(c: &Checked) -> Vec<Code> {
        c.exceptions.iter().map(|e| e.code).collect()
    }

    #[test]
    fn good_row_pays() {
        let c = check_row(&row(&good()), &rules(TextEncoding::Gbk));
        assert!(c.exceptions.is_empty(), "{:?}", c.exceptions);
        let line = c.line.unwrap();
        assert_eq!(line.amount, Fen(39600));
        assert_eq!(line.id_number.as_str(), "11010519491231002X");
    }

    /// 保障人数 is a positive whole number of people, at most [`MAX_HOUSEHOLD`]
    /// (what pass 1 keeps of it fits two bytes): anything else holds the line.
    #[test]
    fn household_size_is_a_count_of_people_within_bounds() {
        let size = |raw: &str| {
            let mut cells = good();
            cells.push((Field::HouseholdSize, Cell::Text(raw.into())));
            let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
            (c.line.as_ref().map(|l| l.household_size), codes(&c))
        };
        assert_eq!(size("3"), (Some(Some(3)), vec![]));
        assert_eq!(size("3人"), (Some(Some(3)), vec![]));
        assert_eq!(size("9999"), (Some(Some(9999)), vec![]));
        for bad in ["10000", "65536", "4294967295", "4294967296", "0", "-1", "2.5", "三"] {
            assert_eq!(size(bad), (None, vec![Code::V01]), "{bad}");
        }
    }

    #[test]
    fn excel_float_artefact_snaps_but_text_does_not() {
        let mut cells = good();
        cells[5] = (Field::Amount, Cell::Number("395.99999999999994".into()));
        let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
        assert_eq!(c.line.unwrap().amount, Fen(39600));
        cells[5] = (Field::Amount, Cell::Text("395.999".into()));
        let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
        assert_eq!(codes(&c), vec![Code::V04]);
        assert_eq!(c.written_amount, Decimal::new(395999, 3));
    }

    #[test]
    fn rare_character_is_v05_only_for_gbk() {
        let mut cells = good();
        cells[2] = (Field::Name, Cell::Text("李㐀".into()));
        assert_eq!(codes(&check_row(&row(&cells), &rules(TextEncoding::Gbk))), vec![Code::V05]);
        assert!(check_row(&row(&cells), &rules(TextEncoding::Utf8)).line.is_some());
    }

    #[test]
    fn float_account_and_id() {
        let mut cells = good();
        cells[3] = (Field::IdNumber, Cell::Number("110105194912310000".into()));
        cells[4] = (Field::Account, Cell::Text("6.22848E+18".into()));
        let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
        assert_eq!(codes(&c), vec![Code::V02, Code::V03]);
        assert!(c.exceptions[0].message.contains("末几位已丢失"));
        assert!(c.exceptions.iter().all(|e| !e.message.contains("110105194912310000")));
    }

    #[test]
    fn missing_and_mismatch() {
        let mut cells = good();
        cells[2] = (Field::Name, Cell::Empty);
        let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
        assert_eq!(codes(&c), vec![Code::V01]);
        let mut cells = good();
        cells.push((Field::PayeeName, Cell::Text("李四".into())));
        assert_eq!(codes(&check_row(&row(&cells), &rules(TextEncoding::Utf8))), vec![Code::V06]);
        cells.push((Field::PayeeType, Cell::Text("guardian".into())));
        assert!(check_row(&row(&cells), &rules(TextEncoding::Utf8)).line.is_some());
    }

    #[test]
    fn cap_and_non_positive() {
        for amt in ["3000.01", "0", "-5", "abc"] {
            let mut cells = good();
            cells[5] = (Field::Amount, Cell::Text(amt.into()));
            assert_eq!(codes(&check_row(&row(&cells), &rules(TextEncoding::Utf8))), vec![Code::V04], "{amt}");
        }
    }

    #[test]
    fn luhn_warns_but_pays() {
        let mut cells = good();
        cells[4] = (Field::Account, Cell::Text("6221558812340000".into()));
        let c = check_row(&row(&cells), &rules(TextEncoding::Utf8));
        assert_eq!(codes(&c), vec![Code::W01]);
        assert!(c.line.is_some());
    }
}
