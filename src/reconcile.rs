//! Reconcile: checks rows against each other and against the world outside the
//! roster (SPEC §3 R01–R03, R05, R07; R04 and R06 need the ledger and are applied
//! by the pipeline with the sets the ledger hands it).
//!
//! Works on compact keys (ID number, account), never re-reading rows.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use crate::domain::{Approval, Code, Exception, Field, Program};
use crate::validate::Checked;

/// A person stopped from a date on (death, prison, cancelled, moved).
#[derive(Debug, Clone, PartialEq)]
pub struct StopEntry {
    pub id_number: String,
    pub reason: String,
    pub effective: chrono::NaiveDate,
}

/// Runs R01, R02, R03 and R05 over all rows of the run, holding lines in place.
pub fn reconcile(rows: &mut [Checked], stops: &[StopEntry], period_start: chrono::NaiveDate) {
    hold_duplicates_in_program(rows);
    hold_dibao_wubao_overlap(rows);
    hold_stopped(rows, stops, period_start);
    hold_shared_accounts(rows);
}

fn id_key(c: &Checked) -> Option<&str> {
    c.id.as_ref().map(|i| i.as_str())
}

/// R01: the same person twice in one program's roster: every copy is held.
fn hold_duplicates_in_program(rows: &mut [Checked]) {
    let groups = shared_keys(rows.iter().enumerate().filter_map(|(i, c)| id_key(c).map(|id| ((c.program, id), i))));
    for group in groups {
        let where_rows: Vec<String> = group.iter().map(|&i| rows[i].row.to_string()).collect();
        for &i in &group {
            let msg = format!(
                "同一人在本名册中出现{}次（第{}行），全部暂缓：请核实后只保留一行",
                group.len(),
                where_rows.join("、")
            );
            rows[i].hold(Code::R01, Field::IdNumber, msg);
        }
    }
}

/// The rows (ascending) of every key that more than one row has. Sorting
/// borrowed keys instead of hashing them into per-key vectors keeps a
/// million-row roster from needing a map entry and a vector per row.
fn shared_keys<K: Ord>(keyed: impl Iterator<Item = (K, usize)>) -> Vec<Vec<usize>> {
    let mut all: Vec<(K, usize)> = keyed.collect();
    all.sort_unstable();
    let mut groups = Vec::new();
    for run in all.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        groups.push(run.iter().map(|(_, i)| *i).collect());
    }
    groups
}

/// R02: the same person in both 低保 and 特困 for the same period: both held.
fn hold_dibao_wubao_overlap(rows: &mut [Checked]) {
    let ids_of = |p: Program, rows: &[Checked]| -> HashSet<String> {
        rows.iter().filter(|c| c.program == p).filter_map(|c| id_key(c).map(str::to_string)).collect()
    };
    let dibao = ids_of(Program::Dibao, rows);
    let wubao = ids_of(Program::Wubao, rows);
    for c in rows.iter_mut() {
        let other = match c.program {
            Program::Dibao => &wubao,
            Program::Wubao => &dibao,
            _ => continue,
        };
        if id_key(c).is_some_and(|id| other.contains(id)) {
            let msg =
                "同一人同时在低保和特困供养名册中，两边都暂缓：低保与特困不能同时享受，请核实后只保留一项".to_string();
            c.hold(Code::R02, Field::IdNumber, msg);
        }
    }
}

/// R03: a person on the stop list, stopped on or before the period's first day.
fn hold_stopped(rows: &mut [Checked], stops: &[StopEntry], period_start: chrono::NaiveDate) {
    let stopped: HashMap<&str, &StopEntry> =
        stops.iter().filter(|s| s.effective <= period_start).map(|s| (s.id_number.as_str(), s)).collect();
    for c in rows.iter_mut() {
        let Some(s) = id_key(c).and_then(|id| stopped.get(id)) else {
            continue;
        };
        let why = match s.reason.as_str() {
            "death" => "死亡",
            "prison" => "服刑",
            "cancelled" => "已注销待遇",
            "moved" => "迁出",
            other => other,
        };
        let msg = format!("此人在停发名单中（{why}，{}起停发），不予发放：如有误请先更正停发名单", s.effective);
        c.hold(Code::R03, Field::IdNumber, msg);
    }
}

/// R05: one account receiving for different people who are not one household and
/// not an institution. One household = every line on the account names the same
/// payee (户名) in the same village, e.g. a guardian receiving for two children.
fn hold_shared_accounts(rows: &mut [Checked]) {
    let groups =
        shared_keys(rows.iter().enumerate().filter_map(|(i, c)| c.line.as_ref().map(|l| (l.account.as_str(), i))));
    for group in groups {
        let lines: Vec<_> = group.iter().filter_map(|&i| rows[i].line.as_ref()).collect();
        let people: HashSet<&str> = lines.iter().map(|l| l.id_number.as_str()).collect();
        if people.len() < 2 {
            continue;
        }
        let institution = lines.iter().all(|l| l.payee_type == crate::domain::PayeeType::Institution);
        let first = lines[0];
        let household = lines.iter().all(|l| l.payee_name == first.payee_name && l.village == first.village);
        if institution || household {
            continue;
        }
        let n = people.len();
        for i in group {
            let msg =
                format!("同一银行账号为{n}个不同的人收款，且不是同一户也不是供养机构：请核实账号是否录错，防止冒领");
            rows[i].hold(Code::R05, Field::Account, msg);
        }
    }
}

