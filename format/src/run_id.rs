//! Generated run IDs: the one shape (`run-<UTC time>-<pid>-<hex>`,
//! docs/format.md) for every program that needs a run ID nobody gave it,
//! the tracer and `trace-analyzer run`/`confirm` alike.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// `run-<YYYYMMDDTHHMMSS>-<pid>-<4 hex>`: unique (time, process and 16
/// random bits) and sortable by time.
pub fn generate_run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "run-{}-{}-{:04x}",
        now.format("%Y%m%dT%H%M%S"),
        std::process::id(),
        random_u16(now.timestamp_nanos_opt().unwrap_or(0)),
    )
}

/// 16 random bits without a dependency: std seeds every `RandomState`
/// from the OS, and differently for each one, so hashing the time with a
/// fresh one is random enough for a tag.
fn random_u16(nanos: i64) -> u16 {
    RandomState::new().hash_one((nanos, std::process::id())) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_and_have_the_documented_shape() {
        let (a, b) = (generate_run_id(), generate_run_id());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.len(), 4, "{a}");
        assert_eq!(parts[0], "run");
        assert_eq!(parts[1].len(), 15, "{a}");
        assert_eq!(parts[2], std::process::id().to_string());
        assert!(parts[3].len() == 4 && parts[3].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(crate::file_name_safe(&a), a, "usable in file names as is");
    }
}
