//! Program codes (救助/优抚项目) as data: any `[a-z][a-z0-9_]*` code a config
//! defines, not a closed list (SPEC §9).
//!
//! Why an interned number and not a `String`: every line of a million-line run
//! carries its program, is compared and hashed by it and sorted by it; a `u16`
//! copies and compares as the old enum did. The codes themselves live once for
//! the life of the process (a county pays a few dozen programs at most).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A benefit program, by its code. Cheap to copy and compare; the code, the
/// Chinese name and the reference prefix are looked up from it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Program(u16);

/// The programs built in (SPEC §1 and §9): code, Chinese name, reference prefix.
const BUILT_IN: [(&str, &str, &str); 11] = [
    ("dibao", "城乡最低生活保障金", "DB"),
    ("wubao", "特困人员供养金", "WB"),
    ("youfu", "优抚对象抚恤补助", "YF"),
    ("yiwubing", "义务兵家庭优待金", "YW"),
    ("yimin", "大中型水库移民后期扶持直补", "YM"),
    ("gaoling", "高龄津贴", "GL"),
    ("canji_shenghuo", "困难残疾人生活补贴", "CS"),
    ("canji_huli", "重度残疾人护理补贴", "CH"),
    ("guer", "孤儿基本生活费", "GE"),
    ("linshi", "临时救助", "LS"),
    ("weiwen", "一次性慰问金", "WW"),
];

/// How many codes one process can know besides the built-in ones.
const MAX_OTHER: usize = 1024;

