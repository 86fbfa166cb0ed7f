//! bdd-demo: a small service and the cucumber-rs suite that tests it, built to
//! reproduce, for real, the two pollution bugs state-tracer exists to find.
//!
//! - [`app`] is the application under test: users, registration, login issuing
//!   an HS256 JWT, greetings, admin listing, all through real SQL (sqlx).
//! - [`db`] connects to SQLite (default) or PostgreSQL and applies the suite's
//!   isolation mode (`BDD_SCHEMA_ISOLATION`).
//! - [`jwt`] is the in-memory signing-secret manager (rotate/reset), the
//!   process-scoped state that leaks between scenarios.
//! - [`mixed`] is the shop of the second suite shape (`--shape mixed`):
//!   seeding hooks, one feature emptying tables, the others deleting only
//!   their own rows, ground truth for the accuracy corpus.
//! - [`runner`] starts one OS process per feature, the way `go test` runs one
//!   binary per package. The cucumber World, steps and hooks live in the
//!   `bdd-demo` binary (`src/steps.rs`), where cucumber collects them.

pub mod app;
pub mod config;
pub mod db;
pub mod jwt;
pub mod latency;
pub mod mixed;
pub mod runner;
pub mod summary;
pub mod truth;

/// Errors of the application under test, as a user of the service sees them.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;
