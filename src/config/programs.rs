//! `[programs.CODE]` rule keys, the built-in programs' defaults, and
//! `[[checklists]]` (SPEC §9).
//!
//! Why defaults live here and only here: a rule that differs by place is
//! configuration; what a built-in program does without any rule key is what
//! `reference/policy_rules.md` supports, cited beside each default, and a
//! config's own key always wins.

use serde::Deserialize;

use crate::domain::{Fen, PayeeType, Program};
use crate::reconcile::program_rules::{ProgramRules, Standard};

/// The rule keys of a `[programs.CODE]` table, as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRules {
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub max_age: Option<u32>,
    #[serde(default)]
    pub standards: Option<Vec<RawStandard>>,
    #[serde(default)]
    pub annual_cap: Option<String>,
    #[serde(default)]
    pub exclusive_with: Option<Vec<String>>,
    #[serde(default)]
    pub payees: Option<Vec<String>>,
    #[serde(default)]
    pub guardian_only_for_minors: Option<bool>,
    #[serde(default)]
    pub guardian_categories: Option<Vec<String>>,
    #[serde(default)]
    pub institutions: Option<String>,
    #[serde(default)]
    pub institution_categories: Option<Vec<String>>,
    #[serde(default)]
    pub funeral_months: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStandard {
    min_age: u32,
    amount: String,
}

/// A `[[checklists]]` table (比对名单).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecklist {
    name: String,
    file: String,
    #[serde(default = "default_effect")]
    effect: String,
    #[serde(default)]
    programs: Vec<String>,
}

fn default_effect() -> String {
    "hold".to_string()
}

/// A check list of the config: its file is read at each run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistConfig {
    pub name: String,
    /// Path pattern (`{period}` allowed), relative to the config folder.
    pub file: String,
    /// Hold (R03) or warn (W03).
    pub hold: bool,
    /// Empty: every program.
    pub programs: Vec<Program>,
}

