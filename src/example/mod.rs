//! `disburse init DIR`: a working example county office — config, two months of
//! rosters in the shapes clerks really hand over, approvals, a stop list and a
//! signing key — with a few planted mistakes so a newcomer sees the exception
//! list working on the first run.
//!
//! Why deterministic: the office is generated from a fixed seed and fixed dates,
//! so the same bytes come out every time (only the signing key differs) and the
//! committed copy in `fixtures/office/` can be regenerated and compared.

use std::path::{Path, PathBuf};

use crate::domain::{Code, Period, Program};
use crate::fsutil::write_atomic;
use crate::sign::SignError;

mod digits;
mod people;
mod render;
mod rosters;
mod text;

pub use crate::domain::luhn_ok;
pub use digits::uscc_ok;

/// What `write_example` made, for the caller to print and for tests to check.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleInfo {
    /// `DIR/disburse.toml`.
    pub config: PathBuf,
    /// The periods the example has rosters for (2026-10, 2026-11).
    pub periods: Vec<Period>,
    /// Every line that must be held or warned, in period, program and row order.
    pub expected: Vec<ExpectedHold>,
}

/// One line the example plants on purpose, and the code it must raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHold {
    pub period: Period,
    pub program: Program,
    /// The roster as the config names it, relative to DIR (`rosters/2026-11/dibao.xlsx`).
    pub file: String,
    /// The row a person sees in the spreadsheet (1-based; title and header rows count).
    pub row: u64,
    /// The field code of SPEC §2 the exception names (`id_number`, `account`…).
    pub field: &'static str,
    pub code: Code,
}

impl ExpectedHold {
    /// R06 compares against the previous *paid* period: it appears only once
    /// 2026-10 has been run (paid) before 2026-11 is checked or run.
    pub fn needs_previous_run(&self) -> bool {
        self.code == Code::R06
    }
}

/// Why the example office could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    #[error("{}", crate::tr!("{} 不是空目录；请换一个新目录", "{} is not empty; choose a new folder", _0.display()))]
    NotEmpty(PathBuf),
    #[error("{}", crate::tr!("{} 是一个文件，不是目录；请换一个新目录", "{} is a file, not a folder; choose a new folder", _0.display()))]
    NotADir(PathBuf),
    #[error("{}", crate::tr!("写不了 {}：{source}", "cannot write {}: {source}", path.display()))]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", crate::tr!("示例文件生成失败：{_0}", "cannot build an example file: {_0}"))]
    Build(String),
    #[error("{}", crate::tr!("{file}：字符 '{ch}' 无法用 GBK 编码写出", "{file}: the character '{ch}' cannot be written in GBK"))]
    Encoding { file: String, ch: char },
    #[error("{}", crate::tr!("示例办公室已写好，但签名密钥没有生成（{_0}）；请在该目录里运行 `disburse keygen --algorithm sm2 --out keys/signing.pem` 生成", "the example office is written but its signing key is not ({_0}); make one with `disburse keygen --algorithm sm2 --out keys/signing.pem` inside the folder"))]
    Keygen(#[from] SignError),
}

/// The periods the example office covers.
pub const PERIODS: [Period; 2] = [rosters::OCT, rosters::NOV];

/// Writes the example office into `dir` (created if missing; refused if not empty).
///
/// Every file but the key is written first and the key last, so a failing key
/// generator still leaves a complete, usable office (the error says how to make
/// the key by hand).
pub fn write_example(dir: &Path) -> Result<ExampleInfo, ExampleError> {
    check_empty(dir)?;
    let info = write_files(dir)?;
    crate::sign::keygen("sm2", &dir.join("keys/signing.pem"))?;
    Ok(info)
}

