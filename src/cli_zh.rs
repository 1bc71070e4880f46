//! The command line in Chinese (SPEC §13): the help a clerk reads with `--help`
//! and the refusal of a mistyped command. The English texts are the doc comments
//! on `Cli` in main.rs; this table lays the Chinese over them before clap parses,
//! and turns clap's own English words (headings, its argument errors) into Chinese.

use clap::error::{ContextKind, ErrorKind};

/// Chinese help for a command (`"check"`, `"ledger rebuild"`, `""` for the root)
/// or one of its arguments (`"check --period"`); `"* --config"` is any command's.
const HELP: &[(&str, &str)] = &[
    ("", "社会救助资金发放：名册进，签名的银行文件出，银行回盘回来"),
    ("* --log-format", "日志格式（写到标准错误）：text 给人看，json 每行一个对象，给定时任务（cron）用"),
    ("* --lang", "界面语言：zh 中文（默认）或 en 英文；也可设环境变量 DISBURSE_LANG"),
    ("* --config", "本办公室的配置文件（disburse.toml；也可设环境变量 DISBURSE_CONFIG）"),
    ("* --period", "发放期，年-月，例如 2026-11"),
    ("init", "在一个新目录里生成能直接运行的示例办公室（配置、名册、审批表、停发名单、签名密钥）"),
    ("init DIR", "示例办公室的目录（新建或为空）"),
    ("check", "读入、校验、核对并汇总一个发放期；只写报告，不写银行文件，不记台账"),
    ("run", "正式发放：银行文件、签名、清单、报告，并记入台账"),
    ("returns", "导入银行回盘（pain.002、camt.054，或 formats/ 里定义的文本回盘）"),
    ("returns FILES", "银行回盘文件，可以一次给多个"),
    ("reissue", "为失败或退回的发放生成更正发放批次"),
    ("reissue --corrections", "更正表 corrections.csv：每个要重发的人的新账号和开户行"),
    ("watch", "守候银行投递目录，回盘文件完整后逐个导入；收到 SIGTERM/SIGINT 时处理完手上的文件再停"),
    ("watch --inbox", "银行的投递目录；导入后的文件移到其中的 processed/<年月日>/，有问题的移到 refused/"),
    ("watch --settle-ms", "文件大小和修改时间这么多毫秒不变才读（有 X.ok 标记的文件立即读）；默认 2000"),
    ("watch --once", "只处理现在已完整的文件，处理完就退出（给定时任务和测试用）"),
    ("report", "从台账重建一个发放期的 failures.csv、stops_suggested.csv 和报告"),
    ("status", "按项目列出已发送、已到账、失败、退回、待回盘和已重发的笔数与金额"),
    ("status --period", "只看这个发放期（年-月，例如 2026-11）"),
    ("status --json", "以 JSON 输出"),
    ("status --all-offices", "共享台账里所有办公室的汇总（全省）"),
    ("audit", "审计记录：谁在何时、何处运行了哪个写台账的命令，结果如何"),
    ("audit --period", "只看与这个发放期有关的命令（年-月，例如 2026-11）"),
    ("audit --json", "以 JSON 输出"),
    (
        "trace",
        "一笔发放的来龙去脉：名册行、审批、校验、银行文件和签名人、回盘和更正；按交易编号查，或用 --id 加 --period",
    ),
    ("trace REFERENCE", "交易编号（银行文件、paid.csv、failures.csv 上的 end_to_end_id）"),
    ("trace --id", "此人的身份证号（要同时给 --period）"),
    ("trace --period", "发放期（年-月，例如 2026-11）"),
    ("trace --json", "以 JSON 输出"),
    ("ledger", "台账本身"),
    ("ledger rebuild", "台账丢失时从输出目录重建：先校验每个发放目录，再按顺序重放发放、回盘和更正批次"),
    ("ledger rebuild --force", "替换已有数据的台账（旧台账保留在新台账旁边）"),
    ("verify", "校验一个发放目录：摘要、签名、笔数、金额和清单链"),
    ("verify DIR", "要校验的发放目录"),
    ("verify --public-key", "指定公钥（SPKI PEM），不信任清单里附带的公钥"),
    ("verify --config", "本办公室的配置：同时按台账记下的密钥核对这次发放"),
    ("keygen", "生成签名密钥：私钥文件（PKCS#8 PEM，权限 0600）和旁边的公钥文件（多一个 .pub 后缀）"),
    ("keygen --algorithm", "签名算法：sm2 或 ed25519"),
    ("keygen --out", "私钥文件；公钥写到同名加 .pub 的文件"),
    ("help", "显示本说明或某个命令的帮助"),
];

/// The placeholder of an argument's value in the help (`--period <年-月>`), by its id.
const VALUE_NAMES: &[(&str, &str)] = &[
    ("config", "配置文件"),
    ("period", "年-月"),
    ("log_format", "text|json"),
    ("lang", "zh|en"),
    ("dir", "目录"),
    ("files", "回盘文件"),
    ("inbox", "目录"),
    ("settle_ms", "毫秒"),
    ("corrections", "更正表"),
    ("public_key", "公钥文件"),
    ("algorithm", "sm2|ed25519"),
    ("out", "私钥文件"),
    ("reference", "交易编号"),
    ("id", "身份证号"),
];

