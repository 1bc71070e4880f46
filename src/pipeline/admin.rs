//! The small commands: `init`, `keygen`, `status`, `verify`.

use std::path::Path;

use super::{Outcome, PipelineError, Totals};
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
    Ok(Outcome::new(false, summary))
}

/// `disburse keygen`.
pub fn keygen(algorithm: &str, out: &Path) -> Result<Outcome, PipelineError> {
    crate::sign::keygen(algorithm, out)?;
    let summary = vec![crate::tr!(
        "{algorithm} 密钥已写入 {}（私钥，权限 0600）和 {}.pub（公钥）",
        "{algorithm} key written to {} (private, 0600) and {}.pub",
        out.display(),
        out.display()
    )];
    Ok(Outcome::new(false, summary))
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
    let mut totals = Vec::new();
    let now = super::now_cn();
    let mut unanswered_total = 0;
    for p in periods {
        let by_program = ledger.period_status(p)?;
        let overdue = super::unanswered::count(config, ledger.as_ref(), p, now)?;
        unanswered_total += overdue.lines;
        totals.push(
            status_totals(p, None, &by_program)
                .count("unanswered_lines", overdue.lines)
                .fen("unanswered_amount", overdue.amount),
        );
        if json {
            let mut doc = crate::report::status_json(p, &by_program);
            doc["unanswered"] = serde_json::json!({"lines": overdue.lines, "amount": overdue.amount.yuan_string()});
            docs.push(doc);
        } else {
            summary.push(format!("{p}"));
            for (program, s) in &by_program {
                summary.push(status_line(*program, s));
            }
            if overdue.lines > 0 {
                summary.push(crate::tr!(
                    "  银行超过 {} 天未回复 {} 笔 {} 元：见 {}，请联系银行核实",
                    "  the bank has not answered in {} days: {} lines {} yuan, see {}; ask the bank",
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
    Ok(Outcome::new(unanswered_total > 0, summary).with(Totals::default().list("periods", totals)))
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
    let mut totals = Vec::new();
    for p in periods {
        let offices = match ledger.all_offices_status(p)? {
            Some(offices) => offices,
            None => {
                let Some(code) = &config.office.code else {
                    return Err(PipelineError::Refused(crate::tr!(
                        "status --all-offices：本办公室用自己的台账（[ledger] path）；在 [office] code 填上行政区划代码\
                         才能按代码列出，或改用全省共享台账（[ledger] url）",
                        "status --all-offices: this office keeps its own ledger ([ledger] path); set [office] code to \
                         list it under its 行政区划代码, or use the province's shared ledger ([ledger] url)"
                    )));
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
                    summary.push(status_line(*program, s));
                }
            }
        }
        totals.extend(offices.iter().map(|(code, by_program)| status_totals(p, Some(code), by_program)));
    }
    if json {
        let v = if docs.len() == 1 { docs.remove(0) } else { serde_json::Value::Array(docs) };
        summary.push(serde_json::to_string_pretty(&v).expect("json"));
    }
    Ok(Outcome::new(false, summary).with(Totals::default().list("periods", totals)))
}

fn status_line(program: crate::domain::Program, s: &ProgramStatus) -> String {
    let b = |name: [&str; 2], b: &Bucket| {
        crate::tr!("{} {} 笔 {} 元", "{} {} lines {} yuan", crate::lang::pick(name[0], name[1]), b.lines, b.amount)
    };
    format!(
        "  {} {} = {} + {} + {} + {}；{}",
        super::pad(super::program_label(program), 26),
        b(["发出", "sent"], &s.sent),
        b(["成功", "settled"], &s.settled),
        b(["失败", "failed"], &s.failed),
        b(["退票", "returned"], &s.returned),
        b(["在途", "pending"], &s.pending),
        b(["更正", "reissued"], &s.reissued)
    )
}

/// A period's status in the final JSON event: lines and amounts per program and
/// state, amounts as two-decimal strings.
pub(crate) fn status_totals(
    period: Period,
    office: Option<&str>,
    by_program: &std::collections::BTreeMap<crate::domain::Program, ProgramStatus>,
) -> Totals {
    let mut out = Totals::default().text("period", period.to_string());
    if let Some(code) = office {
        out = out.text("office", code);
    }
    let programs = by_program
        .iter()
        .map(|(program, s)| {
            let mut t = Totals::default().text("program", program.code());
            for (name, b) in [
                ("sent", &s.sent),
                ("settled", &s.settled),
                ("failed", &s.failed),
                ("returned", &s.returned),
                ("pending", &s.pending),
                ("reissued", &s.reissued),
            ] {
                t = t.count(&format!("{name}_lines"), b.lines).fen(&format!("{name}_amount"), b.amount);
            }
            t
        })
        .collect();
    out.list("programs", programs)
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
    let linked = report.previous_manifest.is_some();
    let line = if crate::lang::english() {
        let key = if report.key_pinned { "pinned key" } else { "key in the manifest (pin one with --public-key)" };
        format!(
            "{}: OK — {} {}: {} bank files, {} lines, {} yuan; signatures verified with the {key}; chain {}",
            dir.display(),
            report.period,
            report.run_id,
            report.files.len(),
            report.lines,
            report.total,
            if linked { "linked" } else { "starts here" }
        )
    } else {
        let key = if report.key_pinned {
            "指定的公钥"
        } else {
            "清单里附带的公钥（可用 --public-key 指定公钥）"
        };
        format!(
            "{}：校验通过 — {} {}：银行文件 {} 个，{} 笔，{} 元；签名已用{key}核对；清单链{}",
            dir.display(),
            report.period,
            report.run_id,
            report.files.len(),
            report.lines,
            report.total,
            if linked { "与上一批相接" } else { "从这一批开始" }
        )
    };
    let mut summary = vec![line];
    if let Some(fp) = recorded {
        summary.push(match fp.as_str() {
            "" => crate::tr!(
                "台账没有记下这次发放的密钥（记账早于密钥登记）：未比对签名密钥",
                "the ledger records no key for this run (recorded before keys were): signed key not compared"
            ),
            fp => crate::tr!(
                "签名密钥与台账为这次发放记下的一致（{}）",
                "signed with the key the ledger records for this run ({})",
                &fp[..16.min(fp.len())]
            ),
        });
    }
    let totals = Totals::default()
        .text("period", report.period.clone())
        .text("run_id", report.run_id.clone())
        .count("files", report.files.len() as u64)
        .count("lines", report.lines)
        .fen("amount", report.total)
        .text("chain", if linked { "linked" } else { "starts" });
    Ok(Outcome::new(false, summary).with(totals))
}

/// The key fingerprint the ledger recorded for the run whose manifest is in
/// `dir`, checked against the key that manifest names: a folder re-signed with
/// another key (or a manifest the ledger never committed) is refused.
fn recorded_key(config: &Config, dir: &Path) -> Result<String, PipelineError> {
    use sha2::Digest as _;
    let path = dir.join(crate::sign::manifest::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(super::io_err(&path))?;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let refuse = |why: String| PipelineError::Refused(crate::tr!("校验 {}：{why}", "verify {}: {why}", dir.display()));
    if !crate::ledger::exists(config) {
        return Err(refuse(crate::tr!("本办公室还没有台账", "this office has no ledger yet")));
    }
    let ledger = crate::ledger::open(config)?;
    let Some(recorded) = ledger.run_key_fingerprint(&sha)? else {
        return Err(refuse(crate::tr!(
            "本办公室的台账里没有这份清单的发放：这个目录不是本办公室记账的发放（或清单被换过）",
            "the ledger of this office holds no run with this manifest: the folder is not one this office \
             committed (or the manifest was replaced)"
        )));
    };
    let m: crate::sign::manifest::Manifest =
        serde_json::from_slice(&bytes).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    let used = crate::sign::key_fingerprint(&m.signing.public_key_pem);
    if !recorded.is_empty() && used != recorded {
        return Err(refuse(crate::tr!(
            "签名密钥是 {}…，但台账为这次发放记下的密钥是 {}…：这个目录被人用另一把密钥重新签过名；不要报送，并查明是谁改的",
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
        .map_err(|e| PipelineError::Refused(crate::tr!("校验 {}：{e}", "verify {}: {e}", dir.display())))
}