pub(super) fn checklist(raw: RawChecklist, at: usize) -> Result<ChecklistConfig, String> {
    let key = format!("checklists[{at}]");
    if raw.name.trim().is_empty() {
        return Err(format!("{key}.name is empty: give the list the name clerks know it by (e.g. \"殡葬火化数据\")"));
    }
    let hold = match raw.effect.as_str() {
        "hold" => true,
        "warn" => false,
        other => return Err(format!("{key}.effect '{other}' is not hold or warn")),
    };
    let programs = raw
        .programs
        .iter()
        .map(|p| Program::from_clerk(p).map_err(|e| format!("{key}.programs: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(ChecklistConfig { name: raw.name, file: raw.file, hold, programs })
}

/// The defaults of a program, before its config's keys.
pub fn preset(program: Program) -> ProgramRules {
    use PayeeType::{Caregiver, Guardian, Institution, SelfPaid};
    let mut r = ProgramRules::default();
    match program.code() {
        // policy_rules §2.1: 低保 and 特困 are exclusive classifications of one
        // person (SPEC §3 R02). §2.4: 低保 goes to the person's own account;
        // the deviations are explicit payee records (minor → guardian).
        "dibao" => {
            r.exclusive_with = vec![Program::Wubao];
            r.payees = Some(vec![SelfPaid, Guardian]);
            r.guardian_only_for_minors = true;
            r.guardian_categories = incapacity();
        }
        // policy_rules §1.2.9 and §2.4: 分散 basic to the person, 集中 to the
        // institution's collective account, the care fee to the caregiver;
        // §2.1: exclusive with 低保.
        "wubao" => {
            r.exclusive_with = vec![Program::Dibao];
            r.payees = Some(vec![SelfPaid, Guardian, Caregiver, Institution]);
            r.guardian_only_for_minors = true;
            r.guardian_categories = incapacity();
            r.institution_categories = vec!["集中供养".to_string()];
        }
        // policy_rules §1.3.3 and §2.2: a dependant's death continues the
        // pension 6 months as 丧葬补助 (12 for a disabled veteran: configure).
        "youfu" => {
            r.payees = Some(vec![SelfPaid, Guardian]);
            r.funeral_months = Some(6);
        }
        // policy_rules §1.5.2: 600 yuan a person a year; §1.5.4: paid to
        // personal bank accounts.
        "yimin" => {
            r.annual_cap = Some(Fen(60_000));
            r.payees = Some(vec![SelfPaid, Guardian]);
            r.guardian_only_for_minors = true;
        }
        // SPEC §9's example: 80 and over (the ages and amounts are local,
        // policy_rules §2.3 gives none nationally: configure them).
        "gaoling" => {
            r.min_age = Some(80);
            r.payees = Some(vec![SelfPaid, Guardian]);
            r.guardian_only_for_minors = true;
            r.guardian_categories = incapacity();
        }
        // policy_rules §2.3 (a minor is under 18) and §2.4 (orphan allowances go
        // to the child's or the guardian's account).
        "guer" => {
            r.max_age = Some(17);
            r.payees = Some(vec![SelfPaid, Guardian]);
        }
        // policy_rules §2.4: 临时救助 "原则上应支付到救助对象个人账户".
        "linshi" => r.payees = Some(vec![SelfPaid, Guardian]),
        _ => {}
    }
    r
}

/// Who may be paid through a guardian although an adult (policy_rules §2.4:
/// "minor → guardian" and the incapacitated person of §1.2.10).
fn incapacity() -> Vec<String> {
    ["重度残疾", "失能", "完全失能", "精神残疾", "智力残疾"].map(String::from).to_vec()
}

/// The program's rules: its preset with the config's keys over it.
pub(super) fn rules(program: Program, raw: RawRules) -> Result<ProgramRules, String> {
    let key = |k: &str| format!("programs.{program}.{k}");
    let mut r = preset(program);
    if raw.min_age.is_some() {
        r.min_age = raw.min_age;
    }
    if raw.max_age.is_some() {
        r.max_age = raw.max_age;
    }
    if let (Some(a), Some(b)) = (r.min_age, r.max_age) {
        if a > b {
            return Err(format!("{}: min_age {a} is above max_age {b}", key("min_age")));
        }
    }
    if let Some(standards) = raw.standards {
        let mut out = Vec::new();
        for s in standards {
            out.push(Standard {
                min_age: s.min_age,
                amount: yuan(&s.amount).ok_or_else(|| {
                    format!("{}: amount '{}' is not a positive amount in yuan", key("standards"), s.amount)
                })?,
            });
        }
        out.sort_by_key(|s| s.min_age);
        r.standards = out;
    }
    if let Some(cap) = raw.annual_cap {
        r.annual_cap =
            Some(yuan(&cap).ok_or_else(|| format!("{} '{cap}' is not a positive amount in yuan", key("annual_cap")))?);
    }
    if let Some(codes) = raw.exclusive_with {
        r.exclusive_with = codes
            .iter()
            .map(|c| c.parse::<Program>().map_err(|e| format!("{}: {e}", key("exclusive_with"))))
            .collect::<Result<_, _>>()?;
    }
    if let Some(payees) = raw.payees {
        let parsed: Option<Vec<PayeeType>> = payees.iter().map(|p| PayeeType::parse(p)).collect();
        r.payees = Some(
            parsed
                .ok_or_else(|| format!("{}: each is one of self, guardian, caregiver, institution", key("payees")))?,
        );
    }
    if let Some(g) = raw.guardian_only_for_minors {
        r.guardian_only_for_minors = g;
    }
    if let Some(g) = raw.guardian_categories {
        r.guardian_categories = g;
    }
    if raw.institutions.is_some() {
        r.institutions_file = raw.institutions;
    }
    if let Some(c) = raw.institution_categories {
        r.institution_categories = c;
    }
    if raw.funeral_months.is_some() {
        r.funeral_months = raw.funeral_months;
    }
    Ok(r)
}

fn yuan(s: &str) -> Option<Fen> {
    crate::domain::parse_amount(s).ok().and_then(Fen::from_yuan).filter(|f| f.0 > 0)
}

/// Chooses each configured program's reference prefix: the built-in ones keep
/// theirs; another takes `ref_prefix` when given, else the first free pair of
/// its code's letters (initials of its parts first: `nongken_buzhu` → `NB`),
/// so that no two programs of the config (nor any built-in) share one.
pub(super) fn assign_prefixes(programs: &[(Program, Option<String>)]) -> Result<(), String> {
    let mut taken: Vec<String> = Program::built_in_prefixes().map(str::to_string).collect();
    for (p, wanted) in programs.iter().filter(|(p, _)| !p.is_built_in()) {
        let prefix = match wanted {
            Some(w) => {
                if w.len() != 2 || !w.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!("programs.{p}.ref_prefix '{w}' is not two upper-case letters (e.g. \"NK\")"));
                }
                if taken.contains(w) {
                    return Err(format!(
                        "programs.{p}.ref_prefix '{w}' is already another program's: payment references must tell \
                         programs apart, choose other letters"
                    ));
                }
                w.clone()
            }
            None => candidates(p.code())
                .find(|c| !taken.contains(c))
                .ok_or_else(|| format!("programs.{p}: no free reference prefix, set ref_prefix = \"XY\""))?,
        };
        p.set_ref_prefix(&prefix);
        taken.push(prefix);
    }
    Ok(())
}

/// Two-letter prefixes for a code, most telling first.
fn candidates(code: &str) -> impl Iterator<Item = String> + '_ {
    let letters: Vec<u8> = code.bytes().filter(u8::is_ascii_lowercase).map(|b| b.to_ascii_uppercase()).collect();
    let initials: Vec<u8> = code
        .split('_')
        .filter_map(|part| part.bytes().find(u8::is_ascii_lowercase))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let first = letters.first().copied().unwrap_or(b'X');
    let mut out: Vec<String> = Vec::new();
    if initials.len() >= 2 {
        out.push(String::from_utf8(initials[..2].to_vec()).unwrap_or_default());
    }
    out.extend(letters.iter().skip(1).map(|&b| String::from_utf8(vec![first, b]).unwrap_or_default()));
    out.extend((b'A'..=b'Z').map(|b| String::from_utf8(vec![first, b]).unwrap_or_default()));
    out.extend(
        (b'A'..=b'Z').flat_map(|a| (b'A'..=b'Z').map(move |b| String::from_utf8(vec![a, b]).unwrap_or_default())),
    );
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_never_collide_with_built_in_or_each_other() {
        let a: Program = "nongken_buzhu".parse().unwrap();
        let b: Program = "nongken_bangfu".parse().unwrap();
        let c: Program = "dbx".parse().unwrap();
        assign_prefixes(&[(a, None), (b, None), (c, None)]).unwrap();
        let all: Vec<&str> = [a, b, c].iter().map(|p| p.ref_prefix()).chain(Program::built_in_prefixes()).collect();
        let unique: std::collections::HashSet<&&str> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "{all:?}");
        assert_eq!(a.ref_prefix(), "NB");
        assert!(assign_prefixes(&[(a, Some("DB".into()))]).is_err());
        assert!(assign_prefixes(&[(a, Some("n1".into()))]).is_err());
    }

    #[test]
    fn built_in_defaults_follow_the_policy_notes() {
        assert_eq!(preset(Program::Yimin).annual_cap, Some(Fen(60_000)));
        assert_eq!(preset(Program::Youfu).funeral_months, Some(6));
        assert_eq!(preset(Program::Guer).max_age, Some(17));
        assert_eq!(preset(Program::Gaoling).min_age, Some(80));
        assert_eq!(preset(Program::Wubao).institution_categories, ["集中供养"]);
        assert_eq!(preset("nongken_x".parse().unwrap()), ProgramRules::default());
    }
}
