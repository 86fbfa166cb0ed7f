//! Stage 1, input: finding a run's trace files and reading each into
//! [`record::Rec`]s, one file at a time.
//!
//! [`discover`] finds trace files and groups them into runs; [`source`]
//! says what a recognised file is (its [`source::Format`] and header);
//! [`read`] parses it, v1 JSON lines or the legacy text format, each
//! reader declaring what its format provides through
//! [`read::TraceFormat`]; [`record`] is the normalised record both readers
//! produce and every later stage consumes; [`sql`] reads what a statement's
//! text says about its effect.

pub mod discover;
pub mod read;
pub mod record;
pub(crate) mod source;
pub(crate) mod sql;
