//! The small commands: `init`, `keygen`, `status`, `verify`.

use std::path::Path;

use super::{Outcome, PipelineError};
use crate::bankfile::Format;
use crate::config::Config;
use crate::domain::Period;
use crate::ledger::{Bucket, Ledger, ProgramStatus};

/// `disburse init DIR`: the example office.
pub fn init(dir: &Path) -> Result<Outcome, PipelineError> {
    let info = crate::example::write_example(dir).map_err(|e| PipelineError::Refused(e.to_string()))?;
    let periods: Vec<String> = info.periods.iter().map(Period::to_string).collect();
    let config = info.config.display();
    let mut summary = vec![format!("示例办公室已写入 {}（期间 {}）", dir.display(), periods.join("、"))];
    for p in &periods {
        summary.push(format!("  disburse run --config {config} --period {p}"));
    }
    Ok(Outcome { needs_person: false, summary })
}

/// `disburse keygen`.
pub fn keygen(algorithm: &str, out: &Path) -> Result<Outcome, PipelineError> {
    crate::sign::keygen(algorithm, out)?;
    Ok(Outcome {
        needs_person: false,
        summary: vec![format!(
            "{algorithm} key written to {} (private, 0600) and {}.pub",
            out.display(),
            out.display()
        )],
    })
}

/// `disburse status`: per program sent, settled, failed, returned, pending, reissued;
/// with `all_offices`, the provincial rollup of a shared ledger, office by office.
pub fn status(
    config: &Config,
    period: Option<Period>,
    json: bool,
    all_offices: bool,
) -> Result<Outcome, PipelineError> {
    let ledger = super::open_existing_ledger(config)?;
    if all_offices {
        return offices_status(config, ledger.as_ref(), period, json);
    }
    let periods = match period {
        Some(p) => vec![p],
        None => ledger.periods()?,
    };
    let mut summary = Vec::new();
    let mut docs = Vec::new();
    let now = super::now_cn();
    let mut unanswered_total = 0;
    for p in periods {
        let by_program = ledger.period_status(p)?;
        let overdue = super::unanswered::count(config, ledger.as_ref(), p, now)?;
        unanswered_total += overdue.lines;
        if json {
            let mut doc = crate::report::status_json(p, &by_program);
            doc["unanswered"] = serde_json::json!({"lines": overdue.lines, "amount": overdue.amount.yuan_string()});
            docs.push(doc);
        } else {
            summary.push(format!("{p}"));
            for (program, s) in &by_program {
                summary.push(status_line(program.code(), s));
            }
            if overdue.lines > 0 {
                summary.push(format!(
                    "  银行超过 {} 天未回复 {} 笔 {} 元：见 {}，请联系银行核实",
                    config.pending_days,
                    overdue.lines,
                    overdue.amount,
                    config.period_dir(p).join(super::unanswered::FILE).display()
                ));
            }
        }
    }
    if json {
        let v = if docs.len() == 1 { docs.remove(0) } else { serde_json::Value::Array(docs) };
        summary.push(serde_json::to_string_pretty(&v).expect("json"));
    }
    // Lines the bank has not answered in time need a person (SPEC §14): exit 2.
    Ok(Outcome { needs_person: unanswered_total > 0, summary })
}

/// `status --all-offices`: `{"period": P, "offices": {CODE: {"programs": {…}}}}`
/// per period. An office's own ledger holds only its own lines: they are shown
/// under its code.
fn offices_status(
    config: &Config,
    ledger: &dyn Ledger,
    period: Option<Period>,
    json: bool,
) -> Result<Outcome, PipelineError> {
    let periods = match period {
        Some(p) => vec![p],
        None => ledger.all_periods()?,
    };
    let mut summary = Vec::new();
    let mut docs = Vec::new();
    for p in periods {
        let offices = match ledger.all_offices_status(p)? {
            Some(offices) => offices,
            None => {
                let Some(code) = &config.office.code else {
                    return Err(PipelineError::Refused(
                        "status --all-offices: this office keeps its own ledger ([ledger] path); set [office] code to \
                         list it under its 行政区划代码, or use the province's shared ledger ([ledger] url)"
                            .into(),
                    ));
                };
                std::iter::once((code.clone(), ledger.period_status(p)?)).collect()
            }
        };
        if json {
            let by_office: serde_json::Map<String, serde_json::Value> = offices
                .iter()
                .map(|(code, by_program)| {
                    let programs = crate::report::status_json(p, by_program)["programs"].take();
                    (code.clone(), serde_json::json!({ "programs": programs }))
                })
                .collect();
            docs.push(serde_json::json!({"period": p.to_string(), "offices": by_office}));
        } else {
            summary.push(format!("{p}"));
            for (code, by_program) in &offices {
                summary.push(format!(" {code}"));
                for (program, s) in by_program {
                    summary.push(status_line(program.code(), s));
                }
            }
        }
    }
    if json {
        let v = if docs.len() == 1 { docs.remove(0) } else { serde_json::Value::Array(docs) };
        summary.push(serde_json::to_string_pretty(&v).expect("json"));
    }
    Ok(Outcome { needs_person: false, summary })
}

