//! Reason codes: the bank's Chinese words → ISO 20022 codes (a data table in
//! `formats/reasons.toml`), and what each code means and asks a clerk to do.

use std::path::Path;

use serde::Deserialize;

use super::ReturnsError;
use crate::domain::{PaymentStatus, ReceiptLine};

/// The built-in table, compiled in so the program works without a formats dir.
const BUILTIN: &str = include_str!("../../formats/reasons.toml");
/// The file name looked for in the config's formats dir.
pub const REASONS_FILE: &str = "reasons.toml";

/// Chinese bank reason text (or a bank's numeric result code) → ISO reason code.
///
/// Why keyword matching: banks embed the reason in longer sentences
/// (`户名不符,原户名为[张三]`), so an exact lookup would miss most of them; the
/// longest keyword found wins so that specific wording beats generic wording.
#[derive(Debug, Clone)]
pub struct ReasonMap {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Normalised keyword (帐→账, no whitespace); empty for a bank-code-only entry.
    text: String,
    code: String,
    code_of_bank: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    reason: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    text: String,
    code: String,
    code_of_bank: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
}

impl ReasonMap {
    /// The table shipped with the program (`formats/reasons.toml`).
    pub fn builtin() -> ReasonMap {
        // The built-in table is checked by a unit test; an empty map is the
        // harmless fallback should it ever not parse (everything maps to NARR).
        let entries = parse_table(BUILTIN, "formats/reasons.toml (built-in)").unwrap_or_default();
        ReasonMap { entries }
    }

    /// The built-in table, extended and overridden by `<formats_dir>/reasons.toml`
    /// when that file exists. An entry there replaces a built-in entry with the
    /// same text or the same bank code.
    pub fn load(formats_dir: &Path) -> Result<ReasonMap, ReturnsError> {
        let mut map = ReasonMap::builtin();
        let path = formats_dir.join(REASONS_FILE);
        if !path.exists() {
            return Ok(map);
        }
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ReturnsError::ReasonTable { file: name.clone(), message: format!("cannot read it: {e}") })?;
        for e in parse_table(&text, &name)? {
            map.entries.retain(|old| !replaces(&e, old));
            map.entries.push(e);
        }
        Ok(map)
    }

    /// The ISO code for a bank's reason text; `NARR` when no keyword occurs in it.
    /// A text that is exactly a bank's numeric result code (e.g. `3031`) maps too.
    pub fn code_for(&self, text: &str) -> &str {
        let t = normalise(text);
        if let Some(code) = self.code_for_bank(&t) {
            return code;
        }
        let mut best: Option<&Entry> = None;
        for e in &self.entries {
            let longer = best.is_none_or(|b| e.text.chars().count() > b.text.chars().count());
            if !e.text.is_empty() && longer && t.contains(&e.text) {
                best = Some(e);
            }
        }
        best.map_or("NARR", |e| e.code.as_str())
    }

    /// The ISO code for a bank's own result code (`3031` → `BE01`), if the table has it.
    pub fn code_for_bank(&self, bank_code: &str) -> Option<&str> {
        let c = bank_code.trim();
        self.entries.iter().find(|e| e.code_of_bank.as_deref() == Some(c)).map(|e| e.code.as_str())
    }

    /// Completes a parsed receipt line: a failed or returned line with no reason
    /// code gets one from its text; a bank's numeric code (`3031`) becomes the ISO
    /// code, the bank's code kept at the front of the text. Settled and pending
    /// lines are left as they are.
    pub fn complete(&self, line: &mut ReceiptLine) {
        if !matches!(line.status, PaymentStatus::Failed | PaymentStatus::Returned) {
            return;
        }
        let code = line.reason_code.trim().to_string();
        if code.is_empty() {
            line.reason_code = self.code_for(&line.reason_text).to_string();
        } else if code.chars().all(|c| c.is_ascii_digit()) {
            let iso = self.code_for_bank(&code).map(str::to_string);
            let iso = iso.unwrap_or_else(|| self.code_for(&line.reason_text).to_string());
            line.reason_text = join_text(&code, &line.reason_text);
            line.reason_code = iso;
        }
    }
}

fn join_text(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        _ => format!("{a} {b}"),
    }
}

/// Two entries are "the same" when they share a keyword or a bank code.
fn replaces(new: &Entry, old: &Entry) -> bool {
    (!new.text.is_empty() && new.text == old.text)
        || (new.code_of_bank.is_some() && new.code_of_bank == old.code_of_bank)
}

/// Reads `帐` as `账` (both are in use) and drops whitespace, so wording
/// variants meet the same keyword.
fn normalise(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).map(|c| if c == '帐' { '账' } else { c }).collect()
}

fn parse_table(text: &str, file: &str) -> Result<Vec<Entry>, ReturnsError> {
    let err = |message: String| ReturnsError::ReasonTable { file: file.to_string(), message };
    let table: TableFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(table.reason.len());
    for (i, r) in table.reason.into_iter().enumerate() {
        let n = i + 1;
        let code = r.code.trim().to_string();
        let code_ok =
            (1..=4).contains(&code.len()) && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !code_ok {
            return Err(err(format!(
                "[[reason]] #{n}: code '{code}' is not an ISO reason code (1–4 capital letters or digits)"
            )));
        }
        let bank = r.code_of_bank.map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
        let text = normalise(&r.text);
        if text.is_empty() && bank.is_none() {
            return Err(err(format!("[[reason]] #{n} (code {code}): needs a text or a code_of_bank")));
        }
        out.push(Entry { text, code, code_of_bank: bank });
    }
    Ok(out)
}