/// Writes everything except the signing key. Deterministic.
pub fn write_files(dir: &Path) -> Result<ExampleInfo, ExampleError> {
    let office = rosters::build();
    let uscc = digits::example_uscc(people::COUNTY, "00253117");
    put(dir, "disburse.toml", text::config_toml(&uscc).as_bytes())?;
    put(dir, "README.md", text::README.as_bytes())?;
    for r in &office.rosters {
        put(dir, &r.file(), &render::roster_bytes(r)?)?;
    }
    for period in PERIODS {
        let of_period: Vec<_> = office.rosters.iter().filter(|r| r.period == period).collect();
        put(dir, &format!("rosters/{period}/approvals.csv"), render::approvals_csv(&of_period)?.as_bytes())?;
    }
    put(dir, "stops.csv", render::stops_csv(&office.stops)?.as_bytes())?;
    put(dir, "lists/cremation.csv", render::cremations_csv(&office.cremations)?.as_bytes())?;
    let expected = expected(&office.rosters);
    put(dir, "expected_exceptions.csv", render::expected_csv(&expected)?.as_bytes())?;
    Ok(ExampleInfo { config: dir.join("disburse.toml"), periods: PERIODS.to_vec(), expected })
}

fn check_empty(dir: &Path) -> Result<(), ExampleError> {
    if dir.is_file() {
        return Err(ExampleError::NotADir(dir.to_path_buf()));
    }
    let io = |source| ExampleError::Io { path: dir.to_path_buf(), source };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(ExampleError::NotEmpty(dir.to_path_buf())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::fsutil::create_private_dir(dir).map_err(io),
        Err(e) => Err(io(e)),
    }
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), ExampleError> {
    let path = dir.join(rel);
    write_atomic(&path, bytes).map_err(|source| ExampleError::Io { path, source })
}

/// The planted lines, from how the rosters were built (no validator involved).
fn expected(rosters: &[rosters::Roster]) -> Vec<ExpectedHold> {
    let mut out = Vec::new();
    for r in rosters {
        for (i, l) in r.lines.iter().enumerate() {
            for &(field, code) in &l.expect {
                out.push(ExpectedHold {
                    period: r.period,
                    program: r.program,
                    file: r.file(),
                    row: r.row(i),
                    field,
                    code,
                });
            }
        }
    }
    out.sort_by_key(|a| (a.period, a.program, a.row, a.code));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_folder_with_something_in_it() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("x"), b"x").unwrap();
        let e = write_example(t.path()).unwrap_err();
        assert!(e.to_string().ends_with("is not empty; choose a new folder"), "{e}");
        assert!(matches!(e, ExampleError::NotEmpty(_)));
    }

    #[test]
    fn same_bytes_twice() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ia = write_files(a.path()).unwrap();
        let ib = write_files(b.path()).unwrap();
        assert_eq!(ia.expected, ib.expected);
        for f in ["disburse.toml", "rosters/2026-11/dibao.xlsx", "rosters/2026-10/wubao.csv", "stops.csv"] {
            assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap(), "{f}");
        }
    }

    #[test]
    fn config_parses_and_every_program_is_due_in_both_months() {
        let t = tempfile::tempdir().unwrap();
        let info = write_files(t.path()).unwrap();
        let cfg = crate::config::Config::load(&info.config).unwrap();
        assert!(uscc_ok(&cfg.office.uscc), "{}", cfg.office.uscc);
        assert_eq!(cfg.change_warn_share, rust_decimal::Decimal::new(2, 1));
        for p in PERIODS {
            assert_eq!(cfg.due_programs(p).len(), 6, "{p}");
            for pc in cfg.due_programs(p) {
                assert!(cfg.resolve(&pc.roster, p).is_file(), "{} {p}", pc.program);
            }
            assert!(cfg.resolve(&cfg.approvals, p).is_file());
        }
        assert_eq!(cfg.programs[&Program::Youfu].payer, "veterans");
    }

    #[test]
    fn expected_list_has_every_planted_kind() {
        let t = tempfile::tempdir().unwrap();
        let info = write_files(t.path()).unwrap();
        let nov: Vec<Code> = info.expected.iter().filter(|e| e.period == PERIODS[1]).map(|e| e.code).collect();
        use Code::*;
        for c in [V01, V02, V03, V04, V06, W01, R01, R02, R03, R05, R06] {
            assert!(nov.contains(&c), "November lacks {c}");
        }
        assert_eq!(nov.iter().filter(|c| **c == R01).count(), 2);
        assert_eq!(nov.iter().filter(|c| **c == R02).count(), 2);
        assert_eq!(nov.iter().filter(|c| **c == R05).count(), 2);
        let oct = info.expected.iter().filter(|e| e.period == PERIODS[0]).count();
        assert!(oct >= 1 && oct < nov.len());
    }
}
