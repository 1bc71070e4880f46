//! Finding the header row of a roster and mapping its columns to fields.
//!
//! Why a search: real rosters start with a title (示例县2026年11月低保发放名册),
//! sometimes a date or a unit line, and only then the header. The header is the
//! first row that names every required field; everything above it is skipped.

use crate::domain::{file_text, Cell, Field, Program, RosterRow, SourcePos, Text};

use super::footer::footer_kind;
pub(super) use super::normalise::normalise;
use super::{accepted_names, column_letter, IngestError, SkippedRow};

/// How many non-blank rows may come before the header.
pub(super) const SEARCH_ROWS: u64 = 20;

/// The roster field a header cell names, if any. Beyond [`normalise`], the marks
/// templates add are dropped: `*` for a required column and a `(元)` unit, so
/// `*金额（元）` is the amount.
pub(super) fn field_of(header: &str) -> Option<Field> {
    let h = normalise(header);
    let h = h.trim_matches('*');
    let h = h.strip_suffix("(元)").unwrap_or(h);
    Field::ALL.into_iter().find(|f| f.headers().contains(&h))
}

/// The header's verdict: which column holds which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Columns {
    /// (0-based column index, field), one entry per recognised column.
    pub(super) map: Vec<(usize, Field)>,
    /// The roster's name as every row carries it.
    file: Text,
}

impl Columns {
    /// What the physical row `row` is. `width` is how many cells it has;
    /// `cell_at` gives any of them (blank past the end).
    ///
    /// Blank when every field's cell is blank (a blank row, or one that only
    /// numbers an empty line in an unknown column such as 序号: neither carries
    /// anything to pay); a footer when it is a total or sign-off row without an ID
    /// number ([`footer_kind`]); else data.
    pub(super) fn row(&self, program: Program, row: u64, width: usize, cell_at: impl Fn(usize) -> Cell) -> RowKind {
        let cells: Vec<(Field, Cell)> = self.map.iter().map(|(i, f)| (*f, cell_at(*i))).collect();
        let first = (0..width).map(&cell_at).find(|c| !c.is_blank());
        let id = cells.iter().find(|(f, _)| *f == Field::IdNumber).map_or("", |(_, c)| c.as_text());
        if let Some(kind) = first.as_ref().and_then(|c| footer_kind(c.as_text(), id)) {
            let text: String = first.as_ref().map_or("", |c| c.as_text()).trim().chars().take(40).collect();
            return RowKind::Footer(SkippedRow { row, kind, text: crate::domain::mask_numbers(&text).into_owned() });
        }
        if cells.iter().all(|(_, c)| c.is_blank()) {
            return RowKind::Blank;
        }
        RowKind::Data(RosterRow { program, pos: SourcePos { file: self.file.clone(), row }, cells })
    }
}

/// A row of the roster after its header, as [`Columns::row`] sorts it.
#[derive(Debug)]
pub(super) enum RowKind {
    Data(RosterRow),
    Blank,
    /// A total or sign-off row: not a person, not counted, reported as skipped.
    Footer(SkippedRow),
}

/// Looks for the header row among the first rows of a roster.
pub(super) struct HeaderSearch<'a> {
    display: &'a str,
    rows_seen: u64,
    /// The row that came closest (most required fields named), for the message.
    best: Option<(usize, u64, Vec<Field>)>,
    /// The last non-blank row offered: the upper half of a two-row header
    /// when the next row completes it.
    upper: Vec<String>,
}

impl<'a> HeaderSearch<'a> {
    pub(super) fn new(display: &'a str) -> Self {
        HeaderSearch { display, rows_seen: 0, best: None, upper: Vec::new() }
    }

