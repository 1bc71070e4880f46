//! The streaming bank writer: one payment line at a time, files split per plan.
//!
//! Why a plan: a file's header or summary line states its line count and total
//! (NbOfTxs/CtrlSum, 总笔数/总金额) before the first detail line, so they are fixed
//! up front and every pushed line is held against them. Why temporary names: a
//! bank file is handed to a bank; one cut short by a crash or an error elsewhere
//! must never look finished. Each file is written under a `.tmp-` name in the same
//! folder, fsynced and renamed into place when its last planned line is in; a writer
//! that fails or is dropped before [`BankWriter::finish`] removes every file it wrote.
//! A caller that writes into a staging folder can take the fsyncs on itself
//! ([`BankWriter::leave_sync_to_caller`]), off the thread that writes the lines.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{pain, text, BankFileError, BatchHead, Format, Kind, Part, PartPlan, WrittenFile};
use crate::domain::{Fen, PaymentLine};
use crate::fsutil::{create_private_dir, start_writeback, sync_dir, WritebackEvery};

/// Buffer between the line renderer and the file (one syscall per 256 KB).
const BUF: usize = 256 * 1024;

/// How each format turns a line into bytes.
enum Lines<'a> {
    Pain(pain::LineWriter),
    Text(text::LineWriter<'a>),
}

/// One planned file: its facts, name and the bytes around its detail lines.
struct PlannedFile {
    part: Part,
    name: String,
    head: Vec<u8>,
    tail: Vec<u8>,
}

/// The file being written: a temporary file behind a buffer, hashed as bytes reach it.
struct Open {
    out: BufWriter<Hashed>,
    lines: u64,
    total: Fen,
}

/// Passes bytes to the temporary file while hashing and counting them, so
/// `sha256` and `size` describe exactly what reached the file.
struct Hashed {
    file: tempfile::NamedTempFile,
    hash: sha2::Sha256,
    size: u64,
    writeback: WritebackEvery,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.as_file_mut().write(buf)?;
        self.writeback.wrote(self.file.as_file(), n);
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_file_mut().flush()
    }
}

/// Writes a batch's bank files one payment line at a time ([`Format::writer`]).
/// Dropping it without a successful [`finish`](BankWriter::finish) removes every
/// file it wrote: an error elsewhere leaves no partial bank file behind.
pub struct BankWriter<'a> {
    dir: PathBuf,
    files: Vec<PlannedFile>,
    lines: Lines<'a>,
    /// Index in `files` of the file the next line goes into.
    next: usize,
    open: Option<Open>,
    done: Vec<WrittenFile>,
    /// Set by any error: the files no longer match the plan, nothing more is written.
    failed: bool,
    finished: bool,
    /// Whether a closed file is fsynced (and its folder) before it is renamed into place.
    sync_each: bool,
}

