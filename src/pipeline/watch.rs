//! `disburse watch`: waits for the bank's receipt files in a drop folder and applies
//! each once it is complete, through the same `returns` the clerk runs by hand.
//!
//! Why it waits: banks and SFTP clients write a receipt in pieces. A half-written
//! pain.002 is malformed XML (refused) or, worse, a well-formed prefix of a text
//! return file (applied short). So a file is only read once its size and mtime
//! have stayed the same for `settle`, or at once when the bank drops an `X.ok`
//! marker beside `X`. Temporary and hidden names are never touched.
//!
//! tokio only waits (ticks, SIGTERM/SIGINT); applying a receipt is the
//! synchronous `returns`, run on a blocking thread so a signal arriving meanwhile
//! is noticed, and honoured once that file is finished.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{signal, SignalKind};

use super::{io_err, Outcome, PipelineError};
use crate::config::Config;

/// What `watch` is told on the command line.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The bank's drop folder; `processed/` and `refused/` are made inside it.
    pub inbox: PathBuf,
    /// How long a file's size and mtime must stay the same before it is read.
    pub settle: Duration,
    /// Process what is complete now (waiting at most one settle period) and exit.
    pub once: bool,
}

/// Suffixes of names a writer is still working on (browsers, WinSCP, rsync-likes).
const TEMP_SUFFIXES: [&str; 4] = [".tmp", ".part", ".filepart", ".crdownload"];
/// The bank's "this file is complete" marker, beside the file it names.
const MARKER: &str = ".ok";

