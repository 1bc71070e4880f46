//! The archive of applied receipts (回执存档): every receipt file that `returns`
//! (or `watch`) applies is copied byte for byte to
//! `<output>/<P>/returns/received/<name>` (`<name>.1`, `<name>.2` … on a clash)
//! before its effect is committed, and listed in `<output>/<P>/returns/received.jsonl`.
//!
//! Which period: the newest period whose payments the receipt changed; a
//! receipt that changed none goes to the newest period the ledger has (else the
//! current month). One copy per receipt: `ledger rebuild` reads every period's
//! list, so a receipt about two periods needs no second copy.
//!
//! The order of replay: each entry names the newest batch's manifest SHA-256
//! when it was applied (`after`), and its time and place in the command.
//! Rebuild replays a receipt right after that batch, receipts in time order.
//!
//! An entry is written `prepared` before the ledger commits and set `applied`
//! after. A crash in between leaves `prepared` entries: the next writing
//! command keeps those the ledger knows (committed) and drops the others (the
//! archived copy stays, and a rerun of the same file reuses it). Only an
//! `applied` entry the ledger does not know means the ledger lost something.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{io_err, PipelineError};
use crate::domain::Period;
use crate::ledger::Ledger;

/// The list of a period's archived receipts, relative to its folder.
pub(crate) const INDEX: &str = "returns/received.jsonl";
/// Where the copies are, relative to the period folder.
pub(crate) const DIR: &str = "returns/received";

/// Whether an archived receipt's ledger transaction has committed.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Prepared,
    Applied,
}

/// One archived receipt.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The copy, relative to the period folder (`returns/received/<name>`).
    pub file: String,
    pub sha256: String,
    /// The newest batch's manifest SHA-256 when it was applied (none before the first batch).
    pub after: Option<String>,
    /// When it was applied (RFC 3339, China time) and its place among the command's files.
    pub at: String,
    pub n: u32,
    pub state: State,
}

/// A receipt to archive: where it was read from and the SHA-256 of what was read.
pub(crate) struct Applied<'a> {
    pub source: &'a Path,
    pub sha256: &'a str,
    pub period: Period,
}

