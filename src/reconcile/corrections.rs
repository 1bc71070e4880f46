//! The checks of a correction batch (更正发放, SPEC §8 "reissue never pays the
//! dead or the stopped"): a corrected line goes through a roster line's own
//! checks ([`crate::validate::check_row`]: V03, V05, V06, W01) and these, which
//! look at the other lines and at what the bank and the stop list said of the
//! person. Pure functions of plain inputs; the pipeline reads them from the
//! corrections file, the ledger and the stop list.

use std::sync::Arc;

use super::{hold_reported_deceased, hold_shared_accounts, hold_stopped, Entry, FastMap, Finding, Payee, StopEntry};
use crate::domain::{Code, Severity};

/// Whether a receipt's reason says the person died: its code is the death code
/// (MD07), or the bank's own text is one the reasons table (`formats/reasons.toml`,
/// with the office's additions) maps to it. `code_for_text` is that table.
pub fn reports_death(code: &str, text: &str, code_for_text: &dyn Fn(&str) -> String) -> bool {
    crate::returns::is_death(code) || (!text.trim().is_empty() && crate::returns::is_death(&code_for_text(text)))
}

/// The payee type a correction line is checked and paid as (`payee_type` of a
/// roster line), when the corrections file leaves it empty.
///
/// Why not a guess from the names: a correction that keeps the payee keeps what
/// the roster approved for it — `self` when the payee is the beneficiary; any
/// other payee passed the roster's V06 as not `self`, and is checked as a
/// `guardian` (the corrections file says `institution` for a care home, so that
/// R05 lets it receive for several people). A correction that names a new payee
/// is a new roster line as far as the checks go: `self` unless written, so a
/// payee other than the beneficiary needs its type written (V06 otherwise).
pub fn payee_type_of(written: &str, new_payee: bool, beneficiary_is_payee: bool) -> &str {
    match (written.trim(), new_payee, beneficiary_is_payee) {
        ("", true, _) | ("", false, true) => "self",
        ("", false, false) => "guardian",
        (w, _, _) => w,
    }
}

/// What the person checks decided for a batch.
#[derive(Debug, Default)]
pub struct PersonChecks {
    /// Lines held: reported deceased or stopped, and nobody vouched (R03).
    pub held: Vec<Finding>,
    /// Lines paid on the word of the person named in `verified_by`, with what
    /// they vouched against (the same finding, not held).
    pub vouched: Vec<Finding>,
}

/// R03 for corrections: a line whose person the bank reported deceased
/// (`deceased`: ID key → the reference that said so) or who is on the stop list
/// from the period's first day on is held, unless `verified[i]` (somebody
/// checked that the beneficiary is alive and entitled): then it is paid, and
/// the finding is kept as what was vouched for.
pub fn check_persons(
    entries: &mut [Entry],
    verified: &[bool],
    deceased: &FastMap<u64, String>,
    stops: &[StopEntry],
    period_start: chrono::NaiveDate,
) -> PersonChecks {
    let payable: Vec<bool> = entries.iter().map(|e| e.payable).collect();
    let mut found = Vec::new();
    hold_reported_deceased(entries, deceased, &mut found);
    for e in entries.iter_mut().zip(&payable) {
        e.0.payable = *e.1; // each rule on its own: a person may be both
    }
    hold_stopped(entries, stops, period_start, &mut found);
    let mut out = PersonChecks::default();
    for (i, e) in entries.iter_mut().enumerate() {
        e.payable = payable[i];
    }
    found.sort_by_key(|f| f.index);
    for f in found {
        if verified[f.index] {
            out.vouched.push(f);
        } else {
            entries[f.index].payable = false;
            out.held.push(f);
        }
    }
    out
}

/// R05 for corrections: the batch's new accounts against each other and against
/// the lines of the period that stand (not failed or returned, `standing`). A
/// correction line on an account that receives for different people who are not
/// one household and not an institution is held; the standing lines are only
/// compared with (they were paid).
pub fn check_accounts(entries: &mut [Entry], payees: &[Option<Payee>], standing: &[(Entry, Payee)]) -> Vec<Finding> {
    let n = entries.len();
    let mut all: Vec<Entry> = entries.iter().copied().chain(standing.iter().map(|(e, _)| *e)).collect();
    let mut sorted: Vec<(Payee, usize)> = payees
        .iter()
        .copied()
        .chain(standing.iter().map(|(_, p)| Some(*p)))
        .enumerate()
        .filter_map(|(i, p)| p.filter(|p| all[i].payable && p.account != 0).map(|p| (p, i)))
        .collect();
    sorted.sort_unstable();
    let mut found = Vec::new();
    hold_shared_accounts(&mut all, sorted, &mut found);
    found.retain(|f| f.index < n);
    for f in &found {
        if f.code.severity() == Severity::Hold {
            entries[f.index].payable = false;
        }
    }
    found
}

