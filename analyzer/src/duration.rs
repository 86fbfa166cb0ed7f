//! One parser for every duration the command line takes (`clean
//! --older-than 7d`, `history … --since 2w`, `confirm --timeout 90s`,
//! `run --confirm=5m`), so a duration is written the same way everywhere.
//!
//! It is `humantime`'s: `500ms`, `90s`, `5m`, `12h`, `7d`, `2w`, and sums
//! such as `1h 30m`. A bare number is refused: `clean` used to read it as
//! days and `confirm` as seconds, and a guess here deletes files or cuts a
//! rerun short.

use std::time::Duration;

/// Parses a duration with its unit, e.g. `90s`, `5m`, `7d`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{t:?} has no unit: write {t}s, {t}m, {t}h or {t}d (units: ms, s, m, h, d, w)"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration {s:?} ({e}): use e.g. 90s, 5m, 12h, 7d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_mean_the_same_everywhere() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse("2w").unwrap(), Duration::from_secs(14 * 86_400));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn a_bare_number_or_a_word_is_refused_with_what_to_write() {
        let e = parse("7").unwrap_err();
        assert!(e.contains("no unit") && e.contains("7d"), "{e}");
        assert!(parse("soon").is_err());
        assert!(parse("").is_err());
    }
}
