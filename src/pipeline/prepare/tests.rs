use super::*;
use crate::domain::Field;

/// The example office, checked by pass 1; then `edit` changes youfu.csv.
fn replay_after(edit: impl Fn(&str) -> String) -> Result<Replayed, PipelineError> {
    let tmp = tempfile::tempdir().unwrap();
    let info = crate::example::write_files(tmp.path()).unwrap();
    let config = Config::load(&info.config).unwrap();
    let period: Period = "2026-11".parse().unwrap();
    let p = prepare(&config, period, None, &Progress::new(false)).unwrap();
    let roster = tmp.path().join("rosters/2026-11/youfu.csv");
    let text = std::fs::read_to_string(&roster).unwrap();
    std::fs::write(&roster, edit(&text)).unwrap();
    let mut paid = 0u64;
    let r = p.replay(&Progress::new(false), &mut |_| {
        paid += 1;
        Ok(())
    });
    r.inspect(|_| assert_eq!(paid, p.paid_lines(), "pass 2 pays exactly what pass 1 counted"))
}

/// A paid row counts as warned if it was noted while read or has a
/// finding; `total` finds the findings by walking them in row order.
#[test]
fn warned_rows_are_counted_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let info = crate::example::write_files(tmp.path()).unwrap();
    let config = Config::load(&info.config).unwrap();
    let period: Period = "2026-11".parse().unwrap();
    let mut p = prepare(&config, period, None, &Progress::new(false)).unwrap();
    // Extra findings on paid rows of two rosters, two on one row.
    let paid: Vec<usize> = (0..p.entries.len()).filter(|&i| p.entries[i].payable && !p.facts[i].noted()).collect();
    let mut picked = vec![paid[1], paid[1], paid[paid.len() - 2]];
    picked.extend(p.rosters.iter().map(|r| r.start + r.len - 1).filter(|i| paid.contains(i)));
    for &index in &picked {
        p.findings.push(Finding { index, code: Code::R07, field: Field::Amount, message: "x".into() });
    }
    p.findings.sort_by_key(|f| f.index);
    let with_finding: HashSet<usize> = p.findings.iter().map(|f| f.index).collect();
    let want = (0..p.entries.len())
        .filter(|&i| p.entries[i].payable && !p.facts[i].skipped())
        .filter(|&i| p.facts[i].noted() || with_finding.contains(&i))
        .count() as u64;
    // Place names do not count here: as many unnamed places as each roster uses.
    let places: Vec<Vec<(Text, Text)>> = (p.rosters.iter())
        .map(|r| {
            let n = (r.start..r.start + r.len).map(|i| p.facts[i].place as usize + 1).max().unwrap_or(0);
            vec![(Text::default(), Text::default()); n]
        })
        .collect();
    let approved: Vec<Vec<Decimal>> = places.iter().map(|p| vec![Decimal::ZERO; p.len()]).collect();
    let got: u64 = p.total(&places, &approved).programs.values().map(|t| t.warned).sum();
    assert!(want >= picked.len() as u64 - 1, "{want}");
    assert_eq!(got, want);
}

#[test]
fn pass_two_pays_what_pass_one_decided() {
    let r = replay_after(str::to_string).unwrap();
    let counts = crate::report::ExceptionSource::from(&r.exceptions).counts();
    assert!(counts.by_code.keys().any(|c| *c == Code::R07 || c.severity() == crate::domain::Severity::Hold));
}

/// A roster saved while the command runs changes nothing it pays: pass 2
/// gives the same lines, amounts and exceptions as with the roster untouched.
#[test]
fn a_roster_changed_between_the_passes_changes_nothing() {
    let untouched = replay_lines(str::to_string);
    let changed_amount = |t: &str| t.replacen(",1552.50,", ",1553.50,", 1);
    assert_ne!(changed_amount(&example_youfu()), example_youfu(), "the edit must change the roster");
    let one_row_less = |t: &str| {
        let mut lines: Vec<&str> = t.lines().collect();
        lines.pop();
        lines.join("\n") + "\n"
    };
    let one_row_more = |t: &str| format!("{t}{}\n", t.lines().nth(1).unwrap());
    for edit in [&changed_amount as &dyn Fn(&str) -> String, &one_row_less, &one_row_more] {
        assert_eq!(replay_lines(edit), untouched);
    }
}

fn example_youfu() -> String {
    let tmp = tempfile::tempdir().unwrap();
    crate::example::write_files(tmp.path()).unwrap();
    std::fs::read_to_string(tmp.path().join("rosters/2026-11/youfu.csv")).unwrap()
}

/// What pass 2 pays and lists, as text, after `edit`.
fn replay_lines(edit: impl Fn(&str) -> String) -> (Vec<String>, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let info = crate::example::write_files(tmp.path()).unwrap();
    let config = Config::load(&info.config).unwrap();
    let p = prepare(&config, "2026-11".parse().unwrap(), None, &Progress::new(false)).unwrap();
    let roster = tmp.path().join("rosters/2026-11/youfu.csv");
    std::fs::write(&roster, edit(&std::fs::read_to_string(&roster).unwrap())).unwrap();
    let mut lines = Vec::new();
    let r = p
        .replay(&Progress::new(false), &mut |l| {
            lines.push(format!("{} {} {}", l.program, l.id_number.as_str(), l.amount));
            Ok(())
        })
        .unwrap();
    (lines, crate::report::ExceptionSource::from(&r.exceptions).counts().len)
}
