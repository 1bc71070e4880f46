//! `disburse.toml`: the office, ledger, output, signing, inputs, payers and
//! programs of SPEC §2. Relative paths resolve against the config file's folder;
//! `{period}` in a path is the period being run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::{Fen, Period, Program};
use crate::reconcile::program_rules::ProgramRules;
use crate::reconcile::ExclusivePair;

mod programs;
pub use programs::{preset, ChecklistConfig};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}", crate::tr!("读不了配置文件 {}：{}", "cannot read config {}: {}", path.display(), crate::fsutil::Explained(source)))]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", crate::tr!("配置文件 {} 写得不对：{message}", "config {} is not valid: {message}", path.display()))]
    Invalid { path: PathBuf, message: String },
}

/// The whole configuration, paths already resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder the config file is in (what relative paths resolve against).
    pub base: PathBuf,
    pub office: Office,
    /// Where the ledger is: an SQLite file (the default) or a shared server.
    pub ledger: LedgerTarget,
    /// The SQLite ledger's file; empty for a shared ledger (`[ledger] url`).
    pub ledger_path: PathBuf,
    pub output_dir: PathBuf,
    pub signing: Signing,
    pub approvals: String,
    pub stops: Option<String>,
    pub payers: BTreeMap<String, Payer>,
    pub programs: BTreeMap<Program, ProgramConfig>,
    /// Folder of bank layouts (`formats/`), resolved.
    pub formats_dir: PathBuf,
    /// Share (e.g. 0.2 = 20 %) above which a changed amount raises R06.
    pub change_warn_share: Decimal,
    /// `[[checklists]]` (比对名单, SPEC §9).
    pub checklists: Vec<ChecklistConfig>,
    /// Every pair of programs one person may not draw together (R02): the
    /// configured programs' `exclusive_with`, each pair once.
    pub exclusive: Vec<ExclusivePair>,
    /// What the 公示 prints besides the lines (`[notice]`, optional).
    pub notice: Notice,
    /// `[checks] pending_days`: a line still without a final status this many
    /// days after its bank file was made is listed in unanswered.csv (0: every one).
    pub pending_days: u32,
    /// SHA-256 of the config file's bytes (the audit trail names the
    /// configuration a command ran with); empty for config text parsed directly.
    pub source_sha256: String,
}

/// `[notice]`: the 公示期, the contact phone and where to object (SPEC §13).
/// Every part is optional: a 公示 without one prints a blank for the clerk to
/// fill in by hand before posting it, rather than leaving it off unnoticed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// 公示期 first and last day.
    pub start: Option<chrono::NaiveDate>,
    pub end: Option<chrono::NaiveDate>,
    /// 联系电话.
    pub phone: Option<String>,
    /// 异议受理: where (or to whom) an objection goes.
    pub objection: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    #[serde(default)]
    start: Option<toml::Value>,
    #[serde(default)]
    end: Option<toml::Value>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    objection: Option<String>,
}

impl RawNotice {
    fn parse(self) -> Result<Notice, String> {
        let start = notice_date("start", self.start)?;
        let end = notice_date("end", self.end)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(format!(
                    "notice.end {e} is before notice.start {s}: the 公示期 ends on or after its first day"
                ));
            }
        }
        let text = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Notice { start, end, phone: text(self.phone), objection: text(self.objection) })
    }
}

/// A 公示 date written as a TOML date (`2026-11-20`) or a string (`"2026-11-20"`).
fn notice_date(key: &str, v: Option<toml::Value>) -> Result<Option<chrono::NaiveDate>, String> {
    let text = match v {
        None => return Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(toml::Value::String(s)) => s,
        Some(toml::Value::Datetime(d)) if d.date.is_some() && d.time.is_none() => d.to_string(),
        Some(other) => other.to_string(),
    };
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("notice.{key} '{text}' is not a date: write it as 2026-11-20"))
}

/// The paying office (付款单位).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    pub name: String,
    /// 统一社会信用代码.
    pub uscc: String,
    /// 行政区划代码 (six digits) of the office: required with a shared ledger,
    /// where it is on every row and in every end-to-end reference.
    #[serde(default)]
    pub code: Option<String>,
}

/// Where the ledger lives (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerTarget {
    /// The embedded SQLite file of one office.
    File(PathBuf),
    /// A PostgreSQL (or derived) server many offices share: the URL as written,
    /// never with a password (DISBURSE_LEDGER_PASSWORD or ~/.pgpass give it).
    Server { url: String },
}

/// Signing settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    pub algorithm: String,
    pub key: PathBuf,
    #[serde(default = "default_distid")]
    pub distid: String,
}

