//! Reading a roster from an Excel workbook (.xlsx/.xlsm or legacy .xls).
//!
//! Why numbers stay text: Excel stores every number as an IEEE double, so an ID
//! or card number typed as a number has already lost digits. Ingest hands the
//! shortest text that round-trips the double (`6228480000000000000`,
//! `395.99999999999994`) to validation, which can then see the damage and hold
//! the line instead of paying a wrong account or a wrong amount.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{Data, Range, Reader, Xls, Xlsx};

use crate::domain::{Cell, Program, RosterRow};

use super::header::HeaderSearch;
use super::{IngestError, RosterInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Xlsx,
    Xls,
}

pub(super) fn read(
    path: &Path,
    display: &str,
    program: Program,
    sheet: Option<&str>,
    kind: Kind,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<RosterInfo, IngestError> {
    // calamine panics on some damaged workbooks (an index out of bounds in its
    // .xls record parser, found by fuzzing): that is a bad file, not a crash.
    let opened = quiet_panics(|| open(path, display, sheet, kind));
    let range = opened.unwrap_or_else(|_| {
        Err(bad_workbook(display, "its internal structure is damaged (the Excel reader could not follow it)"))
    })?;
    let data_rows = rows(&range, display, program, visit)?;
    let encoding = if kind == Kind::Xlsx { "xlsx" } else { "xls" };
    Ok(RosterInfo { encoding, data_rows })
}

thread_local! {
    static IN_CALAMINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err` without printing it: the clerk gets the
/// refusal message, not a backtrace from inside a third-party parser. Panics on
/// other threads, or outside `f`, still go to the hook that was installed before.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CALAMINE.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    IN_CALAMINE.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_CALAMINE.with(|q| q.set(false));
    r
}

/// Opens the workbook and loads the sheet (all the work calamine does).
fn open(path: &Path, display: &str, sheet: Option<&str>, kind: Kind) -> Result<Range<Data>, IngestError> {
    Ok(match kind {
        Kind::Xlsx => {
            let wb: Xlsx<BufReader<File>> = calamine::open_workbook(path).map_err(|e| bad_workbook(display, e))?;
            load(wb, display, sheet)?
        }
        Kind::Xls => {
            let bytes = std::fs::read(path).map_err(|e| super::text::io_error(display, e))?;
            if let Err(why) = cfb::check_chains(&bytes) {
                return Err(bad_workbook(display, why));
            }
            let wb: Xls<BufReader<File>> = calamine::open_workbook(path).map_err(|e| bad_workbook(display, e))?;
            load(wb, display, sheet)?
        }
    })
}

/// A guard in front of calamine's .xls reader, which follows the sector chains
/// of the compound file without noticing a loop: a damaged 5 KB file made it
/// grow a buffer until the machine ran out of memory (found by fuzzing).
mod cfb {
    const MAX_REGULAR: u32 = 0xFFFF_FFFA;

    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }

    /// Checks that the directory, mini-FAT and mini-stream chains each end
    /// within as many steps as the file has sectors.
    pub(super) fn check_chains(b: &[u8]) -> Result<(), &'static str> {
        let damaged = "the compound-file container is damaged (its sector chains are broken)";
        let shift = b.get(0x1E..0x20).map(|x| u16::from_le_bytes([x[0], x[1]])).ok_or(damaged)?;
        if shift != 9 && shift != 12 {
            return Err(damaged);
        }
        let size = 1usize << shift;
        let sector = |id: u32| b.get((id as usize + 1) * size..(id as usize + 2) * size);
        let max_sectors = b.len() / size;
        let mut difat: Vec<u32> = (0..109).filter_map(|i| u32_at(b, 0x4C + 4 * i)).collect();
        let mut next = u32_at(b, 0x44).ok_or(damaged)?;
        let mut steps = 0;
        while next < MAX_REGULAR {
            steps += 1;
            let sec = sector(next).filter(|_| steps <= max_sectors).ok_or(damaged)?;
            let ids: Vec<u32> = sec.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            next = *ids.last().ok_or(damaged)?;
            difat.extend(&ids[..ids.len() - 1]);
        }
        let mut fat = Vec::new();
        for id in difat.into_iter().filter(|&id| id < MAX_REGULAR) {
            let sec = sector(id).ok_or(damaged)?;
            fat.extend(sec.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        let ends = |start: u32| {
            let mut id = start;
            for _ in 0..=fat.len() {
                if id >= MAX_REGULAR {
                    return true;
                }
                match fat.get(id as usize) {
                    Some(&n) => id = n,
                    None => return false, // a chain step the FAT does not cover
                }
            }
            false
        };
        let dir_start = u32_at(b, 0x30).ok_or(damaged)?;
        let mini_fat_start = u32_at(b, 0x3C).ok_or(damaged)?;
        if !ends(dir_start) || !ends(mini_fat_start) {
            return Err(damaged);
        }
        // The root entry (first directory entry) starts the mini stream.
        let Some(root) = sector(dir_start).filter(|_| dir_start < MAX_REGULAR) else {
            return Ok(()); // calamine refuses a file without directory itself
        };
        let root_start = u32_at(root, 0x74).ok_or(damaged)?;
        if !ends(root_start) {
            return Err(damaged);
        }
        // Every chain ends, so collecting them is bounded.
        let chain = |start: u32, table: &[u32]| {
            let mut ids = Vec::new();
            let mut id = start;
            while id < MAX_REGULAR && ids.len() <= table.len() {
                ids.push(id);
                id = table.get(id as usize).copied().unwrap_or(u32::MAX);
            }
            ids
        };
        let regular = |start: u32| chain(start, &fat).into_iter().filter_map(sector).flatten().copied().collect();
        let dirs: Vec<u8> = regular(dir_start);
        let ministream: Vec<u8> = regular(root_start);
        let minifat: Vec<u32> =
            regular(mini_fat_start).chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        for entry in dirs.chunks_exact(128) {
            let name_len = (u16::from_le_bytes([entry[0x40], entry[0x41]]) as usize).min(64);
            let name: Vec<u16> = entry[..name_len]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&c| c != 0)
                .collect();
            let name = String::from_utf16_lossy(&name);
            if !name.eq_ignore_ascii_case("Workbook") && !name.eq_ignore_ascii_case("Book") {
                continue;
            }
            let start = u32_at(entry, 0x74).ok_or(damaged)?;
            let len = u32_at(entry, 0x78).ok_or(damaged)? as usize;
            let stream: Vec<u8> = if len < 4096 {
                let mini = |id: u32| ministream.get(id as usize * 64..id as usize * 64 + 64);
                chain(start, &minifat).into_iter().filter_map(mini).flatten().copied().collect()
            } else {
                regular(start)
            };
            check_dimensions(&stream[..len.min(stream.len())])?;
        }
        Ok(())
    }

    /// calamine reserves room for every cell a sheet's DIMENSIONS record claims;
    /// a damaged record claiming billions of cells aborted the process. A real
    /// .xls sheet has at most 65,536 rows and 256 columns.
    fn check_dimensions(stream: &[u8]) -> Result<(), &'static str> {
        let too_big = "a sheet claims more rows or columns than an .xls sheet can have (the file is damaged)";
        let mut at = 0;
        while let (Some(typ), Some(len)) = (u16_at(stream, at), u16_at(stream, at + 2)) {
            let data = stream.get(at + 4..at + 4 + len as usize).unwrap_or(&[]);
            // Cell records start with row and column; a column past IV (256)
            // only exists in a damaged file, and calamine allocates the whole
            // rectangle up to the furthest cell.
            let col = match typ {
                0x0006 | 0x0201 | 0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD | 0x00D6 => u16_at(data, 2),
                0x00BD | 0x00BE => u16_at(data, data.len().saturating_sub(2)).max(u16_at(data, 2)),
                _ => None,
            };
            if col.is_some_and(|c| c > 255) {
                return Err(too_big);
            }
            if typ == 0x0200 && matches!(data.len(), 14 | 16) {
                let (first, last) = (u32_at(data, 0).unwrap_or(0), u32_at(data, 4).unwrap_or(0));
                if last > 65_536 || first > last || u16_at(data, 10).unwrap_or(0) > 256 {
                    return Err(too_big);
                }
            }
            at += 4 + len as usize;
        }
        Ok(())
    }

    fn u16_at(b: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
    }
}

fn bad_workbook(display: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Workbook { file: display.to_string(), reason: e.to_string() }
}

/// The named sheet, or the first one.
fn load<R: Reader<BufReader<File>>>(mut wb: R, display: &str, sheet: Option<&str>) -> Result<Range<Data>, IngestError>
where
    R::Error: std::fmt::Display,
{
    let names = wb.sheet_names();
    let name = match sheet {
        Some(want) => {
            names.iter().find(|n| n.trim() == want.trim()).cloned().ok_or_else(|| IngestError::NoSuchSheet {
                file: display.to_string(),
                sheet: want.to_string(),
                available: names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "),
            })?
        }
        None => {
            names.first().cloned().ok_or_else(|| IngestError::Empty { file: display.to_string(), what: "roster" })?
        }
    };
    wb.worksheet_range(&name).map_err(|e| bad_workbook(display, e))
}

/// Finds the header and hands every data row to `visit`; returns how many.
fn rows(
    range: &Range<Data>,
    display: &str,
    program: Program,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<u64, IngestError> {
    // The range starts at its first used cell; rows and columns before it are
    // empty but still count for the numbers a person sees.
    let (row0, col0) = range.start().map_or((0, 0), |(r, c)| (r as u64, c as usize));
    let mut search = HeaderSearch::new(display);
    let mut it = range.rows().enumerate();
    let columns = loop {
        let Some((i, cells)) = it.next() else {
            return Err(search.end_of_file());
        };
        let texts: Vec<String> = leading(col0).chain(cells.iter().map(cell_text)).collect();
        if texts.iter().all(|t| t.trim().is_empty()) {
            continue;
        }
        if let Some(columns) = search.offer(row0 + i as u64 + 1, texts.iter().map(String::as_str))? {
            break columns;
        }
    };
    let mut data_rows = 0;
    for (i, cells) in it {
        let at = |c: usize| c.checked_sub(col0).and_then(|c| cells.get(c)).map_or(Cell::Empty, to_cell);
        if let Some(row) = columns.row(program, row0 + i as u64 + 1, at) {
            data_rows += 1;
            visit(row);
        }
    }
    Ok(data_rows)
}

fn leading(n: usize) -> impl Iterator<Item = String> {
    std::iter::repeat_n(String::new(), n)
}

/// The cell as ingest hands it on.
fn to_cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::Float(f) => Cell::Number(number_text(*f).into()),
        Data::Int(i) => Cell::Number(compact_str::ToCompactString::to_compact_string(i)),
        Data::String(s) if s.trim().is_empty() => Cell::Empty,
        _ => Cell::Text(cell_text(d).into()),
    }
}

/// Any cell as text (headers, and non-numeric cells).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Float(f) => number_text(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => dt.to_string(),
        },
        Data::Error(e) => e.to_string(),
    }
}

/// The shortest decimal text that round-trips the double, without exponent and
/// without a `.0` on whole numbers (Rust's `Display` for `f64` does exactly that).
pub(super) fn number_text(f: f64) -> String {
    if f == 0.0 {
        return "0".to_string();
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn xls_with_looping_sector_chains_is_refused_not_read_forever() {
        let good = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ingest/roster.xls")).unwrap();
        assert_eq!(super::cfb::check_chains(&good), Ok(()));
        let bad =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/roster_xlsx/cfb-chain-loop.xls"))
                .unwrap();
        assert!(super::cfb::check_chains(&bad).is_err());
        let huge = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/roster_xlsx/calamine-dimensions-alloc.xls"
        ))
        .unwrap();
        assert!(super::cfb::check_chains(&huge).unwrap_err().contains("more rows or columns"));
        let wide = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/roster_xlsx/calamine-far-cell-alloc.xls"
        ))
        .unwrap();
        assert!(super::cfb::check_chains(&wide).unwrap_err().contains("more rows or columns"));
    }

    use super::*;

    #[test]
    fn numbers_in_shortest_round_trip_form() {
        assert_eq!(number_text(396.0), "396");
        assert_eq!(number_text(395.99999999999994), "395.99999999999994");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number_text(6.22848e18), "6228480000000000000");
        assert_eq!(number_text(110105194912310012.0), "110105194912310020");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(-12.5), "-12.5");
    }
}
