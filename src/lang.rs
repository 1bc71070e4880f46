//! The language a clerk reads (界面语言): Chinese by default, English on request
//! (SPEC §13). Chosen once per process — `--lang` on the command line, else
//! `DISBURSE_LANG` — and read at each message site through [`tr!`](crate::tr),
//! so a message's two texts sit side by side where it is raised and a
//! translation cannot drift away from the code that says it.

use std::sync::OnceLock;

/// A language the program speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文: the default, what a county office reads.
    Zh,
    /// English, for the maintainers and for scripts written against older output.
    En,
}

impl Lang {
    /// `en`, `en_US.UTF-8`, `EN` → English; `zh`, `zh_CN` → Chinese; anything else is
    /// not a language we speak (the caller keeps the default).
    pub fn parse(text: &str) -> Option<Lang> {
        let t = text.trim().to_ascii_lowercase();
        if t.starts_with("en") {
            Some(Lang::En)
        } else if t.starts_with("zh") || t.starts_with("cn") {
            Some(Lang::Zh)
        } else {
            None
        }
    }
}

static CHOSEN: OnceLock<Lang> = OnceLock::new();

/// Fixes the language for the rest of the process (the first call wins: a
/// message must not change language halfway through a command).
pub fn set(lang: Lang) {
    let _ = CHOSEN.set(lang);
}

/// The language in force. The `disburse` binary always [`set`]s it (Chinese
/// unless asked otherwise, see [`from_args`]); a program that uses the library
/// without choosing gets `DISBURSE_LANG`, else English — the library's callers
/// are programs and their tests, written against the English texts.
pub fn current() -> Lang {
    *CHOSEN.get_or_init(|| std::env::var("DISBURSE_LANG").ok().and_then(|v| Lang::parse(&v)).unwrap_or(Lang::En))
}

/// True when messages should be in English.
pub fn english() -> bool {
    current() == Lang::En
}

/// The language asked for on a command line, before it is parsed: `--lang en`,
/// `--lang=en`, else `DISBURSE_LANG`, else Chinese. The help text has to be in
/// the right language before clap reads the arguments, so this cannot wait for it.
pub fn from_args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(args: I) -> Lang {
    let mut next_is_lang = false;
    for a in args {
        let a = a.as_ref().to_string_lossy();
        if next_is_lang {
            if let Some(l) = Lang::parse(&a) {
                return l;
            }
            next_is_lang = false;
        } else if a == "--lang" {
            next_is_lang = true;
        } else if let Some(v) = a.strip_prefix("--lang=") {
            if let Some(l) = Lang::parse(v) {
                return l;
            }
        } else if a == "--" {
            break;
        }
    }
    std::env::var("DISBURSE_LANG").ok().and_then(|v| Lang::parse(&v)).unwrap_or(Lang::Zh)
}

/// Picks between two values of any kind by the language in force.
pub fn pick<T>(zh: T, en: T) -> T {
    if english() {
        en
    } else {
        zh
    }
}

/// A message in the language in force: `tr!("中文 {x}", "English {x}", args…)`.
/// Both texts take the same arguments (named captures work in both), so either
/// can be checked by the compiler at the site.
#[macro_export]
macro_rules! tr {
    ($zh:literal, $en:literal $(, $($arg:tt)*)?) => {
        if $crate::lang::english() {
            format!($en $(, $($arg)*)?)
        } else {
            format!($zh $(, $($arg)*)?)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_as_people_write_them() {
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("en_US.UTF-8"), Some(Lang::En));
        assert_eq!(Lang::parse("ZH"), Some(Lang::Zh));
        assert_eq!(Lang::parse("zh_CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn the_command_line_wins_over_the_default() {
        assert_eq!(from_args(["disburse", "--lang", "en", "check"]), Lang::En);
        assert_eq!(from_args(["disburse", "check", "--lang=en"]), Lang::En);
        assert_eq!(from_args(["disburse", "--", "--lang=en"]), from_args(["disburse"]));
    }

    #[test]
    fn a_message_takes_its_arguments_in_both_languages() {
        let n = 3;
        let file = "a.csv";
        // Nobody chose: the library's default, English (see `current`).
        assert_eq!(crate::tr!("{file} 第 {n} 行", "{file} line {n}"), "a.csv line 3");
        assert_eq!(crate::tr!("{} 第 {} 行", "{} line {}", file, n), "a.csv line 3");
        assert_eq!(pick("中", "en"), "en");
    }

    /// The way library errors use it: thiserror binds the fields by name (`_0` for
    /// a tuple's), and `tr!` reads them.
    #[test]
    fn an_error_message_in_both_languages() {
        #[derive(Debug, thiserror::Error)]
        enum E {
            #[error("{}", crate::tr!("{_0} 读不到：{_1}", "cannot read {_0}: {_1}"))]
            Read(String, String),
        }
        assert_eq!(E::Read("a".into(), "gone".into()).to_string(), "cannot read a: gone");
        #[derive(Debug, thiserror::Error)]
        enum F {
            #[error("{}", crate::tr!("{} 读不到", "cannot read {}", path.display()))]
            Read { path: std::path::PathBuf },
        }
        assert_eq!(F::Read { path: "x.csv".into() }.to_string(), "cannot read x.csv");
    }
}
