//! One legacy line split into its five columns and checked: what every
//! reader of legacy files (discovery, `clean`, `runs`, the parser) agrees
//! parses.

use chrono::NaiveDateTime;

use super::time::{bad_timestamp, parse_naive};
use super::LegacyTz;

/// One parsed legacy line, borrowing from the text.
#[derive(Debug, PartialEq)]
pub struct LegacyLine<'a> {
    /// The TIMESTAMP column, validated by [`parse_naive`].
    pub ts: NaiveDateTime,
    pub ts_text: &'a str,
    pub feature: &'a str,
    pub scenario: &'a str,
    pub action: &'a str,
    pub details: &'a str,
}

/// The five columns of a legacy line, unvalidated.
pub(super) struct Columns<'a> {
    pub(super) ts: &'a str,
    pub(super) feature: &'a str,
    pub(super) scenario: &'a str,
    pub(super) action: &'a str,
    pub(super) details: &'a str,
}

pub(super) fn columns(line: &str) -> Result<Columns<'_>, String> {
    // Four `|` separate five columns; DETAILS keeps any further `|`.
    let b = line.as_bytes();
    let mut cuts = [0usize; 4];
    let mut found = 0;
    for (i, pos) in memchr::memchr_iter(b'|', b).take(4).enumerate() {
        cuts[i] = pos;
        found = i + 1;
    }
    if found < 3 {
        return Err("expected `TIMESTAMP | FEATURE | SCENARIO | ACTION | DETAILS`".into());
    }
    // `|` is ASCII, so every cut is a char boundary.
    let (action, details) = if found == 4 {
        (
            &line[cuts[2] + 1..cuts[3]],
            line[cuts[3] + 1..].trim_ascii(),
        )
    } else {
        (&line[cuts[2] + 1..], "")
    };
    Ok(Columns {
        ts: line[..cuts[0]].trim_ascii(),
        feature: line[cuts[0] + 1..cuts[1]].trim_ascii(),
        scenario: line[cuts[1] + 1..cuts[2]].trim_ascii(),
        action,
        details,
    })
}

/// The ACTION column, trimmed, if it is an action name.
pub(super) fn valid_action(action: &str) -> Result<&str, String> {
    let action = action.trim_ascii();
    if action.is_empty()
        || !action
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
    {
        return Err(format!("invalid action {action:?}"));
    }
    Ok(action)
}

/// Splits and validates one line. The `tz` is unused here but kept in the
/// signature so recognisers and readers agree on what parses.
pub fn parse_legacy_line<'a>(line: &'a str, _tz: &LegacyTz) -> Result<LegacyLine<'a>, String> {
    let c = columns(line)?;
    let ts = parse_naive(c.ts).ok_or_else(|| bad_timestamp(c.ts))?;
    Ok(LegacyLine {
        ts,
        ts_text: c.ts,
        feature: c.feature,
        scenario: c.scenario,
        action: valid_action(c.action)?,
        details: c.details,
    })
}
