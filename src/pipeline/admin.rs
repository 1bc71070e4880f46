//! The small commands: `init`, `keygen`, `status`, `verify`.

use std::path::Path;

use super::{Outcome, PipelineError};
use crate::bankfile::Format;
use crate::config::Config;
use crate::domain::Period;
use crate::ledger::{Bucket, Ledger, ProgramStatus, SqliteLedger};

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

/// `disburse status`: per program sent, settled, failed, returned, pending, reissued.
pub fn status(config: &Config, period: Option<Period>, json: bool) -> Result<Outcome, PipelineError> {
    if !config.ledger_path.exists() {
        return Err(PipelineError::Refused(format!(
            "no ledger at {}: nothing has been run yet",
            config.ledger_path.display()
        )));
    }
    let ledger = SqliteLedger::open(&config.ledger_path)?;
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
        let overdue = super::unanswered::count(config, &ledger, p, now)?;
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
    Ok(Outcome { needs_person: false, summary: vec![line] })
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
