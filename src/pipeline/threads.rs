//! The threads of a run and the channels between them, in one place.
//!
//! A run reads its rosters twice (pass 1 checks and decides, pass 2 pays) and
//! keeps both cores busy; every channel is bounded except the one to the
//! signer, whose messages are the closed files the plan already bounds, so
//! memory does not grow with the number of lines.
//!
//! ```text
//! pass 1 (prepare.rs)    main + 1 helper take rosters, costliest first; each
//!                        checks rows and spills them (validate::spill)
//!
//! pass 2 (stage.rs)      main: reads the spill back, replays pass 1's decisions
//!                          │ lines, chunks of 4096 (4 in flight)
//!                          ▼
//!                        bank: bank files, CSV reports ──rows──▶ roster / notice
//!                          │                                   workbook threads
//!                          ├─ closed files (unbounded) ──▶ sign: .sig per file,
//!                          │                               then syncs them all
//!                          │ ToLedger::Lines (8 in flight), then Commit
//!                          ▼
//!                        ledger: one transaction, commits with the manifest
//!                          │ recorded chunks (8) back to main, to be freed
//!                          ▼ there; emptied chunks back to bank ([`Spares`])
//! ```
//!
//! A thread that stops early makes the others stop at their next send; each
//! reports why with a [`Stopped`], and the orchestrator shows the first cause
//! (the thread's own error) rather than the knock-on "… stopped".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use super::record::RecordWriter;
use super::{fault, io_err, PipelineError};
use crate::bankfile::{Format, WrittenFile};
use crate::domain::Program;
use crate::ledger::{FileRecord, Ledger, LedgerLine, NewRun};
use crate::sign::manifest::{self, RecordEntry};
use crate::sign::Signer;

/// Why a thread of the run stopped before its work was done: the thread's own
/// error, if it has one, is reported instead.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("{}", crate::tr!("银行文件签名中断（原因见后）", "the bank file signer stopped (its error follows)"))]
    Signer,
    #[error("{}", crate::tr!("银行文件写出中断（原因见后）", "the bank file writer stopped (its error follows)"))]
    Writer,
    #[error("{}", crate::tr!("台账记录中断（原因见后）", "the ledger stopped recording (its error follows)"))]
    Ledger,
    #[error("{}", crate::tr!("发放还没完成，台账记录就中断了", "the ledger stopped recording before the run was complete"))]
    LedgerEarly,
    #[error("{}", crate::tr!("无法启动 {name} 线程（{source}）：机器资源不足；请稍后再试", "cannot start the {name} thread ({source}): the machine is out of resources; try again"))]
    NoThread { name: &'static str, source: std::io::Error },
}

/// Starts a named thread of the run inside `scope`.
pub(super) fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<ScopedJoinHandle<'scope, T>, Stopped> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f)
        .map_err(|source| Stopped::NoThread { name, source })
}

/// Waits for a thread; a panic in it goes on in this one.
pub(super) fn join<T>(h: ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Ledger lines per message to the recording thread.
pub(super) const CHUNK: usize = 4096;

/// Emptied chunks going back to the thread that fills them.
///
/// Why: a chunk of [`CHUNK`] lines is over a megabyte. Allocated afresh for
/// every chunk, the allocator took its pages from the system and gave them back
/// when the chunk was freed, and faulting them in again was three quarters of a
/// million-line run's ~200,000 page faults (~0.25 CPU-seconds).
pub(super) struct Spares<T> {
    pub(super) back: SyncSender<Vec<T>>,
    pub(super) ready: Receiver<Vec<T>>,
}

impl<T> Spares<T> {
    pub(super) fn new() -> Spares<T> {
        let (back, ready) = sync_channel(4);
        Spares { back, ready }
    }

    /// An empty chunk: a returned one if there is one.
    pub(super) fn take(ready: &Receiver<Vec<T>>) -> Vec<T> {
        ready.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK))
    }

    /// Returns `chunk`, emptied; it is freed if enough are waiting.
    pub(super) fn give(back: &SyncSender<Vec<T>>, mut chunk: Vec<T>) {
        chunk.clear();
        let _ = back.try_send(chunk);
    }
}

