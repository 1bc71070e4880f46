//! `disburse reissue`: the correction batch (更正发放) for failed or returned lines,
//! with corrected accounts. Each new line gets a new reference linked to its
//! original and a retry count; a line that settled, already has a correction in
//! flight, or is not in the corrections file is never reissued.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::{fault, publish, stage, Outcome, PipelineError};
use crate::config::Config;
use crate::domain::{
    Account, EndToEndId, IdNumber, PayeeType, PaymentLine, PaymentStatus, Period, Program, SourcePos, Text,
};
use crate::ingest::{self, Correction};
use crate::ledger::{BatchKind, Ledger, LedgerLine, Lock, SqliteLedger};
use crate::sign::Signer;
use crate::totals::{ProgramTotals, RunTotals};

/// Builds, signs and commits the correction batch for `period`.
pub fn reissue(config: &Config, period: Period, corrections_path: &Path) -> Result<Outcome, PipelineError> {
    let _lock = Lock::acquire(&config.ledger_path)?;
    super::audit::audited(config, "reissue", &[period], |facts| reissue_locked(config, period, corrections_path, facts))
}

fn reissue_locked(
    config: &Config,
    period: Period,
    corrections_path: &Path,
    facts: &mut super::audit::Facts,
) -> Result<Outcome, PipelineError> {
    let mut ledger = SqliteLedger::open(&config.ledger_path)?;
    let mut summary = publish::recover(config, &mut ledger)?;
    let corrections = ingest::read_corrections(corrections_path, &corrections_path.display().to_string())?;
    let mut formats = BTreeMap::new();
    let mut lines = Vec::new();
    let mut links = HashMap::new();
    let mut refused = Vec::new();
    let mut seen = HashSet::new();
    for c in &corrections {
        if !seen.insert(c.end_to_end_id.clone()) {
            refused.push(format!("第{}行 {}：重复出现，只按第一次处理", c.row, c.end_to_end_id));
            continue;
        }
        match plan(config, &ledger, period, c, &mut formats)? {
            Ok((line, root, retry)) => {
                links.insert((line.program, line.id_number.as_str().to_string()), (root, retry));
                lines.push(line);
            }
            Err(why) => refused.push(format!("第{}行 {}：{why}", c.row, c.end_to_end_id)),
        }
    }
    summary.extend(refused.iter().map(|r| format!("  未更正 {r}")));
    if lines.is_empty() {
        summary.push(format!("{period}：没有可更正发放的行，未写任何文件"));
        return Ok(Outcome { needs_person: !refused.is_empty(), summary });
    }
    let signer = Signer::load(&config.signing.algorithm, &config.signing.key, &config.signing.distid)?;
    let n = ledger.next_batch_number(period, BatchKind::Correction)?;
    let batch = format!("C{n:03}");
    let totals = correction_totals(&lines);
    let count = lines.len();
    let frame = stage::Frame { period, totals: &totals, formats: &formats };
    let given = lines
        .into_iter()
        .map(|l| {
            let link = links[&(l.program, l.id_number.as_str().to_string())].clone();
            (l, link)
        })
        .collect();
    let info = stage::BatchInfo { batch: &batch, kind: BatchKind::Correction, signer: &signer };
    let staged = stage::stage(config, &frame, stage::Lines::Given(given), &mut ledger, &info)?;
    facts.batch = Some(batch.clone());
    facts.total("reissued", staged.lines, staged.amount);
    fault::point("committed");
    publish::publish(&staged.staging_dir, &config.period_dir(period))?;
    ledger.mark_published(staged.run_id)?;
    tracing::info!(event = "reissue_committed", period = %period, batch = %batch, lines = count, refused = refused.len());
    summary.push(format!("{period} 更正第{n}批：{count} 笔重新发放，{} 个银行文件", staged.files.len()));
    Ok(Outcome { needs_person: !refused.is_empty(), summary })
}

type Planned = Result<(PaymentLine, String, u32), String>;

/// Decides whether one correction may be reissued, and builds its line.
fn plan(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    c: &Correction,
    formats: &mut BTreeMap<Program, crate::bankfile::Format>,
) -> Result<Planned, PipelineError> {
    let Some(original) = ledger.payment(&c.end_to_end_id)? else {
        return Ok(Err("没有这笔发放记录".into()));
    };
    if original.period != period {
        return Ok(Err(format!("这笔属于{}，不是{period}", original.period)));
    }
    if !matches!(original.status, PaymentStatus::Failed | PaymentStatus::Returned) {
        return Ok(Err(format!("状态为{}，只有失败或退票的才能更正发放", super::receipts::status_zh(original.status))));
    }
    let root = original.original_id.clone().unwrap_or_else(|| original.end_to_end_id.to_string());
    let chain = ledger.corrections_of(&root)?;
    if let Some(live) = chain.iter().find(|l| !matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)) {
        return Ok(Err(format!(
            "已有更正发放{}（{}），不再重复",
            live.end_to_end_id,
            super::receipts::status_zh(live.status)
        )));
    }
    let retry = chain.iter().map(|l| l.retry).max().unwrap_or(0) + 1;
    let account = match Account::parse(&c.account) {
        Ok(a) => a,
        Err(e) => return Ok(Err(format!("新账号无效：{e}"))),
    };
    let pc = &config.programs[&original.program];
    if let std::collections::btree_map::Entry::Vacant(e) = formats.entry(original.program) {
        e.insert(crate::bankfile::Format::load(&pc.format, &config.formats_dir)?);
    }
    let payee_name =
        if c.payee_name.trim().is_empty() { original.payee_name.clone() } else { Text::new(c.payee_name.trim()) };
    if let Err(ch) = formats[&original.program].text_rules().encoding.encode(&payee_name) {
        return Ok(Err(format!("户名中的“{ch}”银行文件编码无法表示，请人工处理")));
    }
    Ok(Ok((line_from(&original, account, c, payee_name)?, root, retry)))
}

fn line_from(o: &LedgerLine, account: Account, c: &Correction, payee_name: Text) -> Result<PaymentLine, PipelineError> {
    let id =
        IdNumber::parse(&o.id_number).map_err(|e| PipelineError::Refused(format!("ledger holds a bad ID: {e}")))?;
    let payee_type = if payee_name == o.name { PayeeType::SelfPaid } else { PayeeType::Guardian };
    Ok(PaymentLine {
        program: o.program,
        end_to_end_id: EndToEndId(Text::default()),
        township: o.township.clone(),
        village: o.village.clone(),
        name: o.name.clone(),
        id_number: id,
        payee_name,
        payee_type,
        account,
        bank: if c.bank.trim().is_empty() { o.bank.clone() } else { Text::new(c.bank.trim()) },
        amount: o.amount,
        household_size: None,
        category: Text::default(),
        note: compact_str::format_compact!("更正发放 原{}", o.end_to_end_id),
        pos: SourcePos { file: "corrections".into(), row: c.row },
    })
}

/// A correction batch approves exactly what it pays.
fn correction_totals(lines: &[PaymentLine]) -> RunTotals {
    let mut totals = RunTotals::default();
    for l in lines {
        let t: &mut ProgramTotals = totals.programs.entry(l.program).or_default();
        t.approved.add_fen(l.amount);
        t.paid.add_fen(l.amount);
    }
    totals
}
