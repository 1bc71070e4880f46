//! Continuity (SPEC §8): the ledger must know everything the output folder has
//! published. A run folder whose manifest the ledger has no batch for, or an
//! archived receipt it never applied, means the ledger was lost, replaced by
//! an empty one, or restored from an older backup; paying from it would pay
//! again what was already sent. `run`, `returns` and `reissue` then refuse.
//!
//! Cheap by design, as it runs before every writing command: each period's
//! current `manifest.json` (a few KB, whatever the size of its run) is hashed
//! and looked up among the ledger's manifest digests, and each archived
//! receipt's recorded SHA-256 among its receipts. No bank file or record is read.
//! The current manifest is enough: a period's later batch replaces it, and the
//! ledger commits batches in order, so a ledger that knows it knows the earlier ones.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::archive::{self, State};
use super::PipelineError;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::sign::manifest::MANIFEST_FILE;

/// A batch as its period folder shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskRun {
    pub period: String,
    pub run_id: String,
    /// RFC 3339, from the manifest.
    pub created: String,
    pub sha256: String,
    pub manifest: PathBuf,
}

/// The runs on disk the ledger does not know, newest first.
pub(crate) fn unknown_runs<'a>(on_disk: &'a [DiskRun], known: &HashSet<String>) -> Vec<&'a DiskRun> {
    let mut v: Vec<&DiskRun> = on_disk.iter().filter(|r| !known.contains(&r.sha256)).collect();
    v.sort_by(|a, b| (&b.created, &b.period, &b.run_id).cmp(&(&a.created, &a.period, &a.run_id)));
    v
}

/// The current manifest of every period folder (unreadable ones count, with
/// an empty run id: the ledger cannot know them either).
pub(crate) fn runs_on_disk(output_dir: &Path) -> Result<Vec<DiskRun>, PipelineError> {
    let mut out = Vec::new();
    for dir in archive::period_dirs(output_dir) {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(super::io_err(&path)(e)),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let period = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(DiskRun {
            period,
            run_id: field("run_id"),
            created: field("created"),
            sha256: crate::fsutil::sha256_hex(&bytes),
            manifest: path,
        });
    }
    Ok(out)
}

/// Refuses (nothing written) when the output folder holds a published run or
/// an applied receipt the ledger does not know. First settles receipts a crash
/// left between archive and commit ([`archive::settle`]).
pub(crate) fn check(config: &Config, ledger: &dyn Ledger) -> Result<(), PipelineError> {
    let on_disk = runs_on_disk(&config.output_dir)?;
    let known = if on_disk.is_empty() { HashSet::new() } else { ledger.manifest_shas()? };
    let runs = unknown_runs(&on_disk, &known);
    let mut receipts = Vec::new();
    if runs.is_empty() {
        archive::settle(&config.output_dir, ledger)?;
    }
    for (dir, entries) in archive::indexes(&config.output_dir)? {
        for e in entries.iter().filter(|e| e.state == State::Applied) {
            if !ledger.receipt_seen(&e.sha256)? {
                receipts.push(dir.join(&e.file));
            }
        }
    }
    if runs.is_empty() && receipts.is_empty() {
        return Ok(());
    }
    Err(PipelineError::Refused(message(config, &runs, &receipts)))
}

fn message(config: &Config, runs: &[&DiskRun], receipts: &[PathBuf]) -> String {
    let what = match runs.first() {
        Some(r) => {
            let more = if runs.len() > 1 {
                format!("（另有 {} 个批次也不在台账中）", runs.len() - 1)
            } else {
                String::new()
            };
            let id = if r.run_id.is_empty() { "?".to_string() } else { r.run_id.clone() };
            format!(
                "输出目录中已发布的批次 {} {}（{}）不在台账 {} 中{more}",
                r.period,
                id,
                r.manifest.display(),
                config.ledger_path.display()
            )
        }
        None => format!(
            "已存档的回执 {}{} 不在台账 {} 中",
            receipts[0].display(),
            if receipts.len() > 1 { format!(" 等 {} 个", receipts.len()) } else { String::new() },
            config.ledger_path.display()
        ),
    };
    format!(
        "{what}：台账可能已丢失、被替换或从较早的备份恢复。为防止重复发放，本命令没有写入任何内容。\
         请先用同一配置文件运行 `disburse ledger rebuild --config <配置文件>` 从输出目录重建台账 \
         (the ledger does not know a published run or receipt: it was lost, replaced or restored from an older \
         backup; nothing was written; run `disburse ledger rebuild --config C` first)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(period: &str, id: &str, created: &str, sha: &str) -> DiskRun {
        DiskRun {
            period: period.into(),
            run_id: id.into(),
            created: created.into(),
            sha256: sha.into(),
            manifest: PathBuf::from(format!("out/{period}/manifest.json")),
        }
    }

    #[test]
    fn the_newest_unknown_run_comes_first_and_known_ones_are_left_out() {
        let disk = [
            run("2026-10", "C001", "2026-10-28T10:00:00+08:00", "a"),
            run("2026-11", "R002", "2026-11-21T10:00:00+08:00", "b"),
            run("2026-12", "R001", "2026-12-20T10:00:00+08:00", "c"),
        ];
        let none = HashSet::new();
        let ids: Vec<&str> = unknown_runs(&disk, &none).iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["R001", "R002", "C001"]);
        let older_backup: HashSet<String> = ["a".to_string()].into();
        let ids: Vec<&str> = unknown_runs(&disk, &older_backup).iter().map(|r| r.period.as_str()).collect();
        assert_eq!(ids, ["2026-12", "2026-11"]);
        let all: HashSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert!(unknown_runs(&disk, &all).is_empty());
    }
}
