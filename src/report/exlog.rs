//! A run's exceptions kept in a temporary file as they come, with their counts
//! by code in memory.
//!
//! Why: `check` of a period that is already paid holds every line as R04 — a
//! million exceptions for a million lines, 440 MB as a list — and exceptions.csv
//! and report.json each need them only once, in order. The file has no name (it
//! is freed however the command ends) and holds what the reports show: masked ID
//! numbers, never full ones.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::snapshot::{exception_of, ExceptionRow};
use super::ReportError;
use crate::domain::{Code, Exception};

/// Exceptions being collected (see the module doc).
pub struct ExceptionLog {
    out: BufWriter<File>,
    counted: Counts,
}

/// How many exceptions, in all and by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub len: u64,
    pub by_code: BTreeMap<Code, u64>,
}

impl Counts {
    fn add(&mut self, code: Code) {
        self.len += 1;
        *self.by_code.entry(code).or_default() += 1;
    }
}

/// The exceptions a finished [`ExceptionLog`] holds.
#[derive(Debug)]
pub struct Exceptions {
    file: Option<File>,
    counted: Counts,
}

/// The exceptions of a report: a list in memory, or a finished log.
#[derive(Debug, Clone, Copy)]
pub enum ExceptionSource<'a> {
    List(&'a [Exception]),
    Logged(&'a Exceptions),
}

impl ExceptionLog {
    /// A new log in a temporary file in `dir` (created if missing).
    pub fn create(dir: &Path) -> Result<ExceptionLog, ReportError> {
        let io_err = |e| ReportError::io(dir, e);
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let file = tempfile::tempfile_in(dir).map_err(io_err)?;
        Ok(ExceptionLog { out: BufWriter::with_capacity(1 << 16, file), counted: Counts::default() })
    }

    /// Adds `e` after those already logged: its code, a tab, then the
    /// exception as JSON (a list that leaves a code out skips its lines unread).
    pub fn push(&mut self, e: &Exception) -> io::Result<()> {
        let row = (e.program, &e.file, e.row, e.field, e.code.as_str(), &e.name, &e.id_number_masked, &e.message);
        self.out.write_all(e.code.as_str().as_bytes())?;
        self.out.write_all(b"\t")?;
        serde_json::to_writer(&mut self.out, &row)?;
        self.out.write_all(b"\n")?;
        self.counted.add(e.code);
        Ok(())
    }

    /// Flushes the log, to be read back.
    pub fn finish(self) -> io::Result<Exceptions> {
        let counted = self.counted;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Exceptions { file: Some(file), counted })
    }
}

impl Exceptions {
    /// No exceptions.
    pub fn none() -> Exceptions {
        Exceptions { file: None, counted: Counts::default() }
    }
}

impl ExceptionSource<'_> {
    pub fn counts(&self) -> Counts {
        match self {
            ExceptionSource::List(list) => {
                let mut c = Counts::default();
                list.iter().for_each(|e| c.add(e.code));
                c
            }
            ExceptionSource::Logged(x) => x.counted.clone(),
        }
    }

    /// Calls `f` with each exception, in the order they were logged.
    pub fn for_each(&self, f: &mut dyn FnMut(&Exception) -> io::Result<()>) -> io::Result<()> {
        self.for_each_but(None, f)
    }

    /// [`ExceptionSource::for_each`] but for the exceptions of code `skip`,
    /// which a log passes over without reading them (a million R04 lines of a
    /// period already paid, which exceptions.xlsx leaves out).
    pub fn for_each_but(&self, skip: Option<Code>, f: &mut dyn FnMut(&Exception) -> io::Result<()>) -> io::Result<()> {
        let file = match self {
            ExceptionSource::List(list) => return list.iter().filter(|e| Some(e.code) != skip).try_for_each(f),
            ExceptionSource::Logged(Exceptions { file: None, .. }) => return Ok(()),
            ExceptionSource::Logged(Exceptions { file: Some(file), .. }) => file,
        };
        let damaged = || io::Error::new(io::ErrorKind::InvalidData, "the temporary list of exceptions is damaged");
        let skip = skip.map(|c| c.as_str().as_bytes());
        let mut lines = BufReader::with_capacity(1 << 16, At { file, pos: 0 });
        let mut line = Vec::new();
        loop {
            line.clear();
            if lines.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let tab = line.iter().position(|&b| b == b'\t').ok_or_else(damaged)?;
            if Some(&line[..tab]) == skip {
                continue;
            }
            let row: ExceptionRow = serde_json::from_slice(&line[tab + 1..])?;
            let e = exception_of(row).ok_or_else(damaged)?;
            f(&e)?;
        }
    }
}

impl<'a> From<&'a Exceptions> for ExceptionSource<'a> {
    fn from(x: &'a Exceptions) -> Self {
        ExceptionSource::Logged(x)
    }
}

/// Reads a shared file from its own position (so a `&File` can be read twice).
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Program;

    fn exception(i: u64, code: Code) -> Exception {
        Exception {
            program: Program::Yimin,
            file: "rosters/2026-11/yimin.csv".into(),
            row: i,
            field: "amount",
            code,
            name: format!("张{i}\n\"引号\""),
            id_number_masked: "110105********0021".into(),
            message: "已发放，本次跳过".into(),
        }
    }

    fn collect(src: ExceptionSource) -> Vec<Exception> {
        let mut out = Vec::new();
        src.for_each(&mut |e| {
            out.push(e.clone());
            Ok(())
        })
        .unwrap();
        out
    }

    /// What goes in comes back, in order and whole (twice: the log is read once
    /// for exceptions.csv and once for report.json), with the same counts as a list.
    #[test]
    fn a_log_gives_back_what_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let list: Vec<Exception> =
            (1..=2000).map(|i| exception(i, if i % 3 == 0 { Code::R04 } else { Code::V02 })).collect();
        let mut log = ExceptionLog::create(dir.path()).unwrap();
        list.iter().for_each(|e| log.push(e).unwrap());
        let logged = log.finish().unwrap();
        let src = ExceptionSource::from(&logged);
        assert_eq!(collect(src), list);
        assert_eq!(collect(src), list);
        assert_eq!(src.counts(), ExceptionSource::List(&list).counts());
        assert_eq!(src.counts().by_code[&Code::R04], 666);
        let mut but = Vec::new();
        src.for_each_but(Some(Code::R04), &mut |e| {
            but.push(e.clone());
            Ok(())
        })
        .unwrap();
        let not_r04: Vec<Exception> = list.iter().filter(|e| e.code != Code::R04).cloned().collect();
        assert_eq!(but, not_r04);
        let mut from_list = Vec::new();
        ExceptionSource::List(&list)
            .for_each_but(Some(Code::R04), &mut |e| {
                from_list.push(e.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(from_list, not_r04);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "the log has no name");
        assert!(collect(ExceptionSource::from(&Exceptions::none())).is_empty());
    }
}
