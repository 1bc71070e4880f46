//! Fault injection for the crash tests: `DISBURSE_FAULT=<point>:<n>` makes the
//! process die (abort, like a SIGKILL: no destructor, no flush) the n-th time it
//! passes `point`.
//!
//! Compiled only with the `fault-injection` feature, which the test suite turns
//! on (Cargo.toml): a binary a county installs has no way to be told to die, and
//! each point is an empty inline function.
//!
//! This lets the kill tests hit every stage deterministically; they also kill the
//! real process with SIGKILL at timed moments.

#[cfg(feature = "fault-injection")]
mod on {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    fn target() -> &'static Option<(String, u64)> {
        TARGET.get_or_init(|| {
            let v = std::env::var("DISBURSE_FAULT").ok()?;
            let (name, n) = v.rsplit_once(':')?;
            Some((name.to_string(), n.parse().ok()?))
        })
    }

    pub fn point(name: &str) {
        if let Some((want, n)) = target() {
            if want == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n {
                eprintln!("DISBURSE_FAULT: dying at {name}:{n}");
                std::process::abort();
            }
        }
    }
}

/// Marks a point where a crash must leave everything consistent.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    on::point(name)
}

/// Marks a point where a crash must leave everything consistent (no-op: built
/// without the `fault-injection` feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// The tests' clock: `DISBURSE_NOW=2026-12-31T00:00:00+08:00` makes the program
/// take that moment for now (how old an unanswered line is can then be tested
/// without waiting ten days). Only with the `fault-injection` feature: the
/// installed binary always reads the system clock.
#[cfg(feature = "fault-injection")]
pub fn now_override() -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let cn = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    std::env::var("DISBURSE_NOW")
        .ok()
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&cn))
}

/// The tests' clock (none: built without the `fault-injection` feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn now_override() -> Option<chrono::DateTime<chrono::FixedOffset>> {
    None
}
