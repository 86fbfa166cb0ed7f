//! Stage 3, engine: interprets each merged record once and keeps the state
//! the rules ask about.
//!
//! [`track`] follows scenarios, slots, resources and mutations per record
//! (the one interpretation the rules, the HTML page and the Chrome export
//! share); [`state`] is what it keeps per scenario and process,
//! [`resources`] the interned identities of shared state, [`rows`] the row
//! ledger; [`analysis`] drives the rules and builds the report parts, with
//! [`overlap`] (scenarios active at once).

pub(crate) mod analysis;
pub mod overlap;
pub(crate) mod resources;
pub(crate) mod rows;
pub(crate) mod state;
pub mod track;
