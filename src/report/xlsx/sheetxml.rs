//! SpreadsheetML written by hand, cell by cell: what the list workbooks
//! ([`super::listbook`]) and the clerk's tables ([`super::table`]) share.
//!
//! Why by hand: a list has up to a million rows, and a row here is a few
//! `extend_from_slice` into a buffer (numbers from integers, amounts from fen,
//! text escaped in place) where a general writer builds a cell object each.

use crate::domain::Fen;

/// Indices into `cellXfs` of [`super::package::STYLES`] (the order rust_xlsxwriter gave them).
pub(super) mod xf {
    pub const TITLE: u8 = 1;
    pub const SUB_RIGHT: u8 = 2;
    pub const HEAD: u8 = 3;
    pub const COUNT: u8 = 4;
    pub const TEXT: u8 = 5;
    pub const MONEY: u8 = 6;
    pub const TOTAL_TEXT: u8 = 7;
    pub const TOTAL_MONEY: u8 = 8;
}

pub(super) const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
pub(super) const NS_MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
pub(super) const NS_REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

// A style is written as one digit.
const _: () = assert!(xf::TOTAL_MONEY < 10);

/// Excel's limit on the length of a text cell, in UTF-16 units.
pub(super) const MAX_TEXT: usize = 32_767;

/// A column width in characters as Excel stores it: whole pixels of a 7-pixel
/// digit plus 5 pixels of padding, in 1/256 of a character.
pub(super) fn col_width(w: f64) -> f64 {
    let px = if w <= 0.0 {
        0
    } else if w < 1.0 {
        (w * 12.0).round() as u32
    } else {
        (w * 7.0).round() as u32 + 5
    };
    f64::from(px * 256 / 7) / 256.0
}

/// Room for a u64 in decimal, or a signed amount in yuan.
pub(super) struct NumBuf([u8; 24]);

impl NumBuf {
    pub(super) fn new() -> NumBuf {
        NumBuf([0; 24])
    }

    /// `n` in decimal, right-aligned in the buffer.
    pub(super) fn format(&mut self, mut n: u64) -> &[u8] {
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &self.0[i..];
            }
        }
    }
}

/// An amount in yuan as Excel shows the double nearest to it, from its fen:
/// `1234.5` for 123450 fen, `895` for 89500, `0.07` for 7. Exact below 10^15 fen,
/// where every amount with two decimals round-trips through a double.
pub(super) fn fen_text(buf: &mut NumBuf, f: Fen) -> &[u8] {
    let neg = f.0 < 0;
    let abs = f.0.unsigned_abs();
    let (yuan, cents) = (abs / 100, abs % 100);
    let mut i = buf.0.len();
    if cents != 0 {
        let (tens, ones) = (cents / 10, cents % 10);
        if ones != 0 {
            i -= 1;
            buf.0[i] = b'0' + ones as u8;
        }
        i -= 2;
        buf.0[i] = b'.';
        buf.0[i + 1] = b'0' + tens as u8;
    }
    let mut n = yuan;
    loop {
        i -= 1;
        buf.0[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf.0[i] = b'-';
    }
    &buf.0[i..]
}

fn cell_start(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8) {
    b.extend_from_slice(b"<c r=\"");
    b.push(col);
    b.extend_from_slice(row);
    if s > 0 {
        b.extend_from_slice(b"\" s=\"");
        b.push(b'0' + s);
    }
    b.push(b'"');
}

pub(super) fn number_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8, v: &[u8]) {
    cell_start(b, col, row, s);
    b.extend_from_slice(b"><v>");
    b.extend_from_slice(v);
    b.extend_from_slice(b"</v></c>");
}

pub(super) fn blank_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8) {
    cell_start(b, col, row, s);
    b.extend_from_slice(b"/>");
}

/// A string cell, never a number or formula: an ID stays its 18 characters and
/// a name starting with `=` is shown, not run.
pub(super) fn text_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8, text: &str) {
    cell_start(b, col, row, s);
    let ws = [b'\t', b'\n', b' '];
    let edge = |x: Option<&u8>| x.is_some_and(|c| ws.contains(c));
    let bytes = text.as_bytes();
    if edge(bytes.first()) || edge(bytes.last()) {
        b.extend_from_slice(b" t=\"inlineStr\"><is><t xml:space=\"preserve\">");
    } else {
        b.extend_from_slice(b" t=\"inlineStr\"><is><t>");
    }
    push_escaped(b, text);
    b.extend_from_slice(b"</t></is></c>");
}

