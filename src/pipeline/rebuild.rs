//! `disburse ledger rebuild`: the ledger rebuilt from the output folder, which
//! holds every file that entered or left a batch (SPEC §8).
//!
//! 1. Every period folder with a manifest is verified as `disburse verify` does
//!    (a folder that fails stops the rebuild, naming it): its bank files, their
//!    signatures, its payment records (through the signed manifest) and the chain.
//! 2. The batches (runs and correction batches, any period) are put in the order
//!    of the manifest chain, and each is replayed from its payment record
//!    ([`super::record`]) into a fresh ledger; after each, the receipts that were
//!    applied after it ([`super::archive`]) are applied again, in time order.
//! 3. The fresh ledger replaces the old one in one rename; the old one, if it held
//!    anything (only with `--force`), is kept beside it.
//!
//! Only the [`Ledger`] trait is used to replay; making and installing the
//! scratch ledger is the backend's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::archive::{self, Entry, State};
use super::audit::{Audit, Facts};
use super::receipts::{self, Archive};
use super::{fault, publish, record, Outcome, PipelineError};
use crate::config::Config;
use crate::domain::{parse_amount, Fen, Period};
use crate::ledger::{BatchKind, FileRecord, Ledger, Lock, NewRun, SqliteLedger, Verified};
use crate::sign::manifest::{Manifest, RecordEntry, HISTORY_DIR, MANIFEST_FILE};

/// One batch's manifest, as found in a period folder or its history.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub sha256: String,
    pub manifest: Manifest,
}

/// Orders manifests along their chain (each names the previous one's SHA-256):
/// `links` holds (sha256, previous). Fails when they are not one unbroken chain.
pub(crate) fn chain_order(links: &[(String, Option<String>)]) -> Result<Vec<usize>, String> {
    let mut next: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (i, (_, prev)) in links.iter().enumerate() {
        next.entry(prev.as_deref()).or_default().push(i);
    }
    let mut order = Vec::with_capacity(links.len());
    let mut at: Option<&str> = None;
    while let Some(children) = next.get(&at) {
        if children.len() > 1 {
            return Err(format!(
                "{} manifests name the same previous manifest {}: the chain forks",
                children.len(),
                at.unwrap_or("(none: the first batch)")
            ));
        }
        order.push(children[0]);
        at = Some(links[children[0]].0.as_str());
        if order.len() > links.len() {
            return Err("the manifest chain loops".into());
        }
    }
    if order.len() != links.len() {
        let lost = (0..links.len()).find(|i| !order.contains(i)).expect("one is missing");
        return Err(format!(
            "manifest {} is not on the chain that starts at the first batch (its previous manifest {} is missing)",
            links[lost].0,
            links[lost].1.as_deref().unwrap_or("(none)")
        ));
    }
    Ok(order)
}

