//! Rows that offices put into a roster without being people: total rows
//! (合计, 小计, 总计) and sign-off rows (制表人：, 审核人：, 负责人：, 填报单位：,
//! 日期：…), mostly at the bottom, sometimes between townships.
//!
//! Why they are recognised rather than held: held, such a row counts against the
//! approval (R07 compares every data line), so one 合计 row at the bottom
//! refused a whole program. A row is taken for one only when it carries no ID
//! number: whatever its first cell says, a row with an ID number is a person.

/// Words a total row starts with (after spaces are removed: `合 计` is `合计`).
const TOTAL_WORDS: &[&str] =
    &["合计", "小计", "总计", "共计", "累计", "本页合计", "本页小计", "全县合计", "全乡合计", "total", "subtotal"];

/// Words a sign-off or footnote row starts with.
const SIGN_OFF_WORDS: &[&str] = &[
    "制表",
    "填表",
    "填报",
    "审核",
    "复核",
    "审批",
    "审定",
    "负责人",
    "单位负责人",
    "主要负责人",
    "分管领导",
    "主管领导",
    "领导签字",
    "经办",
    "会计",
    "出纳",
    "日期",
    "报送日期",
    "盖章",
    "单位盖章",
    "单位(盖章)",
    "签字",
    "签名",
    "说明:",
    "注:",
    "备注:",
];

/// What kind of non-person row this is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterKind {
    /// 合计, 小计, 总计 …
    Total,
    /// 制表人, 审核人, 日期 …
    SignOff,
}

impl FooterKind {
    /// How the summary names it.
    pub fn chinese(self) -> &'static str {
        match self {
            FooterKind::Total => "合计行",
            FooterKind::SignOff => "落款行",
        }
    }
}

/// Whether a row whose first non-blank cell is `first` and whose ID cell is
/// `id_cell` is a total or sign-off row rather than a person.
pub(super) fn footer_kind(first: &str, id_cell: &str) -> Option<FooterKind> {
    if has_id_number(id_cell) {
        return None;
    }
    let text = super::normalise::normalise(first);
    let text = text.trim_start_matches(|c: char| !c.is_alphanumeric() && !is_cjk(c));
    if TOTAL_WORDS.iter().any(|w| text.starts_with(w)) {
        return Some(FooterKind::Total);
    }
    if SIGN_OFF_WORDS.iter().any(|w| text.starts_with(w)) || is_date(text) {
        return Some(FooterKind::SignOff);
    }
    None
}

/// A date line under the signatures: `2026年11月20日`, `2026-11-20`,
/// `2026.11.20`, `2026/11/20` (a year, then a separator).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && (text[4..].starts_with('年') || b"-./".contains(&b[4]))
}

/// An ID cell that holds something like an ID number: eight digits or more (a
/// truncated or mistyped one still has them), unless it is an amount with
/// decimals (a 合计 row's sum in the wrong column); a number a spreadsheet
/// turned into `1.10105E+17` still counts. Such a row is a person, held if broken.
fn has_id_number(cell: &str) -> bool {
    let digits = cell.chars().filter(|c| c.is_ascii_digit() || ('０'..='９').contains(c)).count();
    let amount = cell.contains('.') && !cell.contains(['E', 'e']);
    digits >= 8 && !amount
}

fn is_cjk(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_sign_offs_without_id_are_recognised() {
        for t in ["合计", "合 计", "小计：城关镇", "总计", "本页合计", "【合计】", "Total", "共计105户"]
        {
            assert_eq!(footer_kind(t, ""), Some(FooterKind::Total), "{t}");
        }
        for t in [
            "制表人：张三",
            "制表：",
            "审核人:李四",
            "负责人：",
            "填报单位：城关镇人民政府",
            "日期：2026年11月20日",
            "单位负责人：王五",
            "经办人：",
            "填表人",
            "（盖章）",
            "说明：本表一式三份",
        ] {
            assert_eq!(footer_kind(t, ""), Some(FooterKind::SignOff), "{t}");
        }
        assert_eq!(footer_kind("制表人：张三", "—"), Some(FooterKind::SignOff));
        assert_eq!(footer_kind("合计", "105人"), Some(FooterKind::Total));
        assert_eq!(footer_kind("合计", "52300.00"), Some(FooterKind::Total), "a sum in the ID column");
        for t in ["2026年11月20日", "2026-11-20", "2026.11.20", "单位（盖章）：", "主管领导："] {
            assert_eq!(footer_kind(t, ""), Some(FooterKind::SignOff), "{t}");
        }
    }

    #[test]
    fn a_row_with_an_id_number_or_a_plain_first_cell_is_a_person() {
        assert_eq!(footer_kind("合计", "11010519491231002X"), None);
        assert_eq!(footer_kind("日期", "110105194912"), None, "a cut ID is still an ID");
        assert_eq!(footer_kind("合计", "1.10105E+17"), None, "an ID a spreadsheet mangled");
        assert_eq!(footer_kind("2026", ""), None);
        assert_eq!(footer_kind("20261120", ""), None);
        assert_eq!(footer_kind("1", ""), None);
        assert_eq!(footer_kind("城关镇", ""), None);
        assert_eq!(footer_kind("张合计", ""), None);
    }
}
