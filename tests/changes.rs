//! changes.csv against the last paid period (SPEC §4), on both ledgers: who was
//! paid then and is not on the roster now is listed as `dropped` — masked ID
//! number, name, and what they were paid then (every line of theirs that stands,
//! added up) — in ID number order; who stays is not, and who is new is `new`.

mod common;

use std::fmt::Write as _;

use common::pg::Backend;
use common::{gen, small};

/// Writes the 低保 roster and approvals of `period`: a line per (person, amount
/// in yuan, line type) — an empty type is a basic line.
fn roster(o: &small::Office, period: &str, lines: &[(u64, u64, &str)]) {
    let dir = o.dir.join("rosters").join(period);
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("乡镇,村(社区),姓名,身份证号,银行账号,金额,项目类型\n");
    for &(n, yuan, kind) in lines {
        let (t, v) = gen::place(n);
        writeln!(csv, "{t},{v},{},{},{},{yuan}.00,{kind}", gen::name(n), gen::id_number(n), gen::card(n)).unwrap();
    }
    std::fs::write(dir.join("dibao.csv"), csv).unwrap();
    let total: u64 = lines.iter().map(|l| l.1).sum();
    let approvals = format!(
        "program,count,total,reference,approved_by,approved_on\ndibao,{},{total}.00,R,X,2026-01-01\n",
        lines.len()
    );
    std::fs::write(dir.join("approvals.csv"), approvals).unwrap();
}

/// The `dropped` rows of a period's changes.csv, and the masked IDs of its `new` ones.
fn dropped_and_new(o: &small::Office, period: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let rows = o.report(period, "changes.csv");
    let dropped = rows.iter().filter(|r| r[3] == "dropped").cloned().collect();
    let new = rows.iter().filter(|r| r[3] == "new").map(|r| r[1].clone()).collect();
    (dropped, new)
}

fn people_dropped_since_the_last_paid_month_are_listed_on(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    // 特困 is paid in January only: these months are 低保's alone.
    let o = small::office(tmp.path(), "[1]");
    if !common::pg::use_backend(&o.config, backend, "330729") {
        return;
    }
    let a = small::amount;
    // Person 1 has a basic line and a one-off (一次性) in February.
    roster(
        &o,
        "2026-02",
        &[(1, a(1), ""), (1, 50, "一次性"), (2, a(2), ""), (3, a(3), ""), (4, a(4), ""), (6, a(6), "")],
    );
    o.run("2026-02", 0);
    assert!(o.report("2026-02", "changes.csv").is_empty(), "nothing paid before February");
    // March: 1, 2 and 4 are gone, 3 and 6 stay, 5 is new.
    roster(&o, "2026-03", &[(3, a(3), ""), (5, a(5), ""), (6, a(6), "")]);
    o.run("2026-03", 0);
    let (dropped, new) = dropped_and_new(&o, "2026-03");
    let mut want: Vec<(String, Vec<String>)> = [(1, a(1) + 50), (2, a(2)), (4, a(4))]
        .into_iter()
        .map(|(n, yuan)| {
            let id = gen::id_number(n);
            let row = ["dibao", &disburse::domain::mask_id(&id), &gen::name(n), "dropped", &format!("{yuan}.00"), ""];
            (id, row.map(str::to_string).to_vec())
        })
        .collect();
    want.sort();
    let want: Vec<Vec<String>> = want.into_iter().map(|(_, row)| row).collect();
    assert_eq!(dropped, want, "{backend:?}: by ID number, each with all of February's lines");
    assert_eq!(new, [disburse::domain::mask_id(&gen::id_number(5))], "{backend:?}");
    // April against March (the last paid month): 3 goes; nobody paid in February only comes back.
    roster(&o, "2026-04", &[(5, a(5), ""), (6, a(6), "")]);
    o.run("2026-04", 0);
    let (dropped, new) = dropped_and_new(&o, "2026-04");
    let names: Vec<&str> = dropped.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names, [gen::name(3)], "{backend:?}");
    assert!(new.is_empty(), "{backend:?}: {new:?}");
}

#[test]
fn people_dropped_since_the_last_paid_month_are_listed() {
    people_dropped_since_the_last_paid_month_are_listed_on(Backend::Sqlite);
}

/// The same, on a shared PostgreSQL ledger (SPEC §10: every command works the same).
#[test]
fn people_dropped_since_the_last_paid_month_are_listed_on_a_shared_ledger() {
    people_dropped_since_the_last_paid_month_are_listed_on(Backend::Postgres);
}
