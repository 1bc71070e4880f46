//! Line types (项目类型, SPEC §9): one person may be paid several lines of one
//! program in one period — the basic allowance and the care fee (护理费), a
//! back pay (补发) for a month, a one-off, a funeral grant (丧葬补助) — but
//! never two of the same type for the same covered month.

use super::Period;

/// What a payment line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LineType {
    /// 基本生活费/保障金: the program's regular amount (the default).
    #[default]
    Basic,
    /// 护理费: the care fee, usually to a caregiver (policy_rules §1.2.9).
    Care,
    /// 补发: makes up a past month (`covers`), policy_rules §0.1 and §1.3.8.
    BackPay,
    /// 一次性: a one-off amount, e.g. the difference owed after a standard increase (提标补差).
    OneOff,
    /// 丧葬补助: months of the pension after a death (policy_rules §1.3.3).
    Funeral,
}

impl LineType {
    pub const ALL: [LineType; 5] =
        [LineType::Basic, LineType::Care, LineType::BackPay, LineType::OneOff, LineType::Funeral];

    /// A line type's one-byte tag (spill file, reconcile keys); exhaustive, as `Code::tag`.
    pub fn tag(self) -> u8 {
        match self {
            LineType::Basic => 0,
            LineType::Care => 1,
            LineType::BackPay => 2,
            LineType::OneOff => 3,
            LineType::Funeral => 4,
        }
    }

    /// The line type with this [`LineType::tag`].
    pub fn from_tag(tag: u8) -> Option<LineType> {
        LineType::ALL.get(usize::from(tag)).copied().filter(|t| t.tag() == tag)
    }

    /// The English code of SPEC §9 (what the ledger stores).
    pub fn code(self) -> &'static str {
        match self {
            LineType::Basic => "basic",
            LineType::Care => "care",
            LineType::BackPay => "back_pay",
            LineType::OneOff => "one_off",
            LineType::Funeral => "funeral",
        }
    }

    /// What a clerk calls it.
    pub fn chinese(self) -> &'static str {
        match self {
            LineType::Basic => "基本",
            LineType::Care => "护理费",
            LineType::BackPay => "补发",
            LineType::OneOff => "一次性",
            LineType::Funeral => "丧葬补助",
        }
    }

    /// Parses the roster's 项目类型 (English code or Chinese word); empty means basic.
    pub fn parse(s: &str) -> Option<LineType> {
        match s.trim() {
            "" | "basic" | "基本" | "基本生活费" | "保障金" | "供养金" => Some(LineType::Basic),
            "care" | "护理费" | "护理" | "照料护理费" | "护理补贴" => Some(LineType::Care),
            "back_pay" | "backpay" | "补发" => Some(LineType::BackPay),
            "one_off" | "oneoff" | "一次性" | "补差" | "提标补差" => Some(LineType::OneOff),
            "funeral" | "丧葬补助" | "丧葬费" | "丧葬" => Some(LineType::Funeral),
            _ => None,
        }
    }
}

/// The key that makes a line one payment (with program, period and person):
/// its type and the month it covers (only a back pay has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LineKind {
    pub line_type: LineType,
    pub covers: Option<Period>,
}

impl LineKind {
    pub const BASIC: LineKind = LineKind { line_type: LineType::Basic, covers: None };

    /// One number for reconcile's keys: 0 for a basic line.
    pub fn key(self) -> u32 {
        let covers = self.covers.map_or(0, |p| (p.year as u32) * 12 + p.month);
        covers * 8 + u32::from(self.line_type.tag())
    }

    /// The `covers` column as stored: `YYYY-MM` or empty.
    pub fn covers_text(self) -> String {
        self.covers_str().to_string()
    }

    /// [`LineKind::covers_text`] kept for the life of the process (a handful of
    /// months), so the ledger's writer can borrow it like the line's other texts.
    pub fn covers_str(self) -> &'static str {
        use std::sync::{Mutex, PoisonError};
        static KEPT: Mutex<Vec<(Period, &'static str)>> = Mutex::new(Vec::new());
        let Some(p) = self.covers else { return "" };
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, s)) = kept.iter().find(|(q, _)| *q == p) {
            return s;
        }
        let s: &'static str = Box::leak(p.to_string().into_boxed_str());
        kept.push((p, s));
        s
    }

    /// From the ledger's columns.
    pub fn from_columns(line_type: &str, covers: &str) -> Option<LineKind> {
        let line_type = LineType::ALL.into_iter().find(|t| t.code() == line_type)?;
        let covers = if covers.is_empty() { None } else { Some(covers.parse().ok()?) };
        Some(LineKind { line_type, covers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_key_apart_and_read_back() {
        let p: Period = "2026-10".parse().unwrap();
        let mut keys = std::collections::HashSet::new();
        for t in LineType::ALL {
            assert_eq!(LineType::from_tag(t.tag()), Some(t));
            assert_eq!(LineType::parse(t.code()), Some(t));
            for covers in [None, Some(p), Some(p.previous())] {
                let k = LineKind { line_type: t, covers };
                assert!(keys.insert(k.key()), "{k:?}");
                assert_eq!(LineKind::from_columns(t.code(), &k.covers_text()), Some(k));
            }
        }
        assert_eq!(LineKind::BASIC.key(), 0);
    }
}