/// Watches `opts.inbox` until SIGTERM/SIGINT (or, with `once`, until what is
/// complete now is done). Exit 2 when any file was refused or flagged.
pub fn watch(config: &Config, opts: &WatchOptions) -> Result<Outcome, PipelineError> {
    if !opts.inbox.is_dir() {
        return Err(PipelineError::Refused(format!(
            "inbox {} is not a folder: create it, or point --inbox at the bank's drop folder",
            opts.inbox.display()
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Refused(format!("cannot start the watch loop: {e}")))?;
    runtime.block_on(watch_loop(Arc::new(config.clone()), opts.clone()))
}

/// Counts for the one-line summary and the exit status.
#[derive(Debug, Default)]
struct Session {
    applied: u64,
    flagged: u64,
    refused: u64,
    locked: u64,
}

async fn watch_loop(config: Arc<Config>, opts: WatchOptions) -> Result<Outcome, PipelineError> {
    let sig = |kind| signal(kind).map_err(|e| PipelineError::Refused(format!("cannot listen for signals: {e}")));
    let (mut term, mut int) = (sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?);
    let tick = tick_for(opts.settle);
    let first_scan = Instant::now();
    let mut tracker = Tracker::default();
    let mut session = Session::default();
    let mut stop = false;
    tracing::info!(inbox = %opts.inbox.display(), settle_ms = opts.settle.as_millis() as u64, "watching");
    while !stop {
        let now = Instant::now().max(first_scan);
        let ready = tracker.scan(&opts.inbox, now, opts.settle).map_err(io_err(&opts.inbox))?;
        for file in ready {
            let job = tokio::task::spawn_blocking({
                let (config, inbox) = (config.clone(), opts.inbox.clone());
                move || apply(&config, &inbox, &file)
            });
            tokio::pin!(job);
            let done = loop {
                tokio::select! {
                    r = &mut job => break r,
                    _ = term.recv() => stop = true,
                    _ = int.recv() => stop = true,
                }
            };
            let done = done.map_err(|e| PipelineError::Refused(format!("receipt worker failed: {e}")))??;
            session.count(done);
            if stop {
                break;
            }
        }
        if opts.once && (tracker.is_empty() || now.duration_since(first_scan) >= opts.settle) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = term.recv() => stop = true,
            _ = int.recv() => stop = true,
        }
    }
    finish(&config, session, opts.once)
}

/// Ticks often enough to notice a settled file soon, rarely enough to be idle.
fn tick_for(settle: Duration) -> Duration {
    (settle / 4).clamp(Duration::from_millis(25), Duration::from_secs(1))
}

impl Session {
    fn count(&mut self, done: Done) {
        match done {
            Done::Applied { needs_person } => {
                self.applied += 1;
                self.flagged += needs_person as u64;
            }
            Done::Refused => self.refused += 1,
            Done::Locked => self.locked += 1,
        }
    }
}

/// The one-line summary. With `--once`, a file left because of the lock makes
/// the exit status 3 (cron: retry later), unless something needs a person.
fn finish(config: &Config, s: Session, once: bool) -> Result<Outcome, PipelineError> {
    let line = format!(
        "watch：处理回执 {} 个（需人工查看 {} 个），拒收 {} 个，因台账被占用暂缓 {} 次",
        s.applied, s.flagged, s.refused, s.locked
    );
    tracing::info!(applied = s.applied, flagged = s.flagged, refused = s.refused, locked = s.locked, "watch ended");
    let needs_person = s.flagged + s.refused > 0;
    if once && s.locked > 0 && !needs_person {
        tracing::warn!("{line}");
        if let (crate::config::LedgerTarget::Server { .. }, Some(code)) = (&config.ledger, &config.office.code) {
            return Err(PipelineError::Ledger(crate::ledger::LedgerError::OfficeLocked(code.clone())));
        }
        let mut lock = config.ledger_path.clone().into_os_string();
        lock.push(".lock");
        return Err(PipelineError::Ledger(crate::ledger::LedgerError::Locked(lock.into())));
    }
    Ok(Outcome::new(needs_person, vec![line]))
}

/// What happened to one ready file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Done {
    Applied { needs_person: bool },
    Refused,
    Locked,
}

/// A file judged complete, and its `.ok` marker if it came with one.
#[derive(Debug, Clone, PartialEq)]
struct Ready {
    path: PathBuf,
    marker: Option<PathBuf>,
}

/// Applies one receipt and moves it (with its marker) out of the inbox.
fn apply(config: &Config, inbox: &Path, file: &Ready) -> Result<Done, PipelineError> {
    let name = file_name(&file.path);
    match super::receipts::returns_as(config, std::slice::from_ref(&file.path), "watch") {
        Ok(outcome) => {
            let dir = inbox.join("processed").join(super::now_cn().format("%Y%m%d").to_string());
            let to = move_with_marker(file, &dir)?;
            for line in &outcome.summary {
                tracing::info!(file = %name, "{line}");
            }
            tracing::info!(file = %name, moved_to = %to.display(), needs_person = outcome.needs_person, "receipt applied");
            Ok(Done::Applied { needs_person: outcome.needs_person })
        }
        Err(e) if e.exit_code() == 3 => {
            tracing::info!(file = %name, "ledger is locked by another run; will retry on the next tick");
            Ok(Done::Locked)
        }
        Err(e) if is_about_file(&e, &file.path) => {
            let why = redact_numbers(&e.to_string());
            let to = move_with_marker(file, &inbox.join("refused"))?;
            let mut why_path = to.clone().into_os_string();
            why_path.push(".why.txt");
            crate::fsutil::write_atomic(Path::new(&why_path), format!("{why}\n").as_bytes())
                .map_err(io_err(&why_path))?;
            tracing::warn!(file = %name, moved_to = %to.display(), reason = %why, "receipt refused");
            Ok(Done::Refused)
        }
        Err(e) => Err(e),
    }
}

/// True when `returns` refused the file itself (malformed, unreadable), not the
/// office (config, reasons table, ledger): only then does the file belong in
/// `refused/`. Its refusals about a file start with the file's name; anything
/// else stops the watch (exit 1) rather than emptying the inbox into `refused/`.
fn is_about_file(e: &PipelineError, path: &Path) -> bool {
    match e {
        PipelineError::Refused(m) => m.starts_with(&path.display().to_string()),
        PipelineError::Io { path: p, .. } => p == path,
        _ => false,
    }
}

/// Moves the file into `dir` (made 0700), never overwriting; the marker follows
/// under the file's new name. Returns where the file went.
fn move_with_marker(file: &Ready, dir: &Path) -> Result<PathBuf, PipelineError> {
    crate::fsutil::create_private_dir(dir).map_err(io_err(dir))?;
    let to = free_name(dir, &file_name(&file.path));
    std::fs::rename(&file.path, &to).map_err(io_err(&file.path))?;
    if let Some(marker) = &file.marker {
        let mut m = to.clone().into_os_string();
        m.push(MARKER);
        if let Err(e) = std::fs::rename(marker, &m) {
            tracing::warn!(marker = %marker.display(), error = %e, "could not move the .ok marker");
        }
    }
    crate::fsutil::sync_dir(dir).map_err(io_err(dir))?;
    Ok(to)
}

/// `dir/name`, or `dir/stem.N.ext` with the first N that is free.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() && !marker_of(&first).exists() {
        return first;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    (1u32..)
        .map(|n| dir.join(format!("{stem}.{n}{ext}")))
        .find(|p| !p.exists() && !marker_of(p).exists())
        .expect("some numeric suffix is free")
}

