//! What a victim's failure message (and its name) says about the cause:
//! which in-memory state it names, the words that can tell candidate
//! scenarios apart, and whether it failed on time rather than on data.
//! The ranking in the parent module reads these; it keeps no text rules of
//! its own.

/// Whether a failure message names in-memory state `resource`
/// (`process:jwt_secret`, `process:config:pricing`): a word of the message
/// that starts like a word of its name (`price` and `pricing` share
/// `pric`), or, for the JWT secret, what it signs (`token`, `signature`).
pub(super) fn message_names(message: &str, resource: &str) -> bool {
    let Some(name) = resource.strip_prefix("process:") else {
        return false;
    };
    let mut names = words(name);
    names.retain(|w| w != "config");
    if name == "jwt_secret" {
        names.extend(["token", "signature", "signing", "jwt"].map(String::from));
    }
    let stem = |w: &str| w.chars().take(4).collect::<String>();
    words(message)
        .iter()
        .any(|m| names.iter().any(|n| stem(m) == stem(n)))
}

/// The words of a name or message that can tell scenarios apart: 3 or
/// more letters, lower-cased, common words left out.
pub(super) fn words(text: &str) -> Vec<String> {
    const COMMON: &[&str] = &[
        "the", "and", "not", "for", "with", "from", "was", "are", "has", "have", "but", "got",
        "expected", "should", "when", "then", "given", "test", "scenario", "error", "failed",
    ];
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a failure message says the victim failed on *time*: a measured
/// duration against a limit ("the dashboard took 221 ms, budget 170 ms",
/// "p95 latency 80ms is slower than 50ms"). Rows removed or left behind do
/// not explain how long something took, so data findings are not its
/// likely cause. A wait that gave up ("timed out waiting for order 7") is
/// about data that never came, and is not counted.
pub(super) fn about_time(message: &str) -> bool {
    const UNITS: &[&str] = &[
        "ns",
        "us",
        "µs",
        "ms",
        "s",
        "sec",
        "secs",
        "second",
        "seconds",
        "millisecond",
        "milliseconds",
        "min",
        "mins",
        "minute",
        "minutes",
    ];
    const MEASURED: &[&str] = &[
        "took", "budget", "slower", "faster", "elapsed", "latency", "p50", "p95", "p99",
    ];
    let lower = message.to_lowercase();
    if lower.contains("waiting for") || lower.contains("timed out") {
        return false;
    }
    let tokens: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == 'µ'))
        .filter(|t| !t.is_empty())
        .collect();
    // "221 ms", "221ms", "1.5s".
    let duration = tokens.iter().enumerate().any(|(i, t)| {
        let digits = t.trim_end_matches(|c: char| !c.is_ascii_digit() && c != '.');
        let unit = &t[digits.len()..];
        let number = !digits.is_empty() && digits.parse::<f64>().is_ok();
        number
            && (UNITS.contains(&unit)
                || unit.is_empty() && tokens.get(i + 1).is_some_and(|u| UNITS.contains(u)))
    });
    duration && tokens.iter().any(|t| MEASURED.contains(t))
}

#[cfg(test)]
mod tests {
    use super::about_time;

    #[test]
    fn a_measured_duration_against_a_limit_is_about_time() {
        assert!(about_time("the dashboard took 221 ms, budget 170 ms"));
        assert!(about_time("report took 1.5s"));
        assert!(about_time("p95 latency 80ms is slower than 50ms"));
    }

    #[test]
    fn a_wait_for_data_and_a_count_are_not() {
        assert!(!about_time("timed out waiting for order 7 after 5 s"));
        assert!(!about_time("expected 3 orders, found 2"));
        assert!(!about_time("took the wrong branch: expected 3 rows"));
        assert!(!about_time("expected discounted total 985, got 886"));
    }
}
