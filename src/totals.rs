//! totals (in progress)