/// Codes beyond the built-in ones, by index − [`BUILT_IN`]`.len()`: read without
/// a lock, written once each under [`REGISTER`].
static OTHER: [OnceLock<&'static str>; MAX_OTHER] = [const { OnceLock::new() }; MAX_OTHER];
/// How many of [`OTHER`] are taken; held while a code is added.
static REGISTER: Mutex<usize> = Mutex::new(0);
/// Names a config gave (`name = "…"`), by program index.
static NAMES: RwLock<Vec<(u16, &'static str)>> = RwLock::new(Vec::new());
/// Reference prefixes a config chose for codes that are not built in (two
/// upper-case letters as `a * 26 + b + 1`; 0: none chosen yet).
static PREFIXES: [AtomicU16; MAX_OTHER] = [const { AtomicU16::new(0) }; MAX_OTHER];
/// Codes beyond the built-in ones that a config defines (`[programs.CODE]`).
static DEFINED: [AtomicBool; MAX_OTHER] = [const { AtomicBool::new(false) }; MAX_OTHER];
/// Every two-letter prefix, so a chosen one is a `&'static str` without a lock.
static PAIRS: [[u8; 2]; 676] = {
    let mut t = [[0u8; 2]; 676];
    let mut i = 0;
    while i < 676 {
        t[i] = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
        i += 1;
    }
    t
};

#[allow(non_upper_case_globals)]
impl Program {
    /// 城乡最低生活保障金 (低保)
    pub const Dibao: Program = Program(0);
    /// 特困人员供养金 (五保)
    pub const Wubao: Program = Program(1);
    /// 优抚对象抚恤补助
    pub const Youfu: Program = Program(2);
    /// 义务兵家庭优待金
    pub const Yiwubing: Program = Program(3);
    /// 大中型水库移民后期扶持直补
    pub const Yimin: Program = Program(4);
    /// 高龄津贴
    pub const Gaoling: Program = Program(5);
    /// 困难残疾人生活补贴
    pub const CanjiShenghuo: Program = Program(6);
    /// 重度残疾人护理补贴
    pub const CanjiHuli: Program = Program(7);
    /// 孤儿基本生活费
    pub const Guer: Program = Program(8);
    /// 临时救助
    pub const Linshi: Program = Program(9);
    /// 一次性慰问金
    pub const Weiwen: Program = Program(10);

    /// The five programs of SPEC §1, in their reporting order.
    pub const ALL: [Program; 5] = [Program::Dibao, Program::Wubao, Program::Youfu, Program::Yiwubing, Program::Yimin];

    /// Every built-in program (SPEC §1 and §9), in reporting order.
    pub fn built_in() -> impl Iterator<Item = Program> {
        (0..BUILT_IN.len() as u16).map(Program)
    }

    /// Whether the code is one of the built-in presets.
    pub fn is_built_in(self) -> bool {
        usize::from(self.0) < BUILT_IN.len()
    }

    /// The code (`dibao`, `gaoling`, `nongken_buzhu`, …): what configs, reports
    /// and the ledger use; it never changes.
    pub fn code(self) -> &'static str {
        let i = usize::from(self.0);
        match BUILT_IN.get(i) {
            Some((code, _, _)) => code,
            None => OTHER[i - BUILT_IN.len()].get().copied().unwrap_or("?"),
        }
    }

    /// The name a clerk knows the program by: the config's `name`, else the
    /// built-in name, else the code.
    pub fn chinese_name(self) -> &'static str {
        let names = NAMES.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, n)) = names.iter().find(|(i, _)| *i == self.0) {
            return n;
        }
        BUILT_IN.get(usize::from(self.0)).map_or_else(|| self.code(), |(_, name, _)| name)
    }

    /// The built-in name (the code for another program), whatever a config set.
    pub fn built_in_name(self) -> &'static str {
        BUILT_IN.get(usize::from(self.0)).map_or_else(|| self.code(), |(_, name, _)| name)
    }

    /// Gives the program the name a config set (leaked once per distinct name).
    pub fn set_name(self, name: &str) {
        if self.chinese_name() == name {
            return;
        }
        let kept: &'static str = Box::leak(name.into());
        let mut names = NAMES.write().unwrap_or_else(PoisonError::into_inner);
        names.retain(|(i, _)| *i != self.0);
        names.push((self.0, kept));
    }

    /// Two upper-case letters that start every end-to-end reference of the
    /// program: fixed for the built-in ones, chosen by the config for others
    /// ([`Program::set_ref_prefix`]), else the code's first two letters.
    pub fn ref_prefix(self) -> &'static str {
        let i = usize::from(self.0);
        if let Some((_, _, prefix)) = BUILT_IN.get(i) {
            return prefix;
        }
        let chosen = PREFIXES[i - BUILT_IN.len()].load(Ordering::Relaxed);
        let pair = if chosen > 0 {
            usize::from(chosen - 1)
        } else {
            let b = self.code().as_bytes();
            let letter = |c: Option<&u8>| c.filter(|c| c.is_ascii_lowercase()).map_or(0, |c| usize::from(c - b'a'));
            letter(b.first()) * 26 + letter(b.get(1))
        };
        std::str::from_utf8(&PAIRS[pair]).unwrap_or("XX")
    }

    /// Sets the reference prefix of a program that is not built in. `prefix` is
    /// two upper-case ASCII letters (the config checks it).
    pub fn set_ref_prefix(self, prefix: &str) {
        let i = usize::from(self.0);
        if let (Some(slot), [a @ b'A'..=b'Z', b @ b'A'..=b'Z']) =
            (i.checked_sub(BUILT_IN.len()).and_then(|k| PREFIXES.get(k)), prefix.as_bytes())
        {
            slot.store(u16::from(a - b'A') * 26 + u16::from(b - b'A') + 1, Ordering::Relaxed);
        }
    }

    /// The reference prefixes of the built-in programs: no other program may use
    /// one, so a reference never names two programs.
    pub fn built_in_prefixes() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(_, _, p)| *p)
    }

    /// Whether `code` is a valid program code: `[a-z][a-z0-9_]*`, at most 32 bytes.
    pub fn valid_code(code: &str) -> bool {
        let b = code.as_bytes();
        !b.is_empty()
            && b.len() <= 32
            && b[0].is_ascii_lowercase()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
    }

    /// The program of a `[programs.CODE]` table: from then on [`Program::known`]
    /// accepts the code.
    pub fn define(code: &str) -> Result<Program, String> {
        let p = Program::intern(code.trim())?;
        if let Some(flag) = usize::from(p.0).checked_sub(BUILT_IN.len()).and_then(|k| DEFINED.get(k)) {
            flag.store(true, Ordering::Relaxed);
        }
        Ok(p)
    }

    /// The program of a code a clerk wrote in a control file (approvals, stop
    /// list): a built-in code or one a config defined; any other is a typo.
    pub fn known(code: &str) -> Result<Program, String> {
        let code = code.trim();
        let p = Program::intern(code).ok();
        let defined =
            |p: Program| p.is_built_in() || DEFINED[usize::from(p.0) - BUILT_IN.len()].load(Ordering::Relaxed);
        p.filter(|p| defined(*p)).ok_or_else(|| {
            format!(
                "unknown program '{code}': expected one of the config's programs or a built-in code ({})",
                BUILT_IN.iter().map(|(c, _, _)| *c).collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The program a clerk names in a control file: its code, its Chinese name,
    /// or the short name everybody uses (低保, 特困, 优抚, …).
    pub fn from_clerk(text: &str) -> Result<Program, String> {
        let t = text.trim();
        const SHORT: [(&str, Program); 14] = [
            ("低保", Program::Dibao),
            ("特困", Program::Wubao),
            ("五保", Program::Wubao),
            ("优抚", Program::Youfu),
            ("义务兵", Program::Yiwubing),
            ("优待金", Program::Yiwubing),
            ("移民", Program::Yimin),
            ("高龄", Program::Gaoling),
            ("残疾人生活补贴", Program::CanjiShenghuo),
            ("重度残疾人护理补贴", Program::CanjiHuli),
            ("孤儿", Program::Guer),
            ("临时救助", Program::Linshi),
            ("慰问金", Program::Weiwen),
            ("高龄津贴", Program::Gaoling),
        ];
        if let Some((_, p)) = SHORT.iter().find(|(s, _)| *s == t) {
            return Ok(*p);
        }
        let named = |p: &Program| p.chinese_name() == t;
        if let Some(p) = Program::built_in().find(named) {
            return Ok(p);
        }
        let taken = *REGISTER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = (0..taken).map(|k| Program((BUILT_IN.len() + k) as u16)).find(named) {
            return Ok(p);
        }
        Program::known(t)
    }

    /// The program of `code`, added to the process's codes when new.
    fn intern(code: &str) -> Result<Program, String> {
        if let Some(i) = BUILT_IN.iter().position(|(c, _, _)| *c == code) {
            return Ok(Program(i as u16));
        }
        if !Program::valid_code(code) {
            return Err(format!(
                "program code '{code}' is not valid: use lower-case letters, digits and _, starting with a letter \
                 (for example gaoling or nongken_buzhu)"
            ));
        }
        let mut taken = REGISTER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = OTHER[..*taken].iter().position(|c| c.get() == Some(&code)) {
            return Ok(Program((BUILT_IN.len() + k) as u16));
        }
        if *taken >= MAX_OTHER {
            return Err(format!("too many program codes in one run (more than {MAX_OTHER})"));
        }
        let kept: &'static str = Box::leak(code.into());
        let _ = OTHER[*taken].set(kept);
        *taken += 1;
        Ok(Program((BUILT_IN.len() + *taken - 1) as u16))
    }
}

impl PartialOrd for Program {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Reporting order: the built-in programs in their order, then the others by
/// code (so the order never depends on which code a process met first).
impl Ord for Program {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        match (self.is_built_in(), other.is_built_in()) {
            (true, true) => self.0.cmp(&other.0),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => self.code().cmp(other.code()),
        }
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Program {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Program::intern(s.trim())
    }
}

impl Serialize for Program {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Program {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_one_number_each() {
        for p in Program::built_in() {
            assert_eq!(p.code().parse::<Program>().unwrap(), p);
        }
        let a: Program = "nongken_buzhu".parse().unwrap();
        let b: Program = " nongken_buzhu ".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.code(), "nongken_buzhu");
        assert_eq!(a.chinese_name(), "nongken_buzhu");
        a.set_name("农垦补助");
        assert_eq!(a.chinese_name(), "农垦补助");
        assert_eq!(Program::Gaoling.chinese_name(), "高龄津贴");
        for bad in ["", "Dibao", "1x", "a-b", "低保", "x y"] {
            assert!(bad.parse::<Program>().is_err(), "{bad}");
        }
    }

    #[test]
    fn built_in_first_then_others_by_code() {
        let z: Program = "zz_test".parse().unwrap();
        let a: Program = "aa_test".parse().unwrap();
        let mut v = vec![z, Program::Yimin, a, Program::Dibao, Program::Weiwen];
        v.sort();
        assert_eq!(v, [Program::Dibao, Program::Yimin, Program::Weiwen, a, z]);
    }

    #[test]
    fn prefixes_are_two_letters_and_settable() {
        let p: Program = "prefix_test".parse().unwrap();
        assert_eq!(p.ref_prefix(), "PR");
        p.set_ref_prefix("QX");
        assert_eq!(p.ref_prefix(), "QX");
        assert_eq!(Program::Dibao.ref_prefix(), "DB");
        assert_eq!(Program::Gaoling.ref_prefix(), "GL");
    }
}
