//! The commit protocol that makes a run all-or-nothing:
//!
//! 1. everything (bank files, signatures, reports, manifest) is written into
//!    `<period>/.staging-<batch>/`;
//! 2. the ledger commits the run (state `staged`) with all its lines in one
//!    transaction — this is the moment the payment exists;
//! 3. the staged files are renamed into place (manifest last) and the run is
//!    marked `published`.
//!
//! A crash before 2 leaves only a staging folder, which no one mistakes for a
//! payment and the next command deletes. A crash after 2 is finished by the next
//! command ([`recover`]), because renames are idempotent.

use std::fs;
use std::path::{Path, PathBuf};

use super::{fault, io_err, PipelineError};
use crate::config::Config;
use crate::ledger::Ledger;

/// The staging folder of a batch.
pub(crate) fn staging_dir(period_dir: &Path, batch: &str) -> PathBuf {
    period_dir.join(format!(".staging-{batch}"))
}

/// Finishes runs committed but not published, and removes staging folders no
/// committed run owns. Returns one line per thing done.
///
/// First of all, the continuity check ([`super::continuity::check`]): a ledger
/// that does not know what the output folder published must not be trusted.
pub(crate) fn recover(config: &Config, ledger: &mut dyn Ledger) -> Result<Vec<String>, PipelineError> {
    super::continuity::check(config, &*ledger)?;
    let mut said = Vec::new();
    let staged = ledger.staged_runs()?;
    for run in &staged {
        let period_dir = config.period_dir(run.period);
        publish(&run.staging_dir, &period_dir)?;
        ledger.mark_published(run.id)?;
        said.push(format!("finished publishing {} {} after an interrupted run", run.period, run.batch));
    }
    let owned: Vec<&Path> = staged.iter().map(|r| r.staging_dir.as_path()).collect();
    let Ok(periods) = fs::read_dir(&config.output_dir) else { return Ok(said) };
    for period in periods.flatten() {
        let Ok(entries) = fs::read_dir(period.path()) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let orphan_stage = name.starts_with(".staging-") && !owned.contains(&e.path().as_path());
            if orphan_stage || is_dead_check(&name) {
                fs::remove_dir_all(e.path()).map_err(io_err(e.path()))?;
                said.push(format!("removed the unfinished files of an interrupted run ({})", e.path().display()));
            }
        }
    }
    Ok(said)
}

/// A `check`'s working folder (`.check-<pid>`) whose process is gone. Checks take
/// no lock, so a running one is recognised by its process id.
fn is_dead_check(name: &str) -> bool {
    let Some(pid) = name.strip_prefix(".check-").and_then(|p| p.parse::<u32>().ok()) else { return false };
    cfg!(unix) && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Moves every file of `staging` into `period_dir` (same relative paths), the
/// manifest and its signature last, then removes `staging`. Safe to repeat.
pub(crate) fn publish(staging: &Path, period_dir: &Path) -> Result<(), PipelineError> {
    if !staging.exists() {
        return Ok(());
    }
    let mut files = Vec::new();
    collect_files(staging, staging, &mut files)?;
    files.sort_by_key(|rel| (rel.starts_with("manifest.json"), rel == Path::new("manifest.json"), rel.clone()));
    let mut dirs = Vec::new();
    for rel in files {
        let to = period_dir.join(&rel);
        if let Some(parent) = to.parent() {
            if !dirs.contains(&parent.to_path_buf()) {
                crate::fsutil::create_private_dir(parent).map_err(io_err(parent))?;
                dirs.push(parent.to_path_buf());
            }
        }
        fs::rename(staging.join(&rel), &to).map_err(io_err(&to))?;
        fault::point("publish");
    }
    for d in dirs.iter().chain(std::iter::once(&period_dir.to_path_buf())) {
        crate::fsutil::sync_dir(d).map_err(io_err(d))?;
    }
    fs::remove_dir_all(staging).map_err(io_err(staging))?;
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PipelineError> {
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let path = e.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if !e.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
    Ok(())
}