fn marker_of(p: &Path) -> PathBuf {
    let mut m = p.as_os_str().to_owned();
    m.push(MARKER);
    PathBuf::from(m)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Masks an account or ID number a parser might quote (as every free-text
/// output does: [`crate::domain::mask_numbers`]), for log lines and `.why.txt`.
fn redact_numbers(s: &str) -> String {
    crate::domain::mask_numbers(s).into_owned()
}

/// What a file looked like when last seen: a change of any part restarts its settle time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Look {
    len: u64,
    mtime: Option<SystemTime>,
    inode: u64,
}

/// Remembers each candidate's look and since when it has not changed.
#[derive(Debug, Default)]
struct Tracker {
    seen: HashMap<PathBuf, (Look, Instant)>,
}

impl Tracker {
    /// Lists the inbox and returns the files complete at `now`, oldest first.
    /// A file must have been seen unchanged on two scans at least `settle` apart,
    /// unless its `.ok` marker is there. An empty file is an upload that has not
    /// started writing (and the text return readers take it for a valid empty
    /// receipt), so it needs a marker. A ready file that stays (the ledger was
    /// locked) is ready again on the next scan; a moved one is forgotten.
    fn scan(&mut self, inbox: &Path, now: Instant, settle: Duration) -> std::io::Result<Vec<Ready>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(inbox)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) if m.is_file() => m,
                _ => continue,
            };
            let name = entry.file_name();
            if is_candidate(&name) {
                names.push((entry.path(), look(&meta)));
            }
        }
        self.seen.retain(|p, _| names.iter().any(|(n, _)| n == p));
        let mut ready = Vec::new();
        for (path, now_look) in names {
            let marker = marker_of(&path);
            let settled = match self.seen.get(&path) {
                Some((before, since)) if *before == now_look => {
                    now_look.len > 0 && now.duration_since(*since) >= settle
                }
                _ => {
                    self.seen.insert(path.clone(), (now_look, now));
                    false
                }
            };
            if marker.is_file() {
                ready.push((now_look.mtime, Ready { path, marker: Some(marker) }));
            } else if settled {
                ready.push((now_look.mtime, Ready { path, marker: None }));
            }
        }
        ready.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
        Ok(ready.into_iter().map(|(_, r)| r).collect())
    }

    fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

fn look(meta: &std::fs::Metadata) -> Look {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    Look { len: meta.len(), mtime: meta.modified().ok(), inode }
}

