//! Returns (回盘): reading bank receipts — pain.002 (v03, v10), camt.054 — into
//! receipt lines, mapping Chinese reason texts to ISO codes, and the action a
//! clerk takes for each reason. (Stub: lands in its own change.)
