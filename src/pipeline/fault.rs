//! Fault injection for the crash tests: `DISBURSE_FAULT=<point>:<n>` makes the
//! process die (abort, like a SIGKILL: no destructor, no flush) the n-th time it
//! passes `point`. Unset in production, where a point costs one relaxed load.
//!
//! This lets the kill tests hit every stage deterministically; they also kill the
//! real process with SIGKILL at timed moments.

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

/// Marks a point where a crash must leave everything consistent.
pub fn point(name: &str) {
    if let Some((want, n)) = target() {
        if want == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n {
            eprintln!("DISBURSE_FAULT: dying at {name}:{n}");
            std::process::abort();
        }
    }
}
