//! A small office written from scratch: 低保 and 特困 rosters of chosen people
//! (by [`super::gen`] number), with their approvals, so that a test says who is
//! on which roster in which month and nothing else.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::gen;

pub struct Office {
    pub dir: PathBuf,
    pub config: PathBuf,
}

/// An office with `dibao` paid monthly and `wubao` on `wubao_schedule` (a TOML
/// value: `"monthly"`, `"quarterly"`, …), both as pain.001 files.
pub fn office(root: &Path, wubao_schedule: &str) -> Office {
    let dir = root.join("office");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let key = dir.join("keys/signing.pem");
    super::expect(&["keygen", "--algorithm", "ed25519", "--out", key.to_str().unwrap()], 0);
    let config = dir.join("disburse.toml");
    let mut toml = String::from(
        r#"[office]
name = "测试县民政局"
uscc = "113307290025311719"
[ledger]
path = "state/ledger.db"
[output]
dir = "out"
[signing]
algorithm = "ed25519"
key = "keys/signing.pem"
[inputs]
approvals = "rosters/{period}/approvals.csv"
stops = "stops.csv"
[payers.main]
name = "测试县民政局社会救助资金专户"
account = "33001610000053012345"
bank_code = "105331000011"
"#,
    );
    for (program, schedule) in [("dibao", "\"monthly\""), ("wubao", wubao_schedule)] {
        write!(
            toml,
            "[programs.{program}]\nschedule = {schedule}\npayer = \"main\"\nformat = \"pain001-v09\"\n\
             roster = \"rosters/{{period}}/{program}.csv\"\ncap = \"5000.00\"\npurpose = \"BENE\"\n"
        )
        .unwrap();
    }
    std::fs::write(&config, toml).unwrap();
    std::fs::write(dir.join("stops.csv"), "id_number,reason,effective\n").unwrap();
    Office { dir, config }
}

impl Office {
    pub fn c(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Writes the rosters (and approvals) of `period`: each program with the
    /// people numbered in its list; a program with `None` is left out.
    pub fn rosters(&self, period: &str, dibao: Option<&[u64]>, wubao: Option<&[u64]>) {
        let dir = self.dir.join("rosters").join(period);
        std::fs::create_dir_all(&dir).unwrap();
        let mut approvals = String::from("program,count,total,reference,approved_by,approved_on\n");
        for (program, people) in [("dibao", dibao), ("wubao", wubao)] {
            let path = dir.join(format!("{program}.csv"));
            let Some(people) = people else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let mut csv = String::from("乡镇,村(社区),姓名,身份证号,银行账号,金额\n");
            for &n in people {
                let (t, v) = gen::place(n);
                writeln!(csv, "{t},{v},{},{},{},{}", gen::name(n), gen::id_number(n), gen::card(n), amount(n)).unwrap();
            }
            let total: u64 = people.iter().map(|&n| 300 + n % 50).sum();
            writeln!(approvals, "{program},{},{total}.00,R,X,2026-01-01", people.len()).unwrap();
            std::fs::write(&path, csv).unwrap();
        }
        std::fs::write(dir.join("approvals.csv"), approvals).unwrap();
    }

    pub fn run(&self, period: &str, code: i32) -> std::process::Output {
        super::expect(&["run", "--config", self.c(), "--period", period], code)
    }

    /// The rows of `<period>/reports/<file>` after the header.
    pub fn report(&self, period: &str, file: &str) -> Vec<Vec<String>> {
        let mut rows = super::read_csv(&self.dir.join("out").join(period).join("reports").join(file));
        rows.remove(0);
        rows
    }

    /// (program, ID number) of every line the ledger holds for `period`.
    pub fn paid(&self, period: &str) -> Vec<(String, String)> {
        use disburse::ledger::Ledger;
        let ledger = disburse::ledger::SqliteLedger::open(&self.dir.join("state/ledger.db")).unwrap();
        let lines = ledger.payments_of_period(period.parse().unwrap()).unwrap();
        lines.into_iter().map(|l| (l.program.code().to_string(), l.id_number.to_string())).collect()
    }
}

/// Person n's amount, whole yuan.
pub fn amount(n: u64) -> u64 {
    300 + n % 50
}