/// The receipts to apply again after each batch (`None`: before the first),
/// in the order they were applied; a command's receipts stay together.
pub(crate) fn receipts_by_batch(entries: Vec<(PathBuf, Entry)>) -> BTreeMap<Option<String>, Vec<Vec<PathBuf>>> {
    let mut sorted: Vec<(PathBuf, Entry)> = entries.into_iter().filter(|(_, e)| e.state == State::Applied).collect();
    sorted.sort_by(|a, b| (&a.1.at, a.1.n).cmp(&(&b.1.at, b.1.n)));
    let mut out: BTreeMap<Option<String>, Vec<Vec<PathBuf>>> = BTreeMap::new();
    let mut last_at: Option<(Option<String>, String)> = None;
    let mut seen = BTreeSet::new();
    for (dir, e) in sorted {
        if !seen.insert(e.sha256.clone()) {
            continue;
        }
        let groups = out.entry(e.after.clone()).or_default();
        let key = (e.after.clone(), e.at.clone());
        if last_at.as_ref() != Some(&key) || groups.is_empty() {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("pushed").push(dir.join(&e.file));
        last_at = Some(key);
    }
    out
}

/// Rebuilds the ledger from the output folder.
pub fn rebuild(config: &Config, force: bool) -> Result<Outcome, PipelineError> {
    if let crate::config::LedgerTarget::Server { .. } = &config.ledger {
        return Err(PipelineError::Refused(
            "ledger rebuild rebuilds an office's own SQLite ledger; a shared ledger is the province's database: \
             restore it from the database server's backup (docs/POSTGRES.md)"
                .into(),
        ));
    }
    let _lock = Lock::acquire(&config.ledger_path)?;
    // The ledger may be gone or unreadable: the start goes to the journal only,
    // and the journal's events (this start included) into the new ledger.
    let audit = Audit::begin_journal_only(config, "ledger rebuild")?;
    let mut facts = Facts::default();
    let result = rebuild_locked(config, force, audit.id(), &mut facts);
    match result {
        Ok(outcome) => {
            let mut ledger = SqliteLedger::open(&config.ledger_path)?;
            let result = super::unanswered::rewrite_all(config, &ledger).map(|_| outcome);
            audit.finish(Some(&mut ledger), result, facts)
        }
        // The old ledger stays as it was; the refusal is in the journal.
        Err(e) => audit.finish(None, Err(e), facts),
    }
}

fn rebuild_locked(config: &Config, force: bool, own: &str, facts: &mut Facts) -> Result<Outcome, PipelineError> {
    let (keep, old_batches) = keep_old(config, force)?;
    let batches = verified_batches(config)?;
    let lacking = missing_from_disk(&old_batches, &batches);
    if !lacking.is_empty() {
        return Err(refuse(
            &config.output_dir,
            format!(
                "the ledger holds {} batch(es) whose manifest no period folder has (e.g. manifest SHA-256 {}): \
                 rebuilt without them, their lines could be paid again. Restore the output folder from a backup first",
                lacking.len(),
                lacking[0]
            ),
        ));
    }
    fault::point("rebuild_verified");
    let links: Vec<(String, Option<String>)> =
        batches.iter().map(|b| (b.sha256.clone(), b.manifest.previous_manifest_sha256.clone())).collect();
    let order = chain_order(&links).map_err(|e| refuse(&config.output_dir, e))?;
    let mut entries = Vec::new();
    for (dir, list) in archive::indexes(&config.output_dir)? {
        entries.extend(list.into_iter().map(|e| (dir.clone(), e)));
    }
    let mut receipts = receipts_by_batch(entries);
    let mut ledger = SqliteLedger::scratch(&config.ledger_path)?;
    let (mut lines, mut amount, mut applied) = (0u64, Fen::ZERO, 0usize);
    replay_receipts(config, &mut ledger, receipts.remove(&None), &mut applied)?;
    for i in order {
        let b = &batches[i];
        let (n, a) = replay_batch(config, &mut ledger, b)?;
        lines += n;
        amount += a;
        fault::point("rebuild_batch");
        replay_receipts(config, &mut ledger, receipts.remove(&Some(b.sha256.clone())), &mut applied)?;
    }
    if let Some((after, _)) = receipts.iter().next() {
        return Err(refuse(
            &config.output_dir,
            format!(
                "archived receipts were applied after manifest {}, which no period folder holds",
                after.as_deref().unwrap_or("")
            ),
        ));
    }
    let events = super::audit::restore(&config.output_dir, &mut ledger, own)?;
    facts.total("rebuilt", lines, amount);
    facts.periods = ledger.periods()?;
    fault::point("rebuild_install");
    ledger.install(&config.ledger_path, keep.as_deref())?;
    // The lists derived from the ledger (failures, suggested stops, the report)
    // are written again from what the rebuilt ledger says, for every period.
    let rebuilt = SqliteLedger::open(&config.ledger_path)?;
    let periods: BTreeSet<Period> = rebuilt.periods()?.into_iter().collect();
    super::derived::rebuild(config, &rebuilt, &periods)?;
    tracing::info!(event = "ledger_rebuilt", batches = batches.len(), receipts = applied, lines, amount = %amount.yuan_string());
    let mut summary = vec![format!(
        "台账已从 {} 重建：{} 个批次 {} 笔 {} 元，重新应用回执 {} 个，恢复审计记录 {} 条",
        config.output_dir.display(),
        batches.len(),
        lines,
        amount.yuan_string(),
        applied,
        events
    )];
    if let Some(k) = keep {
        summary.push(format!("原台账保留为 {}", k.display()));
    }
    Ok(Outcome::new(false, summary))
}

/// The batches the old ledger committed whose manifest is not among those on
/// disk: a rebuild would forget they were paid.
pub(crate) fn missing_from_disk(old: &HashSet<String>, on_disk: &[Batch]) -> Vec<String> {
    let disk: HashSet<&str> = on_disk.iter().map(|b| b.sha256.as_str()).collect();
    let mut v: Vec<String> = old.iter().filter(|s| !disk.contains(s.as_str())).cloned().collect();
    v.sort();
    v
}

/// Refuses to replace a ledger that holds anything, unless forced; then names
/// where the old one is kept. Also returns the old ledger's batches (their
/// manifests' SHA-256).
fn keep_old(config: &Config, force: bool) -> Result<(Option<PathBuf>, HashSet<String>), PipelineError> {
    if !config.ledger_path.exists() {
        return Ok((None, HashSet::new()));
    }
    let old = SqliteLedger::open(&config.ledger_path)?;
    let (holds, batches) = (old.holds_data()?, old.manifest_shas()?);
    drop(old);
    let keep = match (holds, force) {
        (false, _) => None,
        (true, false) => {
            return Err(PipelineError::Refused(format!(
            "台账 {} 中已有数据，未重建（什么也没改）。确需用输出目录重建并替换它，请加 --force，原台账会保留在旁边 \
             (the ledger holds data; add --force to replace it, the old file is kept beside it)",
            config.ledger_path.display()
        )))
        }
        (true, true) => {
            let stamp = super::now_cn().format("%Y%m%d-%H%M%S");
            let mut name = config.ledger_path.as_os_str().to_owned();
            name.push(format!(".before-rebuild-{stamp}"));
            let mut keep = PathBuf::from(&name);
            let mut n = 1;
            while keep.exists() {
                keep = PathBuf::from(format!("{}.{n}", name.to_string_lossy()));
                n += 1;
            }
            Some(keep)
        }
    };
    Ok((keep, batches))
}

fn refuse(output_dir: &Path, why: String) -> PipelineError {
    PipelineError::Refused(format!(
        "ledger rebuild: {why}; the ledger was not changed (output folder {})",
        output_dir.display()
    ))
}

/// Verifies every period folder that holds a manifest, then reads its current
/// and earlier manifests. A folder that fails stops the rebuild, named.
fn verified_batches(config: &Config) -> Result<Vec<Batch>, PipelineError> {
    let mut out: Vec<Batch> = Vec::new();
    for dir in archive::period_dirs(&config.output_dir) {
        let current = dir.join(MANIFEST_FILE);
        if !current.is_file() {
            continue;
        }
        super::admin::verify_folder(&dir, &config.formats_dir, None).map_err(|e| {
            PipelineError::Refused(format!(
                "ledger rebuild stopped: period folder {} fails verify ({e}); the ledger was not changed. \
                 Restore the folder's files from a backup (or find out who changed them) and run again",
                dir.display()
            ))
        })?;
        let mut paths = vec![current];
        if let Ok(rd) = std::fs::read_dir(dir.join(HISTORY_DIR)) {
            let mut hist: Vec<PathBuf> =
                rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
            hist.sort();
            paths.extend(hist);
        }
        for path in paths {
            let bytes = std::fs::read(&path).map_err(super::io_err(&path))?;
            let sha256 = crate::fsutil::sha256_hex(&bytes);
            if out.iter().any(|b| b.sha256 == sha256) {
                continue;
            }
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| refuse(&config.output_dir, format!("{} is not a manifest: {e}", path.display())))?;
            out.push(Batch { sha256, manifest });
        }
    }
    Ok(out)
}

