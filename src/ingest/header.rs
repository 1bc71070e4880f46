//! Finding the header row of a roster and mapping its columns to fields.
//!
//! Why a search: real rosters start with a title (示例县2026年11月低保发放名册),
//! sometimes a date or a unit line, and only then the header. The header is the
//! first row that names every required field; everything above it is skipped.

use crate::domain::{file_text, Cell, Field, Program, RosterRow, SourcePos, Text};

use super::{accepted_names, column_letter, IngestError};

/// How many non-blank rows may come before the header.
pub(super) const SEARCH_ROWS: u64 = 20;

/// Normalises a header the way `Field::headers()` lists them: no spaces (also
/// full-width U+3000 and a stray BOM), full-width forms to half-width, ASCII lower-case.
pub(super) fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{FEFF}' && *c != '\u{200B}')
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

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
    /// The data row at physical `row`, or `None` when every field's cell is blank
    /// (a blank row, or one that only numbers an empty line in an unknown column
    /// such as 序号: neither carries anything to pay).
    pub(super) fn row(&self, program: Program, row: u64, cell_at: impl Fn(usize) -> Cell) -> Option<RosterRow> {
        let cells: Vec<(Field, Cell)> = self.map.iter().map(|(i, f)| (*f, cell_at(*i))).collect();
        if cells.iter().all(|(_, c)| c.is_blank()) {
            return None;
        }
        Some(RosterRow { program, pos: SourcePos { file: self.file.clone(), row }, cells })
    }
}

/// Looks for the header row among the first rows of a roster.
pub(super) struct HeaderSearch<'a> {
    display: &'a str,
    rows_seen: u64,
    /// The row that came closest (most required fields named), for the message.
    best: Option<(usize, u64, Vec<Field>)>,
}

impl<'a> HeaderSearch<'a> {
    pub(super) fn new(display: &'a str) -> Self {
        HeaderSearch { display, rows_seen: 0, best: None }
    }

    /// Offers the row at physical `row`. `Ok(Some)` when it is the header;
    /// `Err` when it is the header but unusable, or when the search is over.
    pub(super) fn offer<'c>(
        &mut self,
        row: u64,
        cells: impl Iterator<Item = &'c str>,
    ) -> Result<Option<Columns>, IngestError> {
        let named: Vec<(usize, Field, &str)> =
            cells.enumerate().filter_map(|(i, c)| field_of(c).map(|f| (i, f, c))).collect();
        self.rows_seen += 1;
        let missing: Vec<Field> =
            Field::ALL.into_iter().filter(|f| f.required() && !named.iter().any(|(_, g, _)| g == f)).collect();
        if missing.is_empty() {
            return self.columns(row, &named).map(Some);
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

    fn columns(&self, row: u64, named: &[(usize, Field, &str)]) -> Result<Columns, IngestError> {
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
}
