//! A guard in front of calamine's .xls reader, which follows the sector chains
//! of the compound file without noticing a loop (a damaged 5 KB file made it
//! grow a buffer until the machine ran out of memory, found by fuzzing), and
//! which loads every sheet whole when it opens the file: what those sheets would
//! cost (cells, the rectangle they span, the text copied into them) is counted
//! from the records first and refused past the limits of [`super::limits`].

use super::limits::{self, bytes};

/// Why a compound file is not handed to the Excel reader.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    Damaged(&'static str),
    TooLarge { what: String, limit: String },
}

impl From<&'static str> for Refusal {
    fn from(why: &'static str) -> Refusal {
        Refusal::Damaged(why)
    }
}

const MAX_REGULAR: u32 = 0xFFFF_FFFA;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Checks that the directory, mini-FAT and mini-stream chains each end
/// within as many steps as the file has sectors.
pub(super) fn check_chains(b: &[u8]) -> Result<(), Refusal> {
    let damaged = "the compound-file container is damaged (its sector chains are broken)";
    let shift = b.get(0x1E..0x20).map(|x| u16::from_le_bytes([x[0], x[1]])).ok_or(damaged)?;
    if shift != 9 && shift != 12 {
        return Err(damaged.into());
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
        return Err(damaged.into());
    }
    // The root entry (first directory entry) starts the mini stream.
    let Some(root) = sector(dir_start).filter(|_| dir_start < MAX_REGULAR) else {
        return Ok(()); // calamine refuses a file without directory itself
    };
    let root_start = u32_at(root, 0x74).ok_or(damaged)?;
    if !ends(root_start) {
        return Err(damaged.into());
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

/// What the sheets of a workbook stream would cost the Excel reader, which
/// reads each sheet its BOUNDSHEET records list (the same sheet as often as it
/// is listed) into a rectangle of cells, copying a shared string into every
/// cell that shows it.
///
/// Also refuses what only a damaged file holds: a DIMENSIONS record claiming
/// more than an .xls sheet can have (the reader reserves room for it up front;
/// one claiming billions of cells aborted the process) or a cell past column IV.
fn check_dimensions(stream: &[u8]) -> Result<(), Refusal> {
    let too_big = "a sheet claims more rows or columns than an .xls sheet can have (the file is damaged)";
    let records = || Records { stream, at: 0 };
    let mut sst: Vec<u32> = Vec::new();
    let mut sheets = Vec::new();
    let mut in_sst = false;
    let mut sst_parts: Vec<&[u8]> = Vec::new();
    for (_, typ, data) in records() {
        match typ {
            0x00FC => {
                in_sst = true;
                sst_parts = vec![data];
            }
            0x003C if in_sst => sst_parts.push(data),
            0x0085 => sheets.push(u32_at(data, 0).unwrap_or(u32::MAX) as usize),
            _ => {
                if in_sst {
                    sst = string_lengths(&sst_parts);
                    in_sst = false;
                }
            }
        }
    }
    if in_sst {
        sst = string_lengths(&sst_parts);
    }
    let mut cost = Cost::default();
    for &start in &sheets {
        let Some(sheet) = stream.get(start..) else { continue };
        let mut rect: Option<(u32, u32, u32, u32)> = None;
        let mut depth = 0usize;
        for (i, (_, typ, data)) in (Records { stream: sheet, at: 0 }).enumerate() {
            match typ {
                0x0809 if i > 0 => depth += 1,
                0x000A if depth > 0 => depth -= 1,
                0x000A => break,
                _ => {}
            }
            if depth > 0 {
                continue;
            }
            // Cell records start with row and column; a column past IV (256)
            // only exists in a damaged file.
            let col = match typ {
                0x0006 | 0x0201 | 0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD | 0x00D6 => u16_at(data, 2),
                0x00BD | 0x00BE => u16_at(data, data.len().saturating_sub(2)).max(u16_at(data, 2)),
                _ => None,
            };
            if col.is_some_and(|c| c > 255) {
                return Err(Refusal::Damaged(too_big));
            }
            if typ == 0x0200 && matches!(data.len(), 14 | 16) {
                let (first, last) = (u32_at(data, 0).unwrap_or(0), u32_at(data, 4).unwrap_or(0));
                let cols = u16_at(data, 10).unwrap_or(0);
                if last > 65_536 || first > last || cols > 256 {
                    return Err(Refusal::Damaged(too_big));
                }
                let claimed =
                    u64::from(last - first + 1) * u64::from(cols.saturating_sub(u16_at(data, 8).unwrap_or(0)) + 1);
                cost.area(claimed)?;
            }
            let Some(col) = col else { continue };
            let row = u32::from(u16_at(data, 0).unwrap_or(0));
            let (first_col, last_col) = match typ {
                0x00BD | 0x00BE => (u32::from(u16_at(data, 2).unwrap_or(0)), u32::from(col)),
                _ => (u32::from(col), u32::from(col)),
            };
            let cells = u64::from(last_col.saturating_sub(first_col)) + 1;
            let text = match typ {
                0x00FD => u32_at(data, 6).and_then(|i| sst.get(i as usize)).map_or(0, |&n| u64::from(n) * 3),
                0x0204 | 0x00D6 => data.len() as u64 * 2,
                0x0006 => (data.len() as u64).saturating_sub(20) * 52,
                _ => 0,
            };
            cost.cells(cells, text)?;
            let r = rect.get_or_insert((row, row, first_col, last_col));
            *r = (r.0.min(row), r.1.max(row), r.2.min(first_col), r.3.max(last_col));
        }
        if let Some((r0, r1, c0, c1)) = rect {
            cost.area(u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1))?;
        }
    }
    Ok(())
}

/// Running totals of what the reader would hold, refused past the limits.
#[derive(Default)]
struct Cost {
    cells: u64,
    text: u64,
}

impl Cost {
    fn cells(&mut self, cells: u64, text: u64) -> Result<(), Refusal> {
        self.cells += cells;
        self.text += text;
        if self.cells > limits::XLS_CELLS {
            let limit = format!("{} cells in all sheets of an .xls", limits::XLS_CELLS);
            return Err(Refusal::TooLarge { what: format!("more than {limit}"), limit });
        }
        if self.text > limits::XLS_TEXT_BYTES {
            let limit = format!("{} of text in all sheets of an .xls", bytes(limits::XLS_TEXT_BYTES));
            let what = "its cells would hold more text than that (a long shared string repeated in many cells?)";
            return Err(Refusal::TooLarge { what: what.to_string(), limit });
        }
        Ok(())
    }

    /// A sheet's rectangle, which the reader allocates whole.
    fn area(&mut self, area: u64) -> Result<(), Refusal> {
        if area > limits::XLS_AREA {
            let limit = format!("{} cells a sheet's used range may span", limits::XLS_AREA);
            let what = format!("a sheet whose cells span {area} cells (stray cells far from the data?)");
            return Err(Refusal::TooLarge { what, limit });
        }
        Ok(())
    }
}

/// The records of a BIFF stream: (offset, type, data).
struct Records<'a> {
    stream: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = (usize, u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (typ, len) = (u16_at(self.stream, self.at)?, u16_at(self.stream, self.at + 2)?);
        let data = self.stream.get(self.at + 4..self.at + 4 + len as usize).unwrap_or(&[]);
        let at = self.at;
        self.at += 4 + len as usize;
        Some((at, typ, data))
    }
}