/// Hidden, temporary and marker names are never receipts.
fn is_candidate(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.')
        && !lower.ends_with(MARKER)
        && !lower.ends_with(".why.txt")
        && !TEMP_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_hidden_and_marker_names_are_skipped() {
        for n in ["pain002.xml", "回盘20261026.txt", "camt054.XML"] {
            assert!(is_candidate(OsStr::new(n)), "{n}");
        }
        for n in [".pain002.xml", "a.xml.tmp", "a.xml.part", "a.xml.filepart", "a.crdownload", "a.xml.ok", "A.PART"] {
            assert!(!is_candidate(OsStr::new(n)), "{n}");
        }
    }

    #[test]
    fn a_growing_file_is_not_ready_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.xml");
        let settle = Duration::from_millis(100);
        let t0 = Instant::now();
        let mut t = Tracker::default();
        std::fs::write(&f, "<half").unwrap();
        assert!(t.scan(dir.path(), t0, settle).unwrap().is_empty());
        std::fs::write(&f, "<half of it/>").unwrap();
        assert!(t.scan(dir.path(), t0 + settle * 2, settle).unwrap().is_empty(), "changed: starts over");
        assert!(t.scan(dir.path(), t0 + settle * 2 + settle / 2, settle).unwrap().is_empty());
        let ready = t.scan(dir.path(), t0 + settle * 3, settle).unwrap();
        assert_eq!(ready, vec![Ready { path: f.clone(), marker: None }]);
        assert_eq!(t.scan(dir.path(), t0 + settle * 3, settle).unwrap().len(), 1, "left (locked): ready again");
        std::fs::remove_file(&f).unwrap();
        assert!(t.scan(dir.path(), t0 + settle * 4, settle).unwrap().is_empty());
        assert!(t.is_empty(), "a moved file is forgotten");
    }

    #[test]
    fn a_marker_makes_a_file_ready_at_once_and_settle_zero_still_needs_two_looks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.xml"), "x").unwrap();
        std::fs::write(dir.path().join("a.xml.ok"), "").unwrap();
        std::fs::write(dir.path().join("b.xml"), "y").unwrap();
        std::fs::write(dir.path().join("orphan.xml.ok"), "").unwrap();
        std::fs::write(dir.path().join("empty.xml"), "").unwrap();
        let mut t = Tracker::default();
        let now = Instant::now();
        let ready = t.scan(dir.path(), now, Duration::ZERO).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].marker.as_deref(), Some(dir.path().join("a.xml.ok").as_path()));
        std::fs::remove_file(dir.path().join("a.xml")).unwrap();
        let ready = t.scan(dir.path(), now, Duration::ZERO).unwrap();
        assert_eq!(ready.len(), 1, "b.xml on its second look; never the empty file");
        assert!(ready[0].path.ends_with("b.xml"));
    }

    #[test]
    fn moving_never_overwrites_and_takes_the_marker_along() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("processed/20261026");
        for round in 0..3 {
            let f = dir.path().join("pain002.xml");
            std::fs::write(&f, format!("round {round}")).unwrap();
            let marker = (round == 1).then(|| {
                std::fs::write(marker_of(&f), "").unwrap();
                marker_of(&f)
            });
            move_with_marker(&Ready { path: f, marker }, &out).unwrap();
        }
        assert_eq!(std::fs::read_to_string(out.join("pain002.xml")).unwrap(), "round 0");
        assert_eq!(std::fs::read_to_string(out.join("pain002.1.xml")).unwrap(), "round 1");
        assert!(out.join("pain002.1.xml.ok").is_file());
        assert_eq!(std::fs::read_to_string(out.join("pain002.2.xml")).unwrap(), "round 2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    #[test]
    fn long_numbers_are_masked_in_messages() {
        let s = redact_numbers("第3行 账号 6222021234567890123 身份证 11010519491231002X 金额 396.00");
        assert!(!s.contains("6222021234567890123") && !s.contains("11010519491231002X"), "{s}");
        assert!(s.contains("0123") && s.contains("第3行") && s.contains("396.00"), "{s}");
    }

    #[test]
    fn only_refusals_about_the_file_send_it_to_refused() {
        let f = Path::new("/in/pain002.xml");
        assert!(is_about_file(&PipelineError::Refused("/in/pain002.xml: line 2: bad".into()), f));
        assert!(!is_about_file(&PipelineError::Refused("formats/reasons.toml: line 3".into()), f));
        let io = |p: &str| PipelineError::Io { path: p.into(), source: std::io::ErrorKind::NotFound.into() };
        assert!(is_about_file(&io("/in/pain002.xml"), f));
        assert!(!is_about_file(&io("/office/out/2026-10/returns/failures.csv"), f));
    }

    #[test]
    fn ticks_stay_between_bounds() {
        assert_eq!(tick_for(Duration::from_millis(2000)), Duration::from_millis(500));
        assert_eq!(tick_for(Duration::ZERO), Duration::from_millis(25));
        assert_eq!(tick_for(Duration::from_secs(60)), Duration::from_secs(1));
    }
}