    /// Offers the row at physical `row`. `Ok(Some)` when it is the header (alone,
    /// or as the lower half of a two-row header, see [`merge_two_rows`]);
    /// `Err` when it is the header but unusable, or when the search is over.
    pub(super) fn offer<'c>(
        &mut self,
        row: u64,
        cells: impl Iterator<Item = &'c str>,
    ) -> Result<Option<Columns>, IngestError> {
        let lower: Vec<String> = cells.map(str::to_string).collect();
        let upper = std::mem::replace(&mut self.upper, lower.clone());
        self.rows_seen += 1;
        let named = named_fields(&lower);
        let missing = missing_of(&named);
        if missing.is_empty() {
            return self.columns(row, &named).map(Some);
        }
        if !upper.is_empty() {
            let merged = merge_two_rows(&upper, &lower);
            let both = named_fields(&merged);
            // The upper row must add a required field the lower one lacks: a
            // title line above a header that is simply incomplete stays an error.
            if missing_of(&both).is_empty() && named_fields(&upper).iter().any(|(_, f, _)| missing.contains(f)) {
                return self.columns(row, &both).map(Some);
            }
        }
        let found = named.len();
        if found > 0 && self.best.as_ref().is_none_or(|(n, _, _)| found > *n) {
            self.best = Some((found, row, missing));
        }
        if self.rows_seen >= SEARCH_ROWS {
            return Err(self.give_up());
        }
        Ok(None)
    }

    /// The error for a roster that ended before its header: empty when it had
    /// no non-blank row at all.
    pub(super) fn end_of_file(&self) -> IngestError {
        if self.rows_seen == 0 {
            return IngestError::Empty { file: self.display.to_string(), what: crate::lang::pick("名册", "roster") };
        }
        self.give_up()
    }

    /// The error for a roster whose header was never found.
    pub(super) fn give_up(&self) -> IngestError {
        let file = self.display.to_string();
        match &self.best {
            Some((found, row, missing)) if *found >= 2 => IngestError::MissingColumns {
                file,
                row: *row,
                missing: missing.iter().map(|f| describe(*f)).collect::<Vec<_>>().join(", "),
                accepted: crate::tr!("可用的列名：{}", "accepted names: {}", accepted_list(missing)),
            },
            _ => IngestError::NoHeader {
                file,
                searched: SEARCH_ROWS,
                needs: crate::tr!(
                    "名册需要这几列：乡镇、村(社区)、姓名、身份证号、银行账号、金额（英文列名 township、village、name、\
                     id_number、account、amount 也可以）",
                    "the roster needs columns 乡镇, 村(社区), 姓名, 身份证号, 银行账号, 金额 (or their English names \
                     township, village, name, id_number, account, amount)"
                ),
            },
        }
    }

    fn columns(&self, row: u64, named: &[(usize, Field, String)]) -> Result<Columns, IngestError> {
        for (k, (i, f, text)) in named.iter().enumerate() {
            if let Some((j, _, other)) = named[..k].iter().find(|(_, g, _)| g == f) {
                return Err(IngestError::DuplicateColumn {
                    file: self.display.to_string(),
                    row,
                    field: describe(*f),
                    first: format!("{} '{}'", column_letter(*j), other.trim()),
                    second: format!("{} '{}'", column_letter(*i), text.trim()),
                });
            }
        }
        Ok(Columns { map: named.iter().map(|(i, f, _)| (*i, *f)).collect(), file: file_text(self.display) })
    }
}

/// The recognised columns of a header row: (index, field, the cell's text).
fn named_fields(cells: &[String]) -> Vec<(usize, Field, String)> {
    cells.iter().enumerate().filter_map(|(i, c)| field_of(c).map(|f| (i, f, c.clone()))).collect()
}

fn missing_of(named: &[(usize, Field, String)]) -> Vec<Field> {
    Field::ALL.into_iter().filter(|f| f.required() && !named.iter().any(|(_, g, _)| g == f)).collect()
}

/// One header out of two rows, column by column: the lower row's name where it
/// names a field (银行账号 under a merged 收款信息), else the upper row's (序号,
/// 姓名 merged down over both rows, whose lower cell is empty), else both
/// together (身份证 above 号码).
fn merge_two_rows(upper: &[String], lower: &[String]) -> Vec<String> {
    let cell = |v: &[String], i: usize| v.get(i).map_or(String::new(), |s| s.trim().to_string());
    (0..upper.len().max(lower.len()))
        .map(|i| {
            let (u, l) = (cell(upper, i), cell(lower, i));
            if field_of(&l).is_some() {
                l
            } else if field_of(&u).is_some() && (l.is_empty() || field_of(&format!("{u}{l}")).is_none()) {
                u
            } else {
                format!("{u}{l}")
            }
        })
        .collect()
}

fn accepted_list(missing: &[Field]) -> String {
    missing.iter().map(|f| accepted_names(*f)).collect::<Vec<_>>().join("; ")
}