fn default_distid() -> String {
    "1234567812345678".to_string()
}

/// A paying account (付款账户).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    pub name: String,
    pub account: String,
    /// CNAPS code of the payer's branch (12 digits).
    pub bank_code: String,
}

/// When a program pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Monthly,
    Quarterly,
    HalfYearly,
    Annual,
    Months(Vec<u32>),
}

impl Schedule {
    /// Whether a run for `period` pays this program. Quarterly pays in the first
    /// month of each quarter, half-yearly in January and July, annual in January,
    /// unless months are listed explicitly.
    pub fn is_due(&self, period: Period) -> bool {
        let m = period.month;
        match self {
            Schedule::Monthly => true,
            Schedule::Quarterly => m % 3 == 1,
            Schedule::HalfYearly => m == 1 || m == 7,
            Schedule::Annual => m == 1,
            Schedule::Months(ms) => ms.contains(&m),
        }
    }
}

/// One program's settings.
#[derive(Debug, Clone)]
pub struct ProgramConfig {
    pub program: Program,
    pub schedule: Schedule,
    pub payer: String,
    pub format: String,
    pub roster: String,
    /// Sheet name for `.xlsx`/`.xls` rosters (first sheet if absent).
    pub sheet: Option<String>,
    pub cap: Fen,
    pub purpose: String,
    /// The name a clerk knows the program by (built-in, or the config's `name`).
    pub name: String,
    /// The rule keys of SPEC §9 over the program's preset.
    pub rules: ProgramRules,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    office: Office,
    ledger: RawLedger,
    output: RawOutput,
    signing: Signing,
    inputs: RawInputs,
    payers: BTreeMap<String, Payer>,
    programs: BTreeMap<String, toml::Table>,
    #[serde(default)]
    checks: RawChecks,
    #[serde(default)]
    checklists: Vec<programs::RawChecklist>,
    #[serde(default)]
    notice: RawNotice,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: PathBuf,
    #[serde(default)]
    formats: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    approvals: String,
    #[serde(default)]
    stops: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    /// R06 threshold as a share, e.g. "0.2".
    #[serde(default)]
    change_warn_share: Option<String>,
    /// Days a line may stay without a final receipt before unanswered.csv lists it.
    #[serde(default)]
    pending_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    schedule: toml::Value,
    payer: String,
    format: String,
    roster: String,
    #[serde(default)]
    sheet: Option<String>,
    cap: String,
    #[serde(default = "default_purpose")]
    purpose: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ref_prefix: Option<String>,
}

/// The keys of a `[programs.CODE]` table that are not rule keys.
const BASE_KEYS: [&str; 9] = ["schedule", "payer", "format", "roster", "sheet", "cap", "purpose", "name", "ref_prefix"];

/// Splits a `[programs.CODE]` table into its base keys and its rule keys.
fn split_program(code: &str, table: toml::Table) -> Result<(RawProgram, programs::RawRules), String> {
    let (base, rules): (toml::Table, toml::Table) =
        table.into_iter().partition(|(k, _)| BASE_KEYS.contains(&k.as_str()));
    let base: RawProgram = toml::Value::Table(base).try_into().map_err(|e| format!("programs.{code}: {e}"))?;
    let rules: programs::RawRules =
        toml::Value::Table(rules).try_into().map_err(|e| format!("programs.{code}: {e}"))?;
    Ok((base, rules))
}

