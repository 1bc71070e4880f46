//! `disburse init`: a working example office. (Stub: lands in its own change.)