/// The message of a person check, with what the clerk can do in a correction.
pub fn held_message(f: &Finding) -> Arc<str> {
    debug_assert_eq!(f.code, Code::R03);
    format!(
        "{}。如已核实本人健在且仍应享受，在更正文件的 verified_by 列写明核实人后重新更正发放",
        f.message.trim_end_matches('。')
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Field, Program};

    fn entry(id: u64) -> Entry {
        Entry { program: Program::Dibao, row: id as u32, id, institution: false, payable: true, kind: 0 }
    }

    fn paying(id: u64, account: u128, household: u64) -> (Entry, Payee) {
        (entry(id), Payee { account, household })
    }

    #[test]
    fn a_death_is_the_code_or_the_text_the_table_maps_to_it() {
        let table = |t: &str| if t.contains("死亡") || t.contains("身故") { "MD07" } else { "NARR" }.to_string();
        assert!(reports_death("MD07", "", &table));
        assert!(reports_death("NARR", "持卡人已身故", &table));
        assert!(reports_death("", "户主死亡", &table));
        assert!(!reports_death("AC04", "已销户", &table));
        assert!(!reports_death("NARR", "", &table));
    }

    #[test]
    fn payee_types_follow_the_file_then_the_kept_payee() {
        assert_eq!(payee_type_of("institution", false, false), "institution");
        assert_eq!(payee_type_of(" caregiver ", true, false), "caregiver");
        assert_eq!(payee_type_of("", false, true), "self");
        assert_eq!(payee_type_of("", false, false), "guardian");
        assert_eq!(payee_type_of("", true, false), "self", "a new payee is self unless written (V06 checks it)");
    }

    #[test]
    fn the_dead_and_the_stopped_are_held_unless_somebody_vouched() {
        let day: chrono::NaiveDate = "2026-11-01".parse().unwrap();
        let stopped = |id: u64, effective: &str| StopEntry {
            id_number: crate::domain::IdNumber::parse(ID[id as usize]).unwrap().as_str().to_string(),
            reason: "death".into(),
            effective: effective.parse().unwrap(),
            program: None,
        };
        let key = |i: usize| crate::domain::IdNumber::parse(ID[i]).unwrap().key();
        let mut entries: Vec<Entry> = (0..5).map(|i| entry(key(i))).collect();
        let deceased: FastMap<u64, String> =
            [(key(0), "E0".to_string()), (key(1), "E1".to_string()), (key(4), "E4".to_string())].into_iter().collect();
        let stops = vec![stopped(2, "2026-10-15"), stopped(3, "2026-11-02"), stopped(4, "2026-11-01")];
        let verified = [false, true, false, false, true];
        let r = check_persons(&mut entries, &verified, &deceased, &stops, day);
        let held: Vec<usize> = r.held.iter().map(|f| f.index).collect();
        assert_eq!(held, vec![0, 2], "dead (0) and stopped (2) held; stopped after the 1st (3) paid");
        assert!(r.held.iter().all(|f| f.code == Code::R03));
        let vouched: Vec<usize> = r.vouched.iter().map(|f| f.index).collect();
        assert_eq!(vouched, vec![1, 4, 4], "both of 4's doubts are vouched for");
        assert_eq!(entries.iter().map(|e| e.payable).collect::<Vec<_>>(), [false, true, false, true, true]);
        assert!(held_message(&r.held[0]).contains("verified_by"));
    }

    #[test]
    fn a_new_account_shared_with_another_person_is_held() {
        // 0 and 1 share an account in the batch; 2 takes the account a standing
        // line of another person is paid on; 3 the account of its own household.
        let batch = [paying(1, 500, 1), paying(2, 500, 2), paying(3, 600, 3), paying(4, 700, 9)];
        let mut entries: Vec<Entry> = batch.iter().map(|(e, _)| *e).collect();
        let payees: Vec<Option<Payee>> = batch.iter().map(|(_, p)| Some(*p)).collect();
        let standing = vec![paying(7, 600, 7), paying(8, 700, 9), paying(9, 800, 9)];
        let found = check_accounts(&mut entries, &payees, &standing);
        let held: Vec<(usize, Code, Field)> = found.iter().map(|f| (f.index, f.code, f.field)).collect();
        assert_eq!(
            held,
            vec![(0, Code::R05, Field::Account), (1, Code::R05, Field::Account), (2, Code::R05, Field::Account)]
        );
        assert_eq!(entries.iter().map(|e| e.payable).collect::<Vec<_>>(), [false, false, false, true]);
    }

    const ID: [&str; 5] =
        ["11010519491231002X", "360426199101010071", "110101202311012176", "110105194912310011", "330729198001010010"];
}
