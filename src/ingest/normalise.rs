//! How a cell's text is compared with the names the program knows, shared by
//! the header reader, the footer rule and the control files.

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