/// Whether `text` has anything [`push_escaped`] must change. Bytes of
/// multi-byte characters are all ≥ 0x80, so only `0xEF` (which starts U+FFFE and
/// U+FFFF) needs a closer look.
fn plain(text: &[u8]) -> bool {
    !text.iter().any(|&c| c < 0x20 || matches!(c, b'&' | b'<' | b'>' | b'_' | 0xEF))
        || !text.iter().enumerate().any(|(i, &c)| match c {
            b'\t' | b'\n' => false,
            0..=0x1F | b'&' | b'<' | b'>' => true,
            b'_' => x_escape_at(text, i),
            0xEF => matches!(text.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])),
            _ => false,
        })
}

/// Whether `_xHHHH_` starts at `i`: Excel would read it as an escaped
/// character, so a literal one gets its `_` escaped as `_x005F_`.
fn x_escape_at(text: &[u8], i: usize) -> bool {
    matches!(text.get(i..i + 7), Some([b'_', b'x', h @ .., b'_']) if h.iter().all(u8::is_ascii_hexdigit))
}

/// Text as XML character data the way Excel escapes it: `& < >`, control
/// characters and U+FFFE/U+FFFF as `_xHHHH_`, a literal `_xHHHH_` guarded.
fn push_escaped(b: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if plain(bytes) {
        b.extend_from_slice(bytes);
        return;
    }
    for (i, ch) in text.char_indices() {
        match ch {
            '&' => b.extend_from_slice(b"&amp;"),
            '<' => b.extend_from_slice(b"&lt;"),
            '>' => b.extend_from_slice(b"&gt;"),
            '\t' | '\n' => b.push(ch as u8),
            '\0'..='\x1F' | '\u{FFFE}' | '\u{FFFF}' => {
                b.extend_from_slice(format!("_x{:04X}_", ch as u32).as_bytes());
            }
            '_' if x_escape_at(bytes, i) => b.extend_from_slice(b"_x005F_"),
            _ => {
                let mut tmp = [0u8; 4];
                b.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// Text for an attribute or a part name list (sheet names): the XML escapes.
pub(super) fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What a sheet starts with, up to its first line.
pub(super) struct SheetHead<'a> {
    pub title: &'a str,
    /// The sub-title's halves; an empty one is left blank.
    pub left: &'a str,
    pub right: &'a str,
    pub head: &'a [&'a str],
    pub widths: &'a [f64],
    /// Each column's style, written on the column (the 名册's empty cells show it).
    pub col_styles: Option<&'a [u8]>,
    /// Rows 1–3 stay in view when scrolling (the clerk's tables).
    pub frozen: bool,
    /// The workbook's first sheet, the one selected when it opens.
    pub first: bool,
}

/// The sheet's start: properties, view, columns, then the title (row 1, merged
/// across), the sub-title (row 2, two merged halves: the left in the default
/// style, no blanks) and the header (row 3); see [`heading_merges`].
pub(super) fn sheet_head(b: &mut Vec<u8>, h: &SheetHead<'_>) {
    let last = h.head.len() as u8 - 1;
    let tab = if h.first { " tabSelected=\"1\"" } else { "" };
    let view = if h.frozen {
        format!(
            "<sheetView{tab} workbookViewId=\"0\"><pane ySplit=\"3\" topLeftCell=\"A4\" activePane=\"bottomLeft\" \
             state=\"frozen\"/><selection pane=\"bottomLeft\"/></sheetView>"
        )
    } else {
        format!("<sheetView{tab} workbookViewId=\"0\"/>")
    };
    b.extend_from_slice(
        format!(
            "{XML_DECL}<worksheet xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_REL}\"><sheetPr><pageSetUpPr fitToPage=\"1\"/></sheetPr>\
             <sheetViews>{view}</sheetViews><sheetFormatPr defaultRowHeight=\"15\"/><cols>"
        )
        .as_bytes(),
    );
    for (i, w) in h.widths.iter().enumerate() {
        let (c, width) = (i + 1, col_width(*w));
        let style = h.col_styles.map(|s| format!(" style=\"{}\"", s[i])).unwrap_or_default();
        b.extend_from_slice(
            format!("<col min=\"{c}\" max=\"{c}\" width=\"{width}\"{style} customWidth=\"1\"/>").as_bytes(),
        );
    }
    b.extend_from_slice(b"</cols><sheetData><row r=\"1\" ht=\"30\" customHeight=\"1\">");
    text_cell(b, b'A', b"1", xf::TITLE, h.title);
    for c in 1..=last {
        blank_cell(b, b'A' + c, b"1", xf::TITLE);
    }
    let mid = last / 2;
    b.extend_from_slice(b"</row><row r=\"2\">");
    if !h.left.is_empty() {
        text_cell(b, b'A', b"2", 0, h.left);
    }
    if h.right.is_empty() {
        blank_cell(b, b'A' + mid + 1, b"2", xf::SUB_RIGHT);
    } else {
        text_cell(b, b'A' + mid + 1, b"2", xf::SUB_RIGHT, h.right);
    }
    for c in mid + 2..=last {
        blank_cell(b, b'A' + c, b"2", xf::SUB_RIGHT);
    }
    b.extend_from_slice(b"</row><row r=\"3\">");
    for (c, name) in h.head.iter().enumerate() {
        text_cell(b, b'A' + c as u8, b"3", xf::HEAD, name);
    }
    b.extend_from_slice(b"</row>");
}

/// The merges of [`sheet_head`]'s title and sub-title halves, for a sheet of
/// `columns` columns.
pub(super) fn heading_merges(columns: usize) -> Vec<String> {
    let last = columns as u8 - 1;
    let letter = |c: u8| (b'A' + c) as char;
    let mut merges = vec![format!("A1:{}1", letter(last))];
    if last > 0 {
        merges.push(format!("A2:{}2", letter(last / 2)));
        merges.push(format!("{}2:{}2", letter(last / 2 + 1), letter(last)));
    }
    merges
}

/// What ends every sheet: print options, margins and the A4 landscape page
/// setup one page wide.
pub(super) const SHEET_TAIL: &[u8] = b"<printOptions horizontalCentered=\"1\"/>\
<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/>\
<pageSetup paperSize=\"9\" fitToHeight=\"0\" orientation=\"landscape\" horizontalDpi=\"200\" verticalDpi=\"200\"/></worksheet>";

/// `<mergeCells>` of `merges` (cell ranges such as `A1:H1`).
pub(super) fn merge_cells(b: &mut Vec<u8>, merges: &[String]) {
    b.extend_from_slice(format!("<mergeCells count=\"{}\">", merges.len()).as_bytes());
    for m in merges {
        b.extend_from_slice(format!("<mergeCell ref=\"{m}\"/>").as_bytes());
    }
    b.extend_from_slice(b"</mergeCells>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut b = Vec::new();
        push_escaped(&mut b, s);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn amounts_from_fen_as_excel_shows_the_double() {
        for (fen, text) in [
            (0, "0"),
            (7, "0.07"),
            (10, "0.1"),
            (89_500, "895"),
            (164_450, "1644.5"),
            (12_345, "123.45"),
            (-5, "-0.05"),
            (-250, "-2.5"),
            (99_999_999_999_999, "999999999999.99"),
        ] {
            assert_eq!(fen_text(&mut NumBuf::new(), Fen(fen)), text.as_bytes(), "{fen}");
            // The text rust_xlsxwriter wrote: the shortest form of the double.
            assert_eq!(format!("{}", fen as f64 / 100.0), text, "{fen}");
        }
        assert_eq!(NumBuf::new().format(0), b"0");
        assert_eq!(NumBuf::new().format(u64::MAX), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn text_is_escaped_as_excel_does() {
        assert_eq!(esc("张三"), "张三");
        assert_eq!(esc("a&b<c>d\"e'"), "a&amp;b&lt;c&gt;d\"e'");
        assert_eq!(esc("a\tb\nc\rd\u{1}"), "a\tb\nc_x000D_d_x0001_");
        assert_eq!(esc("_x0041_ and _x00G1_ and _x12"), "_x005F_x0041_ and _x00G1_ and _x12");
        assert_eq!(esc("x\u{FFFE}y\u{FFFF}（全角）"), "x_xFFFE_y_xFFFF_（全角）");
        assert_eq!(esc("收款人：王（监护人）；补发"), "收款人：王（监护人）；补发");
    }

    #[test]
    fn widths_as_rust_xlsxwriter_stores_them() {
        assert_eq!(col_width(8.0), 8.7109375);
        assert_eq!(col_width(22.0), 22.7109375);
    }
}