/// The length in characters of each string of the shared-string table (SST and
/// its CONTINUE records), as far as it can be followed.
fn string_lengths(parts: &[&[u8]]) -> Vec<u32> {
    let mut out = Vec::new();
    let Some(first) = parts.first() else { return out };
    let unique = u32_at(first, 4).unwrap_or(0) as usize;
    let (mut part, mut pos) = (0usize, 8usize);
    // Moves `n` bytes on, across record boundaries.
    let skip = |part: &mut usize, pos: &mut usize, mut n: usize| -> bool {
        while n > 0 {
            let len = parts.get(*part).map_or(0, |p| p.len());
            let here = (len - (*pos).min(len)).min(n);
            *pos += here;
            n -= here;
            if n > 0 {
                *part += 1;
                *pos = 0;
                if *part >= parts.len() {
                    return false;
                }
            }
        }
        true
    };
    let byte = |part: &mut usize, pos: &mut usize| -> Option<u8> {
        while parts.get(*part).is_some_and(|p| *pos >= p.len()) {
            *part += 1;
            *pos = 0;
        }
        let b = *parts.get(*part)?.get(*pos)?;
        *pos += 1;
        Some(b)
    };
    while out.len() < unique {
        let (Some(lo), Some(hi), Some(flags)) =
            (byte(&mut part, &mut pos), byte(&mut part, &mut pos), byte(&mut part, &mut pos))
        else {
            break;
        };
        let cch = u16::from_le_bytes([lo, hi]) as usize;
        let mut extra = 0usize;
        if flags & 0x08 != 0 {
            let (Some(a), Some(b)) = (byte(&mut part, &mut pos), byte(&mut part, &mut pos)) else { break };
            extra += 4 * u16::from_le_bytes([a, b]) as usize;
        }
        if flags & 0x04 != 0 {
            let mut n = [0u8; 4];
            for x in &mut n {
                let Some(b) = byte(&mut part, &mut pos) else { return out };
                *x = b;
            }
            extra += u32::from_le_bytes(n) as usize;
        }
        // The characters; a CONTINUE record in their middle starts with new flags.
        let (mut left, mut wide) = (cch, flags & 0x01 != 0);
        while left > 0 {
            let len = parts.get(part).map_or(0, |p| p.len());
            let width = if wide { 2 } else { 1 };
            let fits = (len.saturating_sub(pos) / width).min(left);
            pos += fits * width;
            left -= fits;
            if left > 0 {
                part += 1;
                pos = 0;
                let Some(f) = parts.get(part).and_then(|p| p.first()) else { break };
                wide = f & 0x01 != 0;
                pos = 1;
            }
        }
        out.push(cch as u32);
        if !skip(&mut part, &mut pos, extra) {
            break;
        }
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