/// R07: compares a program's roster with its approval line. `None` when they
/// match; otherwise the exception that refuses the program.
pub fn check_approval(
    program: Program,
    file: &str,
    approval: Option<&Approval>,
    count: u64,
    total: Decimal,
) -> Option<Exception> {
    let message = match approval {
        None => format!(
            "审批表中没有{}（{}）这一行：没有审批不能发放，整个项目不发放",
            program.chinese_name(),
            program.code()
        ),
        Some(a) if a.count != count || a.total != total => format!(
            "名册与审批不符：审批{}笔、{}元，名册实有{}笔、{}元（差{}元）；整个项目不发放，请核对名册或审批表",
            a.count,
            a.total,
            count,
            total,
            total - a.total
        ),
        Some(_) => return None,
    };
    Some(Exception {
        program,
        file: file.to_string(),
        row: 0,
        field: "",
        code: Code::R07,
        name: String::new(),
        id_number_masked: String::new(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cell, Fen, RosterRow, SourcePos, TextEncoding, TextRules};
    use crate::validate::{check_row, Rules};

    fn checked(program: Program, row: u64, name: &str, id: &str, account: &str, payee: &str) -> Checked {
        let r = RosterRow {
            program,
            pos: SourcePos { file: "r.csv".into(), row },
            cells: vec![
                (Field::Township, Cell::Text("镇".into())),
                (Field::Village, Cell::Text("村".into())),
                (Field::Name, Cell::Text(name.into())),
                (Field::IdNumber, Cell::Text(id.into())),
                (Field::Account, Cell::Text(account.into())),
                (Field::Amount, Cell::Text("100".into())),
                (Field::PayeeName, Cell::Text(payee.into())),
                (Field::PayeeType, Cell::Text(if payee == name { "self" } else { "guardian" }.into())),
            ],
        };
        check_row(&r, &Rules { cap: Fen(1_000_000), text: TextRules { encoding: TextEncoding::Utf8, name_max: None } })
    }

    const A: &str = "11010519491231002X";
    const B: &str = "360426199101010071";
    const C: &str = "110101202311012176";

    fn codes(c: &Checked) -> Vec<Code> {
        c.exceptions.iter().map(|e| e.code).collect()
    }

    #[test]
    fn duplicates_overlap_stops_accounts() {
        let mut rows = vec![
            checked(Program::Dibao, 2, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Dibao, 3, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Wubao, 2, "李四", B, "6214831150131511", "李四"),
            checked(Program::Dibao, 4, "李四", B, "33001610000053012345", "李四"),
            checked(Program::Youfu, 2, "王五", C, "1234567890", "王五"),
            checked(Program::Yimin, 2, "赵六", "360426199101010071", "1234567890", "赵六"),
        ];
        let stops =
            vec![StopEntry { id_number: C.into(), reason: "death".into(), effective: "2026-10-15".parse().unwrap() }];
        reconcile(&mut rows, &stops, "2026-11-01".parse().unwrap());
        assert_eq!(codes(&rows[0]), vec![Code::R01]);
        assert_eq!(codes(&rows[1]), vec![Code::R01]);
        assert_eq!(codes(&rows[2]), vec![Code::R02]);
        assert_eq!(codes(&rows[3]), vec![Code::R02]);
        assert_eq!(codes(&rows[4]), vec![Code::R03]);
        // 王五 is already held by R03 so the account is no longer shared by two payable people.
        assert!(rows[5].line.is_some());
    }

    #[test]
    fn shared_account_rules() {
        let mut rows = vec![
            checked(Program::Dibao, 2, "张三", A, "1234567890", "张三"),
            checked(Program::Youfu, 2, "王五", C, "1234567890", "王五"),
        ];
        reconcile(&mut rows, &[], "2026-11-01".parse().unwrap());
        assert_eq!(codes(&rows[0]), vec![Code::R05]);
        let mut rows = vec![
            checked(Program::Yiwubing, 2, "张三", A, "1234567890", "王大"),
            checked(Program::Yiwubing, 3, "王五", C, "1234567890", "王大"),
        ];
        reconcile(&mut rows, &[], "2026-11-01".parse().unwrap());
        assert!(rows.iter().all(|r| r.line.is_some()), "one household (same payee, same village) may share");
    }

    #[test]
    fn approval_must_match_to_the_fen() {
        let a = Approval {
            program: Program::Dibao,
            count: 2,
            total: "100.00".parse().unwrap(),
            reference: String::new(),
            approved_by: String::new(),
            approved_on: String::new(),
        };
        assert!(check_approval(Program::Dibao, "f", Some(&a), 2, "100".parse().unwrap()).is_none());
        let e = check_approval(Program::Dibao, "f", Some(&a), 2, "100.01".parse().unwrap()).unwrap();
        assert_eq!(e.code, Code::R07);
        assert!(e.message.contains("0.01"));
        assert!(check_approval(Program::Dibao, "f", None, 2, "100".parse().unwrap()).is_some());
    }
}