/// Chinese description of an ISO 20022 reason code, for failure lists; `""` if unknown.
pub fn reason_zh(code: &str) -> &'static str {
    match code.trim() {
        "AC01" => "账号错误或缺失",
        "AC03" => "收款账号无效",
        "AC04" => "账户已销户",
        "AC06" => "账户冻结或止付",
        "AC07" => "收款账户已销户",
        "AC14" => "账户类型不符",
        "AC16" => "卡号无效",
        "AG01" => "该类账户不能入账",
        "AG03" => "账户不支持该交易",
        "AM01" => "金额为零",
        "AM02" | "AM13" | "AM14" => "金额超过限额",
        "AM04" => "付款专户余额不足",
        "AM05" => "重复交易",
        "AM10" | "AM16" | "AM17" | "AM18" | "AM19" | "AM20" => "总笔数或总金额不符",
        "AM12" => "金额错误",
        "BE01" => "户名与账号不符",
        "BE06" => "收款人不存在",
        "BE17" => "证件号码错误",
        "BE20" | "BE21" | "BE22" => "户名错误或缺失",
        "CNOR" | "RC04" | "RC08" => "开户行号错误",
        "DT01" | "CH03" | "DT05" | "TM01" => "日期或时间错误",
        "DU01" | "DU02" | "DU04" | "DU05" => "编号重复",
        "DS0A" | "DS0B" | "DS0C" | "DS0D" | "DS0H" | "ID01" => "签名错误",
        "FF01" | "FF02" | "FF10" => "文件格式错误",
        "MD07" => "收款人已死亡",
        "MS02" | "MS03" => "原因未说明",
        "NARR" => "见银行说明",
        "NOCM" => "账户不合规（长期不动户）",
        "FR01" | "FRAD" => "疑似欺诈",
        _ => "",
    }
}

/// What a clerk does about a line with this status and reason code (the
/// `action` column of failures.csv). Settled lines need nothing (`""`).
pub fn action_zh(status: PaymentStatus, code: &str) -> &'static str {
    match status {
        PaymentStatus::Settled => return "",
        PaymentStatus::Sent | PaymentStatus::Pending => return "等待银行回盘",
        PaymentStatus::Failed | PaymentStatus::Returned => {}
    }
    match code.trim() {
        "BE01" | "BE20" | "BE21" | "BE22" => "核实户名后更正发放",
        "BE17" => "核实证件号码后更正发放",
        "AC01" | "AC03" | "AC04" | "AC06" | "AC07" | "AC14" | "AC16" | "AG01" | "AG03" | "BE06" | "NOCM" => {
            "核实账户后更正发放"
        }
        "CNOR" | "RC04" | "RC08" => "核实开户行后更正发放",
        "MD07" => "停发并核查死亡",
        "AM04" => "补足专户余额后整批重发",
        "AM05" | "DU01" | "DU02" | "DU04" | "DU05" => "核查是否重复发放，勿直接重发",
        "AM01" | "AM02" | "AM12" | "AM13" | "AM14" => "核实金额后更正发放",
        "AM10" | "AM16" | "AM17" | "AM18" | "AM19" | "AM20" => "核对总笔数总金额后整批重发",
        "DS0A" | "DS0B" | "DS0C" | "DS0D" | "DS0H" | "ID01" => "检查签名证书后整批重发",
        "FF01" | "FF02" | "FF10" | "DT01" | "CH03" | "DT05" | "TM01" => "联系银行核实文件后整批重发",
        _ => "联系银行核实原因后处理",
    }
}

/// True for the reason code saying the payee has died (MD07): the person goes on
/// the suggested stop list (停发) and a 死亡核查 is started.
pub fn is_death(code: &str) -> bool {
    code.trim() == "MD07"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_and_is_not_empty() {
        let n = parse_table(BUILTIN, "builtin").expect("built-in reasons.toml parses").len();
        assert!(n > 40, "{n} entries");
    }

    #[test]
    fn longest_keyword_wins() {
        let m = ReasonMap::builtin();
        assert_eq!(m.code_for("账户已冻结"), "AC06");
        assert_eq!(m.code_for("户名不符,原户名为[张三]"), "BE01");
        assert_eq!(m.code_for("该帐户已销户"), "AC04");
        assert_eq!(m.code_for("nothing known"), "NARR");
        assert_eq!(m.code_for(""), "NARR");
        assert_eq!(m.code_for(" 3031 "), "BE01");
    }

    #[test]
    fn bad_code_in_table_is_refused() {
        let e = parse_table("[[reason]]\ntext = \"x\"\ncode = \"toolong\"\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("f.toml"), "{e}");
        assert!(e.to_string().contains("#1"), "{e}");
    }
}
