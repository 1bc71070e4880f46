//! One payment's whole life (一笔资金的来龙去脉, SPEC §14), as facts gathered by
//! `disburse trace` and shown in order: the roster row, the approval, the checks,
//! the bank file and who signed it, every receipt that spoke of it, and every
//! correction with its own fate. Numbers are masked before they get here.

use serde::Serialize;

/// What `trace` found for one key.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Trace {
    /// Each original payment found, with its corrections.
    pub payments: Vec<PaymentTrace>,
    /// Roster rows of the person that were held or listed and never paid (`--id`).
    pub held: Vec<CodeRow>,
}

/// A row's place in the file it came from.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub row: u64,
}

/// The approval (审批) the program's roster was paid under.
#[derive(Serialize, Debug, Clone, Default)]
pub struct ApprovalRef {
    pub reference: String,
    pub approved_by: String,
    pub approved_on: String,
}

/// A code a roster row carried (exceptions.csv), masked.
#[derive(Serialize, Debug, Clone, Default)]
pub struct CodeRow {
    pub program: String,
    pub file: String,
    pub row: u64,
    pub field: String,
    pub code: String,
    pub severity: String,
    pub message: String,
}

/// The bank file that carried the line and the key that signed it.
#[derive(Serialize, Debug, Clone, Default)]
pub struct BankFileRef {
    pub name: String,
    pub sha256: Option<String>,
    /// The batch (`R001`, `C001`) whose manifest first lists the file, and its time.
    pub batch: Option<String>,
    pub created: Option<String>,
    pub algorithm: Option<String>,
    /// SHA-256 of the signing key's public key (SPKI DER), hex.
    pub key_fingerprint: Option<String>,
}

/// One receipt line (or batch status) that spoke of the payment.
#[derive(Serialize, Debug, Clone, Default)]
pub struct ReceiptRef {
    /// The archived copy, relative to the output folder.
    pub file: String,
    /// When it was applied.
    pub at: String,
    pub place: String,
    pub status: String,
    pub reason_code: String,
    pub reason_text: String,
    /// The line as the bank wrote it (text returns), masked.
    pub raw: String,
}

/// One payment line and all that happened to it.
#[derive(Serialize, Debug, Clone, Default)]
pub struct PaymentTrace {
    pub end_to_end_id: String,
    pub program: String,
    pub period: String,
    pub name: String,
    pub id_number_masked: String,
    pub payee_name: String,
    pub account_masked: String,
    pub amount: String,
    /// For a correction: the original line and the retry number.
    pub original_id: Option<String>,
    pub retry: u32,
    /// Who checked that the person is alive and entitled before a correction
    /// paid them again (a death report or the stop list), if anyone had to.
    pub verified_by: Option<String>,
    pub source: Option<Source>,
    pub approval: Option<ApprovalRef>,
    /// Codes the line carried (a paid line: warnings only; it passed every hold check).
    pub codes: Vec<CodeRow>,
    pub bank_file: BankFileRef,
    pub receipts: Vec<ReceiptRef>,
    /// The ledger's status now, and its reason.
    pub status: String,
    pub reason_code: String,
    pub reason_text: String,
    pub corrections: Vec<PaymentTrace>,
}

/// The trace as a clerk or auditor reads it, in order.
pub fn render_zh(t: &Trace) -> Vec<String> {
    let mut out = Vec::new();
    for p in &t.payments {
        render_payment(p, "", &mut out);
    }
    if !t.held.is_empty() {
        out.push("未发放（暂缓或列出）的名册行：".to_string());
        for c in &t.held {
            out.push(format!(
                "  {} {} 第{}行 {} {}（{}）：{}",
                c.program, c.file, c.row, c.field, c.code, c.severity, c.message
            ));
        }
    }
    if out.is_empty() {
        out.push("没有找到这笔发放".to_string());
    }
    out
}

fn render_payment(p: &PaymentTrace, indent: &str, out: &mut Vec<String>) {
    let title = match &p.original_id {
        Some(o) => format!("更正发放 {}（原始 {}，第{}次）", p.end_to_end_id, o, p.retry),
        None => format!("发放 {}", p.end_to_end_id),
    };
    out.push(format!(
        "{indent}{title}：{} {} {} 身份证 {} 收款人 {} 账号 {} 金额 {} 元",
        p.period, p.program, p.name, p.id_number_masked, p.payee_name, p.account_masked, p.amount
    ));
    let i = format!("{indent}  ");
    if let Some(v) = &p.verified_by {
        out.push(format!("{i}核实人：{v}（确认在世且仍有资格后才重新发放）"));
    }
    match &p.source {
        Some(s) => out.push(format!("{i}1. 来源：{} 第{}行", s.file, s.row)),
        None => out.push(format!("{i}1. 来源：付款记录中没有来源行（旧版本写的批次）")),
    }
    match &p.approval {
        Some(a) => out.push(format!("{i}2. 审批：{}（{} {}）", a.reference, a.approved_by, a.approved_on)),
        None if p.original_id.is_some() => out.push(format!("{i}2. 审批：更正发放，沿用原始发放的审批")),
        None => out.push(format!("{i}2. 审批：找不到该项目的审批记录")),
    }
    if p.codes.is_empty() {
        out.push(format!("{i}3. 校验：全部通过，未带任何代码"));
    } else {
        let codes: Vec<String> = p.codes.iter().map(|c| format!("{}（{}）{}", c.code, c.severity, c.message)).collect();
        out.push(format!("{i}3. 校验：暂缓类校验全部通过；带有 {}", codes.join("；")));
    }
    let b = &p.bank_file;
    out.push(format!(
        "{i}4. 银行文件：{}，批次 {} {}，SHA-256 {}，签名 {} 公钥指纹 {}",
        b.name,
        b.batch.as_deref().unwrap_or("—"),
        b.created.as_deref().unwrap_or(""),
        b.sha256.as_deref().unwrap_or("—"),
        b.algorithm.as_deref().unwrap_or("—"),
        b.key_fingerprint.as_deref().unwrap_or("—")
    ));
    if p.receipts.is_empty() {
        out.push(format!("{i}5. 回执：银行尚无回执提到这笔"));
    } else {
        out.push(format!("{i}5. 回执："));
        for r in &p.receipts {
            let reason = if r.reason_code.is_empty() && r.reason_text.is_empty() {
                String::new()
            } else {
                format!(" {} {}", r.reason_code, r.reason_text)
            };
            out.push(format!("{i}   {} {} {}：{}{reason}", r.at, r.file, r.place, r.status));
            if !r.raw.is_empty() {
                out.push(format!("{i}     原文：{}", r.raw));
            }
        }
    }
    let reason =
        if p.reason_code.is_empty() { String::new() } else { format!("（{} {}）", p.reason_code, p.reason_text) };
    out.push(format!("{i}6. 现在：{}{reason}", p.status));
    if p.original_id.is_none() {
        if p.corrections.is_empty() {
            out.push(format!("{i}7. 更正：无"));
        } else {
            out.push(format!("{i}7. 更正："));
            for c in &p.corrections {
                render_payment(c, &format!("{i}   "), out);
            }
        }
    }
}