fn default_purpose() -> String {
    "BENE".to_string()
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read = |source| ConfigError::Read { path: path.to_path_buf(), source };
        // Read at most one byte past the limit: a config is a few KB, and a
        // path pointing at something huge (or endless, like /dev/zero) is refused.
        let mut bytes = Vec::new();
        let limit = crate::ingest::limits::CONFIG_BYTES;
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(read)?, limit + 1),
            &mut bytes,
        )
        .map_err(read)?;
        if bytes.len() as u64 > limit {
            let message = crate::tr!(
                "文件大于 {}，不可能是配置文件：请检查路径指的是不是 disburse.toml",
                "it is larger than {}, which no configuration is: check that the path names disburse.toml",
                crate::ingest::limits::bytes(limit)
            );
            return Err(ConfigError::Invalid { path: path.to_path_buf(), message });
        }
        let sha256 = crate::fsutil::sha256_hex(&bytes);
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            let message = crate::tr!(
                "第 {line} 行不是 UTF-8 文本（存成了 GBK/ANSI？）：请把文件另存为 UTF-8 后重新运行",
                "line {line} is not UTF-8 text (saved as GBK/ANSI?): save the file as UTF-8 and run again"
            );
            ConfigError::Invalid { path: path.to_path_buf(), message }
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let mut config =
            Self::parse(&text, &base).map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        config.source_sha256 = sha256;
        Ok(config)
    }

    /// Parses config text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        no_climbing("output.dir", &raw.output.dir)?;
        let ledger = ledger_target(&raw.ledger, &raw.office, base)?;
        let mut programs = BTreeMap::new();
        let mut prefixes = Vec::new();
        for (code, table) in raw.programs {
            let program = Program::define(&code).map_err(|e| format!("[programs.{code}]: {e}"))?;
            let (p, raw_rules) = split_program(&code, table)?;
            let name = match (p.name.as_deref().map(str::trim), program.is_built_in()) {
                (Some(n), _) if !n.is_empty() => n.to_string(),
                (_, true) => program.built_in_name().to_string(),
                (_, false) => {
                    return Err(format!(
                        "programs.{code} needs name = \"…\" (the program's Chinese name, e.g. name = \"农垦补助\"): \
                         only the built-in codes have one"
                    ))
                }
            };
            program.set_name(&name);
            prefixes.push((program, p.ref_prefix.clone()));
            let rules = programs::rules(program, raw_rules)?;
            if !raw.payers.contains_key(&p.payer) {
                return Err(format!("programs.{code}.payer '{}' is not a [payers.{}] table", p.payer, p.payer));
            }
            let cap = crate::domain::parse_amount(&p.cap)
                .ok()
                .and_then(Fen::from_yuan)
                .filter(|c| c.0 > 0)
                .ok_or_else(|| format!("programs.{code}.cap '{}' is not a positive amount in yuan", p.cap))?;
            let schedule = parse_schedule(&p.schedule).map_err(|e| format!("programs.{code}.schedule: {e}"))?;
            programs.insert(
                program,
                ProgramConfig {
                    program,
                    schedule,
                    payer: p.payer,
                    format: p.format,
                    roster: p.roster,
                    sheet: p.sheet,
                    cap,
                    purpose: p.purpose,
                    name,
                    rules,
                },
            );
        }
        programs::assign_prefixes(&prefixes)?;
        let mut exclusive: Vec<ExclusivePair> = Vec::new();
        for p in programs.values() {
            for &other in &p.rules.exclusive_with {
                if other != p.program
                    && !exclusive.iter().any(|&(a, b)| (a, b) == (p.program, other) || (b, a) == (p.program, other))
                {
                    exclusive.push(if p.program < other { (p.program, other) } else { (other, p.program) });
                }
            }
        }
        let checklists = raw
            .checklists
            .into_iter()
            .enumerate()
            .map(|(i, c)| programs::checklist(c, i))
            .collect::<Result<Vec<_>, _>>()?;
        let change_warn_share = match raw.checks.change_warn_share {
            Some(s) => s.parse().map_err(|_| format!("checks.change_warn_share '{s}' is not a number"))?,
            None => Decimal::new(2, 1),
        };
        let notice = raw.notice.parse()?;
        let formats_dir = base.join(raw.output.formats.unwrap_or_else(|| PathBuf::from("formats")));
        Ok(Config {
            base: base.to_path_buf(),
            office: raw.office,
            ledger_path: match &ledger {
                LedgerTarget::File(p) => p.clone(),
                LedgerTarget::Server { .. } => PathBuf::new(),
            },
            ledger,
            output_dir: base.join(raw.output.dir),
            signing: Signing { key: base.join(&raw.signing.key), ..raw.signing },
            approvals: raw.inputs.approvals,
            stops: raw.inputs.stops,
            payers: raw.payers,
            programs,
            formats_dir,
            change_warn_share,
            checklists,
            exclusive,
            notice,
            pending_days: raw.checks.pending_days.unwrap_or(10),
            source_sha256: String::new(),
        })
    }

    /// A config path pattern with `{period}` filled in, resolved against the config folder.
    pub fn resolve(&self, pattern: &str, period: Period) -> PathBuf {
        self.base.join(pattern.replace("{period}", &period.to_string()))
    }

    /// The same path as the clerk would name it (relative to the config folder).
    pub fn display_path(&self, pattern: &str, period: Period) -> String {
        pattern.replace("{period}", &period.to_string())
    }

    /// The folder a run for `period` writes into.
    pub fn period_dir(&self, period: Period) -> PathBuf {
        self.output_dir.join(period.to_string())
    }

    /// Programs due in `period`, in reporting order.
    pub fn due_programs(&self, period: Period) -> Vec<&ProgramConfig> {
        self.programs.values().filter(|p| p.schedule.is_due(period)).collect()
    }
}