impl<'a> BankWriter<'a> {
    pub(super) fn open(
        format: &'a Format,
        head: BatchHead<'a>,
        plan: Vec<PartPlan>,
        dir: &Path,
    ) -> Result<BankWriter<'a>, BankFileError> {
        let parts = format.parts(&head, &plan)?;
        let parts_only: Vec<&Part> = parts.iter().map(|(p, _)| p).collect();
        let lines = match &format.kind {
            Kind::Pain(_, indented) => {
                pain::check_head(&head, &parts_only)?;
                Lines::Pain(pain::LineWriter::new(&head, *indented))
            }
            Kind::Text(c) => Lines::Text(text::LineWriter::new(c, &text::FileCtx::new(&head, parts_only[0]))?),
        };
        let mut files = Vec::with_capacity(parts.len());
        for (part, name) in parts {
            let (h, t) = match &format.kind {
                Kind::Pain(v, indented) => pain::head_and_tail(*v, *indented, &head, &part),
                Kind::Text(c) => text::head_and_tail(c, &text::FileCtx::new(&head, &part))?,
            };
            files.push(PlannedFile { part, name, head: h, tail: t });
        }
        create_private_dir(dir)?;
        Ok(BankWriter {
            dir: dir.to_path_buf(),
            files,
            lines,
            next: 0,
            open: None,
            done: Vec::new(),
            failed: false,
            finished: false,
            sync_each: true,
        })
    }

    /// Closed files are renamed into place with their writeback started but
    /// not waited for: the caller makes them durable
    /// ([`crate::fsutil::sync_files`], then the folder) before anything
    /// relies on them.
    ///
    /// Why: a run writes its bank files into a staging folder that nothing
    /// trusts before the ledger commits, and the thread writing the lines feeds
    /// every other thread of the run. Its two fsyncs per file (waiting for the
    /// file's last megabytes, then the folder) stalled them all, ~0.07 s of a
    /// million-line run. The run syncs its staged files all together once
    /// they are signed (`pipeline::stage::sign_files`).
    pub fn leave_sync_to_caller(&mut self) {
        self.sync_each = false;
    }

    /// Writes one line; returns the name of the file it went into (the ledger
    /// records it per line). The line is checked first (amount, lengths, characters
    /// the encoding cannot hold…); an error names its end-to-end id and stops the
    /// writer, as does a line beyond the plan or a file whose lines do not add up
    /// to its planned total.
    pub fn push(&mut self, line: &PaymentLine) -> Result<&str, BankFileError> {
        if self.failed {
            return Err(stopped());
        }
        match self.push_inner(line) {
            Ok(i) => Ok(&self.files[i].name),
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// The files closed so far (fsynced and renamed into place), in order: a
    /// caller can sign them while later lines are still being written. They are
    /// still removed if the writer fails before [`finish`](BankWriter::finish).
    pub fn closed(&self) -> &[WrittenFile] {
        &self.done
    }

    /// Closes the last file and returns every file written. Refuses (and removes
    /// every file this writer wrote) if the lines pushed differ from the plan in
    /// count or total, per file.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, BankFileError> {
        if self.failed {
            return Err(stopped());
        }
        if let Some(f) = self.files.get(self.next) {
            let pushed = self.open.as_ref().map_or(0, |o| o.lines);
            let missing: u64 = self.files[self.next..].iter().map(|f| f.part.lines).sum::<u64>() - pushed;
            return Err(BankFileError::Other(format!(
                "bank file {}: the plan has {} lines but only {pushed} were written ({missing} missing \
                 in this batch); no bank file is kept",
                f.name, f.part.lines
            )));
        }
        self.finished = true;
        Ok(std::mem::take(&mut self.done))
    }

    /// Returns the index of the file the line went into.
    fn push_inner(&mut self, line: &PaymentLine) -> Result<usize, BankFileError> {
        let i = self.next;
        let Some(file) = self.files.get(i) else {
            let planned: u64 = self.files.iter().map(|f| f.part.lines).sum();
            return Err(BankFileError::Line {
                end_to_end_id: line.end_to_end_id.to_string(),
                message: format!("is beyond the plan of {planned} lines for this batch"),
            });
        };
        if line.amount.0 <= 0 {
            return Err(BankFileError::Line {
                end_to_end_id: line.end_to_end_id.to_string(),
                message: "amount must be above zero".into(),
            });
        }
        let seq = self.open.as_ref().map_or(0, |o| o.lines) + 1;
        let bytes = match &mut self.lines {
            Lines::Pain(w) => w.line(line)?,
            Lines::Text(w) => w.line(line, seq)?,
        };
        if self.open.is_none() {
            let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&self.dir)?;
            let mut out = BufWriter::with_capacity(
                BUF,
                Hashed { file: tmp, hash: sha2::Sha256::new(), size: 0, writeback: WritebackEvery::default() },
            );
            out.write_all(&file.head)?;
            self.open = Some(Open { out, lines: 0, total: Fen::ZERO });
        }
        let open = self.open.as_mut().expect("opened above");
        open.out.write_all(bytes)?;
        open.lines += 1;
        open.total = open
            .total
            .checked_add(line.amount)
            .ok_or_else(|| BankFileError::Other(format!("bank file {}: the total overflows", file.name)))?;
        if open.lines == file.part.lines {
            self.close_file()?;
        }
        Ok(i)
    }

    /// The current file has all its planned lines: check its total, write the
    /// tail, fsync and rename it into place.
    fn close_file(&mut self) -> Result<(), BankFileError> {
        let open = self.open.take().expect("a file is open");
        let file = &self.files[self.next];
        if open.total != file.part.total {
            return Err(BankFileError::Other(format!(
                "bank file {}: its {} lines add up to {}, but the plan (and the file's header) says {}; \
                 no bank file is kept",
                file.name, open.lines, open.total, file.part.total
            )));
        }
        let mut out = open.out;
        out.write_all(&file.tail)?;
        let hashed = out.into_inner().map_err(|e| e.into_error())?;
        if self.sync_each {
            hashed.file.as_file().sync_all()?;
        } else {
            start_writeback(hashed.file.as_file());
        }
        let path = self.dir.join(&file.name);
        hashed.file.persist(&path).map_err(|e| e.error)?;
        self.done.push(WrittenFile {
            path,
            file_name: file.name.clone(),
            lines: open.lines,
            total: open.total,
            size: hashed.size,
            sha256: hex::encode(hashed.hash.finalize()),
        });
        self.next += 1;
        if self.sync_each {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Removes the open temporary file and every file already renamed into place.
    fn fail(&mut self) {
        self.failed = true;
        self.open = None; // dropping the NamedTempFile removes it
        for f in self.done.drain(..) {
            let _ = std::fs::remove_file(&f.path);
        }
        let _ = sync_dir(&self.dir);
    }
}

impl Drop for BankWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.fail();
        }
    }
}

fn stopped() -> BankFileError {
    BankFileError::Other("the bank writer stopped at an earlier error; no bank file of this batch is kept".into())
}