/// Archives the receipts (copy, then their `prepared` entries) before their
/// commit. Returns the entries written, for [`mark_applied`].
pub(crate) fn prepare(
    output_dir: &Path,
    receipts: &[Applied<'_>],
    after: Option<String>,
) -> Result<Vec<(Period, Entry)>, PipelineError> {
    // Nanoseconds, always: entries sort by this text.
    let at = super::now_cn().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
    let mut out = Vec::new();
    for (n, r) in receipts.iter().enumerate() {
        let period_dir = output_dir.join(r.period.to_string());
        let file = copy_in(&period_dir, r.source, r.sha256)?;
        let entry = Entry {
            file,
            sha256: r.sha256.to_string(),
            after: after.clone(),
            at: at.clone(),
            n: n as u32,
            state: State::Prepared,
        };
        out.push((r.period, entry));
    }
    let periods: BTreeSet<Period> = out.iter().map(|(p, _)| *p).collect();
    for p in periods {
        let dir = output_dir.join(p.to_string());
        let mut entries = read_index(&dir)?;
        entries.extend(out.iter().filter(|(q, _)| *q == p).map(|(_, e)| e.clone()));
        write_index(&dir, &entries)?;
    }
    Ok(out)
}

/// Sets the entries `applied` once their transaction has committed.
pub(crate) fn mark_applied(output_dir: &Path, written: &[(Period, Entry)]) -> Result<(), PipelineError> {
    let periods: BTreeSet<Period> = written.iter().map(|(p, _)| *p).collect();
    for p in periods {
        let dir = output_dir.join(p.to_string());
        let mut entries = read_index(&dir)?;
        for e in entries.iter_mut().filter(|e| written.iter().any(|(q, w)| *q == p && w == *e)) {
            e.state = State::Applied;
        }
        write_index(&dir, &entries)?;
    }
    Ok(())
}

/// After a crash: a `prepared` entry the ledger knows committed (set
/// `applied`); one it does not know did not (dropped).
pub(crate) fn settle(output_dir: &Path, ledger: &dyn Ledger) -> Result<(), PipelineError> {
    for (dir, entries) in indexes(output_dir)? {
        if entries.iter().all(|e| e.state == State::Applied) {
            continue;
        }
        let mut kept = Vec::with_capacity(entries.len());
        for mut e in entries {
            if e.state == State::Prepared {
                if !ledger.receipt_seen(&e.sha256)? {
                    continue;
                }
                e.state = State::Applied;
            }
            kept.push(e);
        }
        write_index(&dir, &kept)?;
    }
    Ok(())
}

/// Every period folder's entries, with the folder.
pub(crate) fn indexes(output_dir: &Path) -> Result<Vec<(PathBuf, Vec<Entry>)>, PipelineError> {
    let mut out = Vec::new();
    for dir in period_dirs(output_dir) {
        if dir.join(INDEX).is_file() {
            let entries = read_index(&dir)?;
            out.push((dir, entries));
        }
    }
    Ok(out)
}

/// The folders of `output_dir` named as a period, in period order.
pub(crate) fn period_dirs(output_dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(output_dir) else { return Vec::new() };
    let mut v: Vec<(Period, PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<Period>().ok()?, e.path())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn read_index(period_dir: &Path) -> Result<Vec<Entry>, PipelineError> {
    let path = period_dir.join(INDEX);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                PipelineError::Refused(format!(
                    "{} line {}: not a receipt archive entry ({e}); restore the file from a backup",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

fn write_index(period_dir: &Path, entries: &[Entry]) -> Result<(), PipelineError> {
    let path = period_dir.join(INDEX);
    crate::fsutil::write_atomic_with(&path, |w| {
        for e in entries {
            serde_json::to_writer(&mut *w, e)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(io_err(&path))
}

/// Copies `source` into the period's `returns/received/` under its own name
/// (`.1`, `.2` … when a different file has it), written whole and synced; an
/// existing copy with the same bytes is reused (a rerun after a crash). The
/// copy must hash to `sha256`, what was read and applied. Returns its path
/// relative to the period folder.
fn copy_in(period_dir: &Path, source: &Path, sha256: &str) -> Result<String, PipelineError> {
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "receipt".into());
    let dir = period_dir.join(DIR);
    let mut k = 0u32;
    let to = loop {
        let candidate = if k == 0 { name.clone() } else { format!("{name}.{k}") };
        let path = dir.join(&candidate);
        if !path.exists() {
            break path;
        }
        if crate::fsutil::sha256_file(&path).map_err(io_err(&path))? == sha256 {
            return Ok(format!("{DIR}/{candidate}"));
        }
        k += 1;
    };
    let mut copied = sha2::Sha256::new();
    crate::fsutil::write_atomic_with(&to, |w| {
        let mut f = std::fs::File::open(source)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            copied.update(&buf[..n]);
            w.write_all(&buf[..n])?;
        }
    })
    .map_err(io_err(source))?;
    if hex::encode(copied.finalize()) != sha256 {
        let _ = std::fs::remove_file(&to);
        return Err(PipelineError::Refused(format!(
            "{}: the file changed while it was applied; nothing was applied, run again once the bank has finished writing it",
            source.display()
        )));
    }
    let rel = to.strip_prefix(period_dir).unwrap_or(&to).to_string_lossy().replace('\\', "/");
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same name, other bytes: `.1`, `.2`; same bytes: the copy is reused.
    #[test]
    fn copies_keep_the_name_and_never_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("in");
        std::fs::create_dir_all(&src).unwrap();
        let out = tmp.path().join("out");
        let p: Period = "2026-11".parse().unwrap();
        let mut names = Vec::new();
        for body in ["a", "b", "a", "c"] {
            let f = src.join("pain002.xml");
            std::fs::write(&f, body).unwrap();
            let sha = crate::fsutil::sha256_hex(body.as_bytes());
            let w = prepare(&out, &[Applied { source: &f, sha256: &sha, period: p }], None).unwrap();
            names.push(w[0].1.file.clone());
        }
        let base = "returns/received/pain002.xml";
        assert_eq!(names, [base.to_string(), format!("{base}.1"), base.into(), format!("{base}.2")]);
        assert_eq!(std::fs::read(out.join("2026-11").join(&names[3])).unwrap(), b"c");
        let (_, entries) = indexes(&out).unwrap().remove(0);
        assert_eq!(entries.len(), 4);
        assert!(entries.iter().all(|e| e.state == State::Prepared));
    }
}