/// Replays one batch from its payment record; returns its lines and amount.
fn replay_batch(config: &Config, ledger: &mut dyn Ledger, b: &Batch) -> Result<(u64, Fen), PipelineError> {
    let m = &b.manifest;
    let period: Period = m.period.parse().map_err(|e: String| refuse(&config.output_dir, e))?;
    let period_dir = config.period_dir(period);
    let current = read_manifest(&period_dir.join(MANIFEST_FILE))?;
    let entry: &RecordEntry = current.records.iter().find(|r| r.run_id == m.run_id).ok_or_else(|| {
        refuse(
            &config.output_dir,
            format!(
                "batch {} {} has no payment record (it was written by a version that kept none), so its lines \
                 cannot be replayed",
                m.period, m.run_id
            ),
        )
    })?;
    let kind =
        if m.run_id.starts_with(BatchKind::Correction.letter()) { BatchKind::Correction } else { BatchKind::Run };
    let run = NewRun {
        approvals: Vec::new(),
        period,
        batch: m.run_id.clone(),
        kind,
        staging_dir: publish::staging_dir(&period_dir, &m.run_id),
        manifest_sha256: b.sha256.clone(),
        created_at: m.created.clone(),
        // The folder was verified with the key its manifest names: that key signed it.
        key_fingerprint: crate::sign::key_fingerprint(&m.signing.public_key_pem),
        verified: m
            .verified
            .iter()
            .map(|v| Verified {
                original_id: v.original_id.clone(),
                retry: v.retry,
                verified_by: v.verified_by.clone(),
                reason: v.reason.clone(),
            })
            .collect(),
    };
    let mut names = BTreeSet::new();
    let (mut lines, mut amount) = (0u64, Fen::ZERO);
    let mut w = ledger.begin_run(&run)?;
    record::read(&period_dir.join(&entry.path), period, 4096, &mut |chunk| {
        for l in &chunk {
            lines += 1;
            amount += l.amount;
            if !names.contains(l.bank_file.as_str()) {
                names.insert(l.bank_file.to_string());
            }
        }
        Ok(w.add_lines(&chunk)?)
    })?;
    let files = current
        .files
        .iter()
        .filter_map(|f| Some((f.path.strip_prefix("bank/")?, f)))
        .filter(|(name, _)| names.contains(*name))
        .map(|(name, f)| {
            Ok(FileRecord {
                name: name.to_string(),
                program: f.program.parse().map_err(|e: String| refuse(&config.output_dir, e))?,
                format: f.format.clone(),
                lines: f.lines,
                total: parse_amount(&f.total).ok().and_then(Fen::from_yuan).unwrap_or(Fen::ZERO),
                sha256: f.sha256.clone(),
            })
        })
        .collect::<Result<Vec<_>, PipelineError>>()?;
    let run_id = w.commit(&files, &b.sha256)?;
    ledger.mark_published(run_id)?;
    Ok((lines, amount))
}