/// `金额 (amount)`: the Chinese name a clerk uses, with the code exceptions use.
fn describe(f: Field) -> String {
    format!("{} ({})", f.headers()[0], f.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spaces_width_and_case() {
        assert_eq!(field_of("村（社区）"), Some(Field::Village));
        assert_eq!(field_of(" 身 份\u{3000}证号 "), Some(Field::IdNumber));
        assert_eq!(field_of("ａｍｏｕｎｔ"), Some(Field::Amount));
        assert_eq!(field_of("Payee_Name"), Some(Field::PayeeName));
        assert_eq!(field_of("\u{FEFF}乡镇"), Some(Field::Township));
        assert_eq!(field_of("*金额（元）"), Some(Field::Amount));
        assert_eq!(field_of("身份证\n号码"), Some(Field::IdNumber));
        assert_eq!(field_of("序号"), None);
        assert_eq!(field_of("金额合计"), None);
    }

    #[test]
    fn header_found_after_title_and_duplicates_refused() {
        let mut s = HeaderSearch::new("r.csv");
        assert_eq!(s.offer(1, ["示例县2026年11月低保发放名册"].into_iter()).unwrap(), None);
        let header = ["序号", "乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "金额"];
        let cols = s.offer(2, header.into_iter()).unwrap().unwrap();
        assert_eq!(cols.map[0], (1, Field::Township));
        assert_eq!(cols.map.len(), 6);

        let mut s = HeaderSearch::new("r.csv");
        let dup = ["乡镇", "村居", "姓名", "身份证号", "银行账号", "金额", "享受人"];
        let err = s.offer(1, dup.into_iter()).unwrap_err().to_string();
        assert!(err.contains("C '姓名'") && err.contains("G '享受人'"), "{err}");
    }

    #[test]
    fn two_row_headers_are_read() {
        // 收款信息 merged over 银行账号 and 开户行; 序号, 乡镇 … merged down.
        let mut s = HeaderSearch::new("r.xlsx");
        assert_eq!(s.offer(1, ["某县2026年11月城乡低保发放名册"].into_iter()).unwrap(), None);
        let upper = ["序号", "乡镇", "村(社区)", "姓名", "身份证号", "收款信息", "", "金额"];
        assert_eq!(s.offer(2, upper.into_iter()).unwrap(), None);
        let lower = ["", "", "", "", "", "银行账号", "开户行", ""];
        let cols = s.offer(3, lower.into_iter()).unwrap().unwrap();
        let fields: Vec<Field> = cols.map.iter().map(|(_, f)| *f).collect();
        use Field::*;
        assert_eq!(fields, [Township, Village, Name, IdNumber, Account, Bank, Amount]);
        assert_eq!(cols.map[4].0, 5);

        // A group title over the person and one over the money; 身份证 above 号码.
        let mut s = HeaderSearch::new("r.csv");
        let upper = ["序号", "户主信息", "", "", "", "发放信息", "", ""];
        assert_eq!(s.offer(4, upper.into_iter()).unwrap(), None);
        let lower = ["", "乡镇", "村居", "姓名", "身份证", "卡号", "金额（元）", "备注"];
        // 身份证 alone names nothing: the row is still not a header, and no
        // upper cell supplies the ID column.
        assert!(s.offer(5, lower.into_iter()).unwrap().is_none());

        let mut s = HeaderSearch::new("r.csv");
        let upper = ["乡镇", "村居", "姓名", "身份证", "发放信息", ""];
        assert_eq!(s.offer(1, upper.into_iter()).unwrap(), None);
        let lower = ["", "", "", "号码", "账号", "金额"];
        let cols = s.offer(2, lower.into_iter()).unwrap().unwrap();
        assert_eq!(cols.map.len(), 6);
        assert_eq!(cols.map[3], (3, Field::IdNumber));
    }

    #[test]
    fn total_and_sign_off_rows_are_footers_but_people_never() {
        let mut s = HeaderSearch::new("r.csv");
        let header = ["序号", "乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "金额"];
        let cols = s.offer(1, header.into_iter()).unwrap().unwrap();
        let kind = |cells: &[&str]| {
            let cells: Vec<Cell> = cells.iter().map(|c| Cell::Text(Text::new(*c))).collect();
            let program: Program = "dibao".parse().unwrap();
            match cols.row(program, 9, cells.len(), |i| cells.get(i).cloned().unwrap_or(Cell::Empty)) {
                RowKind::Data(_) => "data",
                RowKind::Blank => "blank",
                RowKind::Footer(f) => f.kind.chinese(),
            }
        };
        assert_eq!(kind(&["合计", "", "", "", "", "", "1200.00"]), "合计行");
        assert_eq!(kind(&["", "", "", "合 计", "", "", "1200.00"]), "合计行");
        assert_eq!(kind(&["制表人：张三", "", "审核人：李四", "", "", "", ""]), "落款行");
        assert_eq!(kind(&["", "", "", "", "", "", "", "日期：2026-11-20"]), "落款行");
        assert_eq!(kind(&["合计", "城关镇", "东村", "张三", "11010519491231002X", "6222", "396"]), "data");
        assert_eq!(kind(&["1", "城关镇", "东村", "张三", "", "6222", "396"]), "data");
        assert_eq!(kind(&["3", "", "", "", "", "", ""]), "blank");
    }
}
