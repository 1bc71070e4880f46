//! `disburse`: the monthly payment engine of a county civil-affairs bureau (民政局).
//!
//! Rosters in, checked lines and signed bank files out, receipts back in, failures
//! flagged, corrections issued — exact to the fen, never paying anyone twice.
//!
//! The stages, in the order data flows through them (none reaches back):
//! [`ingest`] → [`validate`] → [`reconcile`] → [`totals`] → [`bankfile`] →
//! [`sign`] → [`ledger`] → [`returns`] → [`report`]. [`domain`] holds the types they
//! all share; [`pipeline`] strings the stages together for each command.

pub mod audit;
pub mod bankfile;
pub mod config;
pub mod domain;
pub mod example;
pub mod fsutil;
pub mod ingest;
pub mod lang;
pub mod ledger;
pub mod pgurl;
pub mod pipeline;
pub mod reconcile;
pub mod report;
pub mod returns;
pub mod sign;
pub mod totals;
pub mod validate;
