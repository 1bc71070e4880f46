//! The payable lines' payees (account and household), kept for R05 in sorted
//! runs of bounded size.
//!
//! Why: R05 needs every payable line of the run sorted by account. Kept in
//! memory, that is 32 bytes a line on top of the entries — 320 MB for a
//! province's ten million lines, half of what a run may use. So each reading
//! thread keeps at most [`CHUNK`] of them; past that it sorts them and writes
//! them to an unnamed temporary file (like pass 1's spill: mode 0600, gone when
//! the command ends, however it ends), and R05 reads the runs back merged, one
//! record each at a time. A run of a million lines never writes one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::reconcile::Payee;

/// Records a thread keeps in memory before it writes them out (32 MB).
const CHUNK: usize = 1 << 20;
/// One record on disk: account, household, roster, row index.
const RECORD_BYTES: usize = 16 + 8 + 4 + 4;

/// A payable line's payee and where the line is: `index` within roster `roster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Record {
    payee: Payee,
    roster: u32,
    index: u32,
}

impl Record {
    fn encode(&self) -> [u8; RECORD_BYTES] {
        let mut b = [0u8; RECORD_BYTES];
        b[..16].copy_from_slice(&self.payee.account.to_le_bytes());
        b[16..24].copy_from_slice(&self.payee.household.to_le_bytes());
        b[24..28].copy_from_slice(&self.roster.to_le_bytes());
        b[28..].copy_from_slice(&self.index.to_le_bytes());
        b
    }

    fn decode(b: &[u8; RECORD_BYTES]) -> Record {
        let num = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 16];
            a[..r.len()].copy_from_slice(&b[r]);
            u128::from_le_bytes(a)
        };
        Record {
            payee: Payee { account: num(0..16), household: num(16..24) as u64 },
            roster: num(24..28) as u32,
            index: num(28..32) as u32,
        }
    }
}

/// The payees one reading thread met, as sorted runs.
pub(super) struct PayeeRuns {
    dir: PathBuf,
    chunk: Vec<Record>,
    files: Vec<File>,
}

impl PayeeRuns {
    /// Runs that spill into `dir` (pass 1's spill folder) past [`CHUNK`].
    pub(super) fn new(dir: &Path) -> PayeeRuns {
        PayeeRuns { dir: dir.to_path_buf(), chunk: Vec::new(), files: Vec::new() }
    }

    /// Keeps the payee of row `index` of roster `roster`.
    pub(super) fn push(&mut self, payee: Payee, roster: usize, index: usize) -> io::Result<()> {
        let (Ok(roster), Ok(index)) = (u32::try_from(roster), u32::try_from(index)) else {
            return Err(io::Error::other("more rows than a run can have"));
        };
        if self.chunk.capacity() == 0 {
            self.chunk.reserve_exact(CHUNK.min(64 * 1024));
        }
        self.chunk.push(Record { payee, roster, index });
        if self.chunk.len() >= CHUNK {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the records in memory out as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        crate::fsutil::create_private_dir(&self.dir)?;
        self.chunk.sort_unstable();
        let mut out = BufWriter::with_capacity(256 * 1024, tempfile::tempfile_in(&self.dir)?);
        for r in &self.chunk {
            out.write_all(&r.encode())?;
        }
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        self.files.push(file);
        self.chunk.clear();
        Ok(())
    }
}

/// Every thread's runs merged: (payee, index in the run) in payee order.
/// `starts[r]` is roster `r`'s first index in the run. A read error ends the
/// iteration early and is kept: ask [`Merged::finish`] before trusting R05.
pub(super) struct Merged {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<(Record, usize)>>,
    starts: Vec<usize>,
    error: Option<io::Error>,
}

enum Source {
    Memory(std::vec::IntoIter<Record>),
    File(BufReader<File>),
}

impl Source {
    fn next(&mut self) -> io::Result<Option<Record>> {
        match self {
            Source::Memory(it) => Ok(it.next()),
            Source::File(f) => {
                let mut b = [0u8; RECORD_BYTES];
                match f.read_exact(&mut b) {
                    Ok(()) => Ok(Some(Record::decode(&b))),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

impl Merged {
    /// The runs merged. A run of more than [`CHUNK`] rows (`rows`) writes out
    /// the records still in memory too: they would otherwise be held while the
    /// run's rows are joined, the moment its memory peaks.
    pub(super) fn new(runs: Vec<PayeeRuns>, starts: Vec<usize>, rows: usize) -> io::Result<Merged> {
        let mut sources = Vec::new();
        for mut r in runs {
            if rows > CHUNK && !r.chunk.is_empty() {
                r.spill()?;
                r.chunk = Vec::new();
            }
            r.chunk.sort_unstable();
            sources.push(Source::Memory(std::mem::take(&mut r.chunk).into_iter()));
            sources.extend(r.files.into_iter().map(|f| Source::File(BufReader::with_capacity(64 * 1024, f))));
        }
        let mut m = Merged { heap: BinaryHeap::with_capacity(sources.len()), sources, starts, error: None };
        for s in 0..m.sources.len() {
            m.refill(s);
        }
        Ok(m)
    }

    fn refill(&mut self, s: usize) {
        match self.sources[s].next() {
            Ok(Some(r)) => self.heap.push(Reverse((r, s))),
            Ok(None) => {}
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// The first read error, if any: R05 saw only part of the payees then.
    pub(super) fn finish(self) -> io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl Iterator for Merged {
    type Item = (Payee, usize);

    fn next(&mut self) -> Option<(Payee, usize)> {
        if self.error.is_some() {
            return None;
        }
        let Reverse((r, s)) = self.heap.pop()?;
        self.refill(s);
        Some((r.payee, self.starts[r.roster as usize] + r.index as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payee(account: u128, household: u64) -> Payee {
        Payee { account, household }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = Record { payee: payee(u128::MAX - 7, u64::MAX - 3), roster: 4_000_000_000, index: 123_456_789 };
        assert_eq!(Record::decode(&r.encode()), r);
    }

    /// Runs spilled to disk and kept in memory, from two threads, merge into
    /// one sequence in payee order with each row's index in the run.
    #[test]
    fn runs_on_disk_and_in_memory_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = PayeeRuns::new(dir.path());
        let mut b = PayeeRuns::new(dir.path());
        let mut want = Vec::new();
        let starts = vec![0usize, 10 * CHUNK as usize];
        // Roster 0 on thread a (two runs on disk and a tail in memory); roster 1 on b.
        for i in 0..(2 * CHUNK + 5) {
            let account = ((i * 7919) % 1000) as u128;
            a.push(payee(account, (i % 3) as u64), 0, i).unwrap();
            want.push((payee(account, (i % 3) as u64), i));
        }
        for i in 0..1000 {
            b.push(payee(i as u128, 9), 1, i).unwrap();
            want.push((payee(i as u128, 9), starts[1] + i));
        }
        assert_eq!(a.files.len(), 2, "two full chunks written out");
        let mut merged = Merged::new(vec![a, b], starts, 0).unwrap();
        let got: Vec<(Payee, usize)> = merged.by_ref().collect();
        merged.finish().unwrap();
        let mut by_payee: Vec<_> = want.clone();
        by_payee.sort_by_key(|(p, i)| (*p, if *i >= 10 * CHUNK { 1 } else { 0 }, *i));
        assert_eq!(got.len(), want.len());
        assert_eq!(got, by_payee);
    }
}
