//! Cross-run history: which scenarios are flaky, and which polluter keeps
//! causing it.
//!
//! One traced run names the culprit of one failure; flakiness is fought over
//! weeks and many CI jobs. This module stores each analyzed run (processes,
//! scenario runs, findings) in a database and answers the questions across
//! runs. One schema, two backends through sqlx:
//!
//! - SQLite, the embedded default: one file under the user's data directory
//!   (`location`), WAL with a busy timeout so parallel writers queue.
//! - PostgreSQL by URL: the shared store of a fleet of CI runners.
//!
//! The stages, one module each: `location` resolves and redacts the URL,
//! `store` opens it (refusing foreign or newer databases, applying the
//! embedded migrations), [`record`] turns an [`crate::Analysis`] into rows,
//! [`add`] writes one run in one transaction, [`query`] answers `flaky`,
//! `pairs`, `runs`, `prune` and the report's annotation, `output` prints
//! them, [`command`] is the `history` subcommand over all of it.

pub mod add;
pub mod command;
mod driver_error;
pub(crate) mod error;
pub(crate) mod location;
pub(crate) mod output;
pub mod query;
pub mod record;
mod shared;
pub(crate) mod store;
pub(crate) mod synth;

pub use error::HistoryError;
pub use location::DbUrl;
pub use store::{Access, Store};