/// `[ledger]`: exactly one of `path` and `url`. A shared ledger needs the office's
/// code (its rows and references carry it), and its URL never a password: the
/// config file is copied, mailed and committed, a password in it leaks.
fn ledger_target(raw: &RawLedger, office: &Office, base: &Path) -> Result<LedgerTarget, String> {
    if let Some(code) = &office.code {
        if !is_office_code(code) {
            return Err(format!("office.code '{code}' is not a 6-digit 行政区划代码 (e.g. \"330729\")"));
        }
    }
    match (&raw.path, &raw.url) {
        (Some(_), Some(_)) => Err("[ledger] has both path and url: keep path for this office's own SQLite \
                                   ledger, or url for a shared one"
            .into()),
        (None, None) => {
            Err("[ledger] needs path (this office's SQLite file) or url (a shared PostgreSQL ledger)".into())
        }
        (Some(path), None) => {
            no_climbing("ledger.path", path)?;
            Ok(LedgerTarget::File(base.join(path)))
        }
        (None, Some(url)) => {
            crate::pgurl::check_server_url(url)?;
            if office.code.is_none() {
                return Err("a shared ledger ([ledger] url) needs the office's 行政区划代码: add code = \"330729\" \
                            (your own six digits) under [office]"
                    .into());
            }
            Ok(LedgerTarget::Server { url: url.clone() })
        }
    }
}

/// Six ASCII digits.
pub fn is_office_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Where payment files and the ledger go must be plain: a relative path that
/// climbs out of the office folder with `..` is refused (an absolute path is the
/// honest way to put them elsewhere), so a copied or edited config cannot quietly
/// write bank files into some other office's folder.
fn no_climbing(key: &str, p: &Path) -> Result<(), String> {
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!(
            "{key} '{}' climbs out of the office folder with '..': use a folder inside it, or an absolute path",
            p.display()
        ));
    }
    Ok(())
}

fn parse_schedule(v: &toml::Value) -> Result<Schedule, String> {
    match v {
        toml::Value::String(s) => match s.as_str() {
            "monthly" => Ok(Schedule::Monthly),
            "quarterly" => Ok(Schedule::Quarterly),
            "half-yearly" => Ok(Schedule::HalfYearly),
            "annual" => Ok(Schedule::Annual),
            other => Err(format!("'{other}' is not monthly, quarterly, half-yearly, annual or a list of months")),
        },
        toml::Value::Array(items) => {
            let months: Option<Vec<u32>> = items
                .iter()
                .map(|i| i.as_integer().and_then(|m| u32::try_from(m).ok()).filter(|m| (1..=12).contains(m)))
                .collect();
            months.map(Schedule::Months).ok_or_else(|| "a month list holds numbers 1 to 12".to_string())
        }
        _ => Err("expected a string or a list of months".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        assert!(Schedule::Quarterly.is_due(p("2026-10")));
        assert!(!Schedule::Quarterly.is_due(p("2026-11")));
        assert!(Schedule::Months(vec![1, 7]).is_due(p("2026-07")));
        assert!(Schedule::Annual.is_due(p("2027-01")));
    }

    const MINIMAL: &str = "[office]\nname = \"x\"\nuscc = \"113307290025311719\"\n[ledger]\npath = \"l.db\"\n\
        [output]\ndir = \"out\"\n[signing]\nalgorithm = \"ed25519\"\nkey = \"k.pem\"\n\
        [inputs]\napprovals = \"a.csv\"\n[payers]\n[programs]\n";

    #[test]
    fn notice_dates_as_toml_dates_or_strings_and_optional() {
        let base = Path::new(".");
        let c = Config::parse(MINIMAL, base).unwrap();
        assert_eq!(c.notice, Notice::default());
        let with = |n: &str| Config::parse(&format!("{MINIMAL}[notice]\n{n}"), base).map(|c| c.notice);
        let n = with("start = 2026-11-20\nend = \"2026-11-26\"\nphone = \"0571-12345678\"\nobjection = \"县民政局\"")
            .unwrap();
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!((n.start, n.end), (d("2026-11-20"), d("2026-11-26")));
        assert_eq!((n.phone.as_deref(), n.objection.as_deref()), (Some("0571-12345678"), Some("县民政局")));
        assert!(with("start = \"11/20\"").unwrap_err().contains("notice.start"));
        assert!(with("start = 2026-11-26\nend = 2026-11-20").unwrap_err().contains("before"));
        assert!(with("phone = \"\"").unwrap().phone.is_none());
        assert!(with("fax = \"1\"").is_err(), "an unknown key is refused, as elsewhere");
    }
}
