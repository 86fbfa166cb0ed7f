//! Stage 6, output: what the user reads.
//!
//! [`render`] writes the report (table, JSON, Markdown, CSV, HTML page) and
//! the merged records; [`export`] writes the run for other viewers
//! (Chrome/Perfetto trace). The streaming ones draw the run as it is
//! analyzed, through [`crate::Tap`].

pub mod export;
pub mod render;