fn status_line(program: &str, s: &ProgramStatus) -> String {
    let b = |name: &str, b: &Bucket| format!("{name} {} 笔 {} 元", b.lines, b.amount);
    format!(
        "  {program:<9} {} = {} + {} + {} + {}；{}",
        b("发出", &s.sent),
        b("成功", &s.settled),
        b("失败", &s.failed),
        b("退票", &s.returned),
        b("在途", &s.pending),
        b("更正", &s.reissued)
    )
}

/// `disburse verify DIR`: digests, signatures, counts, totals and the chain.
pub fn verify(dir: &Path, public_key: Option<&Path>) -> Result<Outcome, PipelineError> {
    verify_against(dir, public_key, None)
}

/// [`verify`]; with the office's config, also that the run was signed by the key its ledger
/// recorded for it (SPEC §10: each office keeps its own key).
pub fn verify_against(
    dir: &Path,
    public_key: Option<&Path>,
    config: Option<&Config>,
) -> Result<Outcome, PipelineError> {
    let recorded = match config {
        Some(c) => Some(recorded_key(c, dir)?),
        None => None,
    };
    // Layouts: the office's formats/ folder (two levels above <output>/<period>), then the built-ins.
    let report = verify_folder(dir, &dir.join("../../formats"), public_key)?;
    let key = if report.key_pinned { "pinned key" } else { "key in the manifest (pin one with --public-key)" };
    let line = format!(
        "{}: OK — {} {}: {} bank files, {} lines, {} yuan; signatures verified with the {key}; chain {}",
        dir.display(),
        report.period,
        report.run_id,
        report.files.len(),
        report.lines,
        report.total,
        if report.previous_manifest.is_some() { "linked" } else { "starts here" }
    );
    let mut summary = vec![line];
    if let Some(fp) = recorded {
        summary.push(match fp.as_str() {
            "" => "the ledger records no key for this run (recorded before keys were): signed key not compared".into(),
            fp => format!("signed with the key the ledger records for this run ({})", &fp[..16.min(fp.len())]),
        });
    }
    Ok(Outcome { needs_person: false, summary })
}

/// The key fingerprint the ledger recorded for the run whose manifest is in
/// `dir`, checked against the key that manifest names: a folder re-signed with
/// another key (or a manifest the ledger never committed) is refused.
fn recorded_key(config: &Config, dir: &Path) -> Result<String, PipelineError> {
    use sha2::Digest as _;
    let path = dir.join(crate::sign::manifest::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(super::io_err(&path))?;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let refuse = |why: String| PipelineError::Refused(format!("verify {}: {why}", dir.display()));
    if !crate::ledger::exists(config) {
        return Err(refuse("this office has no ledger yet".into()));
    }
    let ledger = crate::ledger::open(config)?;
    let Some(recorded) = ledger.run_key_fingerprint(&sha)? else {
        return Err(refuse(
            "the ledger of this office holds no run with this manifest: the folder is not one this office \
             committed (or the manifest was replaced)"
                .into(),
        ));
    };
    let m: crate::sign::manifest::Manifest =
        serde_json::from_slice(&bytes).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    let used = crate::sign::key_fingerprint(&m.signing.public_key_pem);
    if !recorded.is_empty() && used != recorded {
        return Err(refuse(format!(
            "signed with key {}…, but the ledger records key {}… for this run: the folder was re-signed with \
             another key; do not send it, and ask who changed it",
            &used[..16],
            &recorded[..16.min(recorded.len())]
        )));
    }
    Ok(recorded)
}

/// What `disburse verify` checks of a period folder (`ledger rebuild` checks
/// every folder with it before trusting any), bank layouts from `formats_dir`.
pub(crate) fn verify_folder(
    dir: &Path,
    formats_dir: &Path,
    public_key: Option<&Path>,
) -> Result<crate::sign::manifest::VerifyReport, PipelineError> {
    let count = |path: &Path, format: &str| -> Result<(u64, crate::domain::Fen), String> {
        let f = Format::load(format, formats_dir).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        f.count_and_total(&bytes).map_err(|e| e.to_string())
    };
    crate::sign::manifest::verify_dir(dir, public_key, &count)
        .map_err(|e| PipelineError::Refused(format!("verify {}: {e}", dir.display())))
}