/// The argument's name as the help shows it: `--period`, or `DIR` for a positional.
fn shown_name(arg: &clap::Arg) -> String {
    match arg.get_long() {
        Some(long) => format!("--{long}"),
        None => arg.get_id().as_str().to_uppercase(),
    }
}

fn lookup(key: &str) -> Option<&'static str> {
    HELP.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Lays the Chinese texts over `cmd` and its subcommands. Defaults, environment
/// variables and possible values are said in the Chinese texts themselves, so
/// clap's English brackets (`[default: …]`, `[env: …]`) are hidden.
pub fn localize(cmd: clap::Command) -> clap::Command {
    localize_at(cmd, "")
}

fn localize_at(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some(about) = lookup(path) {
        cmd = cmd.about(about).long_about(None);
    }
    let ids: Vec<(String, String)> =
        cmd.get_arguments().map(|a| (a.get_id().as_str().to_string(), shown_name(a))).collect();
    for (id, shown) in ids {
        let own = if path.is_empty() { shown.clone() } else { format!("{path} {shown}") };
        let text = lookup(&own).or_else(|| lookup(&format!("* {shown}")));
        let value_name = VALUE_NAMES.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
        cmd = cmd.mut_arg(id.as_str(), |a| {
            let mut a = a.hide_env(true).hide_default_value(true).hide_possible_values(true);
            if let Some(v) = value_name {
                a = a.value_name(v);
            }
            match text {
                Some(t) => a.help(t).long_help(None),
                None => a,
            }
        });
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in subs {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(name.as_str(), |s| localize_at(s, &sub_path));
    }
    cmd
}

/// clap's own words in a rendered help or usage, in Chinese.
const WORDS: &[(&str, &str)] = &[
    ("Usage:", "用法："),
    ("Commands:", "命令："),
    ("Options:", "选项："),
    ("Arguments:", "参数："),
    ("[OPTIONS]", "[选项]"),
    ("<COMMAND>", "<命令>"),
    ("[COMMAND]", "[命令]"),
    ("Print help (see more with '--help')", "显示帮助（--help 显示更多）"),
    ("Print help (see a summary with '-h')", "显示帮助（-h 显示摘要）"),
    ("Print help", "显示帮助"),
    ("Print version", "显示版本"),
    ("Print this message or the help of the given subcommand(s)", "显示本说明或某个命令的帮助"),
];

/// A help text rendered by clap, with its fixed English words in Chinese.
pub fn words(rendered: &str) -> String {
    let mut out = rendered.to_string();
    for (en, zh) in WORDS {
        out = out.replace(en, zh);
    }
    out
}

/// A mistyped command line said in Chinese: what was wrong, and where to look.
pub fn refusal(e: &clap::Error) -> String {
    let ctx = |k: ContextKind| e.get(k).map(|v| v.to_string()).unwrap_or_default();
    let arg = ctx(ContextKind::InvalidArg);
    let value = ctx(ContextKind::InvalidValue);
    let what = match e.kind() {
        ErrorKind::UnknownArgument => format!("不认识的参数 {arg}"),
        ErrorKind::InvalidSubcommand => format!("没有 {} 这个命令", ctx(ContextKind::InvalidSubcommand)),
        ErrorKind::InvalidValue => {
            let valid = ctx(ContextKind::ValidValue);
            if valid.is_empty() {
                format!("{arg} 的值 {value} 不对")
            } else {
                format!("{arg} 的值 {value} 不对，可以是：{valid}")
            }
        }
        ErrorKind::ValueValidation => match std::error::Error::source(e) {
            Some(why) => format!("{arg} 的值 {value} 不对：{why}"),
            None => format!("{arg} 的值 {value} 不对"),
        },
        ErrorKind::MissingRequiredArgument => format!("缺少必需的参数 {arg}"),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => "缺少命令".to_string(),
        ErrorKind::ArgumentConflict => format!("参数 {arg} 不能和 {} 一起用", ctx(ContextKind::PriorArg)),
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            format!("参数 {arg} 的值个数不对")
        }
        ErrorKind::NoEquals => format!("参数 {arg} 要写成 {arg}=值"),
        ErrorKind::InvalidUtf8 => "参数里有不是 UTF-8 的字符".to_string(),
        _ => "命令行参数不对".to_string(),
    };
    format!("参数错误：{what}。用 disburse --help（或 disburse <命令> --help）查看用法")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_key_names_a_command_or_an_argument() {
        // Keys are "command [sub] [--arg|ARG]" or "* --arg"; a typo would silently leave English.
        for (key, text) in super::HELP {
            assert!(!text.is_empty());
            for part in key.split(' ').filter(|p| !p.is_empty()) {
                assert!(
                    part == "*"
                        || part.starts_with("--")
                        || part.chars().all(|c| c.is_ascii_uppercase())
                        || part.chars().all(|c| c.is_ascii_lowercase()),
                    "{key}"
                );
            }
        }
    }
}