/// What the ledger thread is told.
pub(super) enum ToLedger {
    Lines(Vec<LedgerLine>),
    /// Every line is sent: finish the batch's payment record and answer with its entry.
    Seal(SyncSender<Result<RecordEntry, PipelineError>>),
    Commit(Vec<FileRecord>, String),
}

/// The ledger thread: records lines as they come, commits on `Commit`. If the
/// channel closes first, the run is abandoned (rolled back) and `None` returned.
///
/// Recorded chunks go back through `used` to be freed by the thread that reads
/// the rosters, which allocated most of their strings: this thread is the
/// longest of a run, and freeing another thread's memory was a tenth of it.
///
/// It also writes the batch's payment record ([`RecordWriter`]): every line
/// passes here with all the ledger keeps of it.
pub(super) fn record(
    ledger: &mut (dyn Ledger + Send),
    run: &NewRun,
    rx: Receiver<ToLedger>,
    used: SyncSender<Vec<LedgerLine>>,
) -> Result<Option<i64>, PipelineError> {
    let mut w = ledger.begin_run(run)?;
    let mut rec = Some(RecordWriter::create(&run.staging_dir, &run.batch)?);
    for msg in rx {
        match msg {
            ToLedger::Lines(lines) => {
                w.add_lines(&lines)?;
                rec.as_mut().ok_or(Stopped::Ledger)?.add(&lines)?;
                let _ = used.try_send(lines); // if nobody takes them, they are freed here
            }
            ToLedger::Seal(reply) => {
                let entry = rec.take().ok_or(Stopped::Ledger)?.finish();
                let _ = reply.send(entry);
            }
            ToLedger::Commit(files, sha) => {
                tracing::debug!(event = "phase", phase = "ledger_lines_recorded");
                return Ok(w.commit(&files, &sha).map(Some)?);
            }
        }
    }
    Ok(None)
}

/// The `sign` thread: signs each finished bank file and records it for the
/// manifest, in the order the files were written; then makes the bank files,
/// their signatures and their folder durable, all together, before the run's
/// manifest is written and its ledger transaction commits.
///
/// Why all together at the end: the files are in the staging folder, which
/// nothing trusts before that commit. Synced one by one (the file, its `.sig`,
/// the folder), a run's ~150 files were ~450 waits for the disk: on the `bank`
/// thread they stalled every thread behind it, and on this one they left it
/// behind the last line by 50–150 ms. Their writeback is started as each is
/// closed, so the sync at the end mostly confirms what is already written.
pub(super) fn sign_files(
    rx: Receiver<(Program, Vec<WrittenFile>)>,
    signer: &Signer,
    formats: &BTreeMap<Program, Format>,
) -> Result<Vec<FileRecord>, PipelineError> {
    let mut files = Vec::new();
    let mut to_sync: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (program, written) in rx {
        for w in written {
            if let Some(dir) = w.path.parent().filter(|d| !dirs.iter().any(|k| k == d)) {
                dirs.push(dir.to_path_buf());
            }
            let sig = manifest::sign_staged_file(&w.path, signer)?;
            to_sync.extend([w.path, sig]);
            fault::point("signed");
            files.push(FileRecord {
                name: w.file_name,
                program,
                format: formats[&program].name().to_string(),
                lines: w.lines,
                total: w.total,
                sha256: w.sha256,
            });
        }
    }
    crate::fsutil::sync_files(&to_sync).map_err(|(path, e)| io_err(path)(e))?;
    for dir in &dirs {
        crate::fsutil::sync_dir(dir).map_err(io_err(dir))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk given back comes out of `take` empty, with its allocation kept;
    /// with none waiting, `take` makes one of a chunk's size; and past the
    /// channel's few places a returned chunk is simply freed.
    #[test]
    fn spare_chunks_are_reused_emptied() {
        let spares = Spares::<String>::new();
        let mut v = Spares::take(&spares.ready);
        assert_eq!((v.len(), v.capacity()), (0, CHUNK));
        v.push("line".into());
        let at = v.as_ptr();
        Spares::give(&spares.back, v);
        let again = Spares::take(&spares.ready);
        assert_eq!((again.len(), again.as_ptr()), (0, at));
        for _ in 0..10 {
            Spares::give(&spares.back, vec![String::new()]);
        }
        assert_eq!(spares.ready.try_iter().count(), 4);
    }
}
