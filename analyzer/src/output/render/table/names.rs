//! Short resource names for the table: `schema/table`, or as many trailing
//! path segments as it takes to name one resource of the report, so a
//! terminal line is not mostly a database URL.

use std::borrow::Cow;

use crate::model::Report;

/// The table names a table by `schema/table`; the full resource (with the
/// database identity) is in the explanation and the JSON.
pub(crate) fn short_resource(resource: &str) -> &str {
    match resource.strip_prefix("shared:") {
        Some(rest) => match rest.rmatch_indices('/').nth(1) {
            Some((i, _)) => &rest[i + 1..],
            None => rest,
        },
        None => resource,
    }
}

/// Short names for the report's `shared:` resources: the fewest trailing
/// path segments (at least two, `schema/table`) that no other resource of
/// the report ends with; when that takes more than three, the segment that
/// tells them apart, `…`, and the last two (`checkout-one/…/main/orders`);
/// the full name when nothing shorter is unique.
pub(crate) struct Names {
    /// (full, short), longest full name first, shortened ones only.
    pub(super) pairs: Vec<(String, String)>,
}

impl Names {
    pub(crate) fn of(r: &Report) -> Names {
        let mut all: Vec<&str> = r
            .findings
            .iter()
            .map(|f| f.resource.as_str())
            .chain(r.hazards.iter().map(|h| h.resource.as_str()))
            .collect();
        all.sort_unstable();
        all.dedup();
        let segments = |full: &str| -> Option<Vec<String>> {
            let rest = full.strip_prefix("shared:")?;
            Some(rest.split('/').map(str::to_owned).collect())
        };
        let suffix = |parts: &[String], k: usize| parts[parts.len() - k..].join("/");
        // The abbreviated form for `k` trailing segments.
        let abbreviated = |parts: &[String], k: usize| {
            if k > 3 {
                format!("{}/…/{}", parts[parts.len() - k], suffix(parts, 2))
            } else {
                suffix(parts, k)
            }
        };
        let unique_from = |full: &str, parts: &[String]| {
            (2..parts.len()).find(|&k| {
                let s = suffix(parts, k);
                all.iter()
                    .filter(|o| **o != full)
                    .all(|o| segments(o).is_none_or(|op| op.len() < k || suffix(&op, k) != s))
            })
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for full in &all {
            let Some(parts) = segments(full) else {
                continue;
            };
            if let Some(k) = unique_from(full, &parts) {
                pairs.push((full.to_string(), abbreviated(&parts, k)));
            }
        }
        // An abbreviation another resource also abbreviates to (they differ
        // only between its ends): spell those out in full segments.
        let taken: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
        for (full, short) in &mut pairs {
            if taken.iter().filter(|t| *t == short).count() > 1 {
                let parts = segments(full).unwrap_or_default();
                if let Some(k) = unique_from(full, &parts) {
                    *short = suffix(&parts, k);
                }
            }
        }
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Names { pairs }
    }

    /// No shortening (`--verbose`).
    pub(super) fn none() -> Names {
        Names { pairs: Vec::new() }
    }

    /// `text` with every full resource name replaced by its short name.
    pub(crate) fn shorten<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (full, short) in &self.pairs {
            if out.contains(full.as_str()) {
                out = Cow::Owned(out.replace(full.as_str(), short));
            }
        }
        out
    }
}
