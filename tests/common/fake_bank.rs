//! A stand-in for the bank, shared by `examples/fake_bank.rs` (the demo) and the
//! integration tests: reads a run's `reports/paid.csv` and answers the way a bank
//! does — a pain.002.001.10 status report (most lines settled, every N-th rejected
//! with a real reason code and Chinese text), a camt.054.001.08 late return (退票)
//! for the first settled line, and a corrections file with new accounts for the
//! rejected lines.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

pub struct Paid {
    pub e2e: String,
    pub amount: String,
    pub account: String,
}

const REJECTIONS: [(&str, &str); 4] =
    [("AC04", "已销户"), ("BE01", "户名不符,原户名为[张某]"), ("AC06", "账户已冻结"), ("MD07", "账户持有人已死亡")];

/// What the fake bank answered.
pub struct Answer {
    pub lines: usize,
    pub rejected: Vec<String>,
    pub returned: Option<String>,
}

/// Answers every line of `period_dir/reports/paid.csv` into `out`.
pub fn answer(period_dir: &Path, out: &Path, every: usize) -> Result<Answer, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let text = std::fs::read_to_string(period_dir.join("reports/paid.csv"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut paid = Vec::new();
    for r in rdr.records() {
        let r = r?;
        paid.push(Paid { e2e: r[1].to_string(), account: r[6].to_string(), amount: r[7].to_string() });
    }
    let failed: Vec<&Paid> = paid.iter().enumerate().filter(|(i, _)| i % every == every / 2).map(|(_, p)| p).collect();
    std::fs::write(out.join("pain002.xml"), pain002(&paid, every))?;
    let settled = paid.iter().enumerate().find(|(i, _)| i % every != every / 2).map(|(_, p)| p);
    if let Some(p) = settled {
        std::fs::write(out.join("camt054.xml"), camt054(p))?;
    }
    // The clerk's corrections: a new account for each (a card keeps a valid
    // check digit), and for a person the bank reported deceased the name of who
    // went and found them alive (`verified_by`, SPEC §8).
    let mut corr = String::from("end_to_end_id,account,bank,payee_name,verified_by\n");
    for (k, p) in failed.iter().copied().chain(settled).enumerate() {
        let acct = corrected_account(&p.account);
        let died = k < failed.len() && REJECTIONS[k % REJECTIONS.len()].0 == "MD07";
        writeln!(corr, "{},{},,,{}", p.e2e, acct, if died { "城关镇民政办李核实" } else { "" })?;
    }
    std::fs::write(out.join("corrections.csv"), corr)?;
    Ok(Answer {
        lines: paid.len(),
        rejected: failed.iter().map(|p| p.e2e.clone()).collect(),
        returned: settled.map(|p| p.e2e.clone()),
    })
}

/// Another account of the same bank, one per account: the digit after the
/// bank's six-digit prefix moved on by five (so two people never end up on one
/// new account, R05), and for a card (62…, 16–19 digits) the check digit made
/// right again (Luhn), as a real one has.
pub fn corrected_account(account: &str) -> String {
    let mut acct = account.to_string();
    let d = acct.as_bytes()[6] - b'0';
    acct.replace_range(6..7, &((d + 5) % 10).to_string());
    let card = acct.starts_with("62") && (16..=19).contains(&acct.len());
    if !card {
        return acct;
    }
    let body = &acct[..acct.len() - 1];
    format!("{body}{}", disburse::domain::luhn_digit(body))
}

/// One report about the lines of several files: no group status, as none could
/// be true of all of them (and one naming no message we sent is flagged).
pub fn pain002(paid: &[Paid], every: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKRPT0001</MsgId><CreDtTm>2026-11-26T09:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>MULTIPLE</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>MULTIPLE</OrgnlPmtInfId>
"#,
    );
    let mut k = 0;
    for (i, p) in paid.iter().enumerate() {
        if i % every == every / 2 {
            let (code, text) = REJECTIONS[k % REJECTIONS.len()];
            k += 1;
            let _ = writeln!(
                s,
                "<TxInfAndSts><OrgnlEndToEndId>{}</OrgnlEndToEndId><TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>{code}</Cd></Rsn><AddtlInf>{text}</AddtlInf></StsRsnInf><OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">{}</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>",
                p.e2e, p.amount
            );
        } else {
            let _ = writeln!(
                s,
                "<TxInfAndSts><OrgnlEndToEndId>{}</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>",
                p.e2e
            );
        }
    }
    s.push_str("</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n");
    s
}

pub fn camt054(p: &Paid) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>BANKNTF0001</MsgId><CreDtTm>2026-11-28T09:00:00+08:00</CreDtTm></GrpHdr>
<Ntfctn><Id>NTF1</Id><Acct><Id><Othr><Id>33001610000053012345</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="CNY">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd><Prtry><Cd>RTRN</Cd></Prtry></BkTxCd>
<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs><Amt Ccy="CNY">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RtrInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>退票：账户已销户</AddtlInf></RtrInf></TxDtls></NtryDtls></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>
"#,
        amt = p.amount,
        e2e = p.e2e
    )
}