fn read_manifest(path: &Path) -> Result<Manifest, PipelineError> {
    let bytes = std::fs::read(path).map_err(super::io_err(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::Refused(format!("{} is not a manifest: {e}", path.display())))
}

/// Applies archived receipts again, a command's at a time, without archiving them again.
fn replay_receipts(
    config: &Config,
    ledger: &mut dyn Ledger,
    groups: Option<Vec<Vec<PathBuf>>>,
    applied: &mut usize,
) -> Result<(), PipelineError> {
    for files in groups.unwrap_or_default() {
        receipts::apply(config, ledger, &files, Vec::new(), Archive::Replay, &mut super::audit::Facts::default())?;
        *applied += files.len();
        fault::point("rebuild_receipt");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(sha: &str, prev: Option<&str>) -> (String, Option<String>) {
        (sha.to_string(), prev.map(str::to_string))
    }

    #[test]
    fn manifests_are_put_in_chain_order_whatever_order_they_are_found_in() {
        let links = [link("c", Some("b")), link("a", None), link("d", Some("c")), link("b", Some("a"))];
        assert_eq!(chain_order(&links).unwrap(), [1, 3, 0, 2]);
        assert_eq!(chain_order(&[]).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn a_broken_or_forked_chain_is_refused() {
        let gap = [link("a", None), link("c", Some("b"))];
        assert!(chain_order(&gap).unwrap_err().contains("not on the chain"));
        let fork = [link("a", None), link("b", Some("a")), link("c", Some("a"))];
        assert!(chain_order(&fork).unwrap_err().contains("forks"));
        let two_firsts = [link("a", None), link("b", None)];
        assert!(chain_order(&two_firsts).is_err());
    }

    fn entry(file: &str, sha: &str, after: Option<&str>, at: &str, n: u32, state: State) -> (PathBuf, Entry) {
        let e =
            Entry { file: file.into(), sha256: sha.into(), after: after.map(str::to_string), at: at.into(), n, state };
        (PathBuf::from("p"), e)
    }

    /// After each batch, its receipts in time order; a command's together; a
    /// prepared (never committed) one and a second copy of the same bytes left out.
    #[test]
    fn receipts_follow_their_batch_in_the_order_applied() {
        let t1 = "2026-11-26T09:00:00+08:00";
        let t2 = "2026-11-27T09:00:00+08:00";
        let groups = receipts_by_batch(vec![
            entry("b.xml", "2", Some("m1"), t2, 0, State::Applied),
            entry("a2.xml", "12", Some("m1"), t1, 1, State::Applied),
            entry("a1.xml", "11", Some("m1"), t1, 0, State::Applied),
            entry("x.xml", "9", Some("m1"), t2, 1, State::Prepared),
            entry("c.xml", "3", Some("m2"), t2, 0, State::Applied),
            entry("again.xml", "3", Some("m2"), t2, 1, State::Applied),
        ]);
        let names = |k: &str| -> Vec<Vec<String>> {
            groups[&Some(k.to_string())]
                .iter()
                .map(|g| g.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect())
                .collect()
        };
        assert_eq!(names("m1"), [vec!["a1.xml", "a2.xml"], vec!["b.xml"]]);
        assert_eq!(names("m2"), [vec!["c.xml"]]);
    }
}
