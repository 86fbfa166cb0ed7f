//! What the text after a line's third `|` (ACTION | DETAILS) means: the
//! action, the resource and outcome DETAILS give, and the record's extra
//! text, worked out once per distinct text (a file repeats a few dozen).

use std::sync::Arc;

use state_tracer_format::{Action, ActionKind, Outcome, Resource, Scope};

use super::line::valid_action;
use crate::input::record::{self, Interner};

/// The resource a legacy DETAILS column names for this action.
pub(super) fn legacy_resource(action: Action, details: &str) -> Option<Resource<'_>> {
    let first = details.split_whitespace().next().unwrap_or("");
    match action.kind() {
        ActionKind::Cleanup | ActionKind::Read | ActionKind::Write => {
            let (schema, table) = match first.split_once('.') {
                Some((s, t)) => (Some(s), t),
                None => (None, first),
            };
            let all = table.is_empty() || table.eq_ignore_ascii_case("all_tables") || table == "*";
            Some(Resource {
                scope: Scope::Shared,
                db: None,
                schema: schema.map(Into::into),
                tables: if all { Vec::new() } else { vec![table.into()] },
                name: None,
            })
        }
        ActionKind::Schema if action != Action::DbDdl => (!first.is_empty()).then(|| Resource {
            scope: Scope::Shared,
            db: None,
            schema: Some(first.into()),
            tables: Vec::new(),
            name: None,
        }),
        ActionKind::Secret => Some(Resource::process("jwt_secret")),
        ActionKind::Config => Some(Resource::process("config")),
        _ => None,
    }
}

/// What the text after a line's third `|` (ACTION | DETAILS) means. A file
/// repeats a few dozen such texts, so each is worked out once (see [`Tails`]).
pub(super) struct Tail {
    pub(super) action: Action,
    pub(super) resource: Option<Arc<Resource<'static>>>,
    /// For `SCENARIO_END`: the outcome DETAILS give.
    pub(super) outcome: Option<Outcome>,
    /// The record's [`record::Extra`], shared by every line with this tail:
    /// for the report (details only where they carry meaning) and in full.
    /// It holds the name of an action this analyzer does not know (read as
    /// `CUSTOM`), a failed scenario's error, and DETAILS (trimmed).
    pub(super) extra_report: Option<Arc<record::Extra>>,
    pub(super) extra_full: Option<Arc<record::Extra>>,
}

impl Tail {
    /// `action` is a valid ACTION column, `details` the trimmed DETAILS.
    pub(super) fn new(action_name: &str, details: &str, interner: &mut Interner) -> Tail {
        let (action, custom) = match action_name.parse::<Action>() {
            Ok(a) => (a, None),
            Err(_) => (Action::Custom, Some(interner.str(action_name))),
        };
        let mut tail = Tail {
            action,
            resource: None,
            outcome: None,
            extra_report: None,
            extra_full: None,
        };
        let mut error: Option<Box<str>> = None;
        if action == Action::ScenarioEnd {
            let word = details
                .split(|c: char| c == ':' || c.is_whitespace())
                .next()
                .unwrap_or("");
            let outcome = word.parse::<Outcome>().unwrap_or(if details.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            });
            tail.outcome = Some(outcome);
            if outcome == Outcome::Failed && details.len() > word.len() {
                error = Some(details[word.len()..].trim_start_matches([':', ' ']).into());
            }
        } else {
            tail.resource = legacy_resource(action, details).map(|r| interner.resource(r));
        }
        let details: Option<Arc<str>> = (!details.is_empty()).then(|| details.into());
        let extra = |with_details: bool| {
            let x = record::Extra {
                name: custom.clone(),
                error: error.clone(),
                details: details.clone().filter(|_| with_details),
                ..Default::default()
            };
            (x != record::Extra::default()).then(|| Arc::new(x))
        };
        // The report needs details only where they carry meaning (a
        // secret's fingerprint tells a restore from a change).
        let meaningful = matches!(
            action.kind(),
            ActionKind::Schema | ActionKind::Config | ActionKind::Custom | ActionKind::Secret
        );
        tail.extra_report = extra(meaningful);
        tail.extra_full = extra(true);
        tail
    }
}

/// Recent [`Tail`]s by their raw bytes (which were checked to be UTF-8 and a
/// valid ACTION when first seen).
#[derive(Default)]
pub(super) struct Tails {
    pub(super) list: Vec<(Box<[u8]>, Tail)>,
    /// [`tail_key`] of each of `list`, compared before the bytes: most
    /// tails of a file have a sibling of the same length (`DB_SELECT |
    /// users`, `DB_INSERT | users`), so a length check alone still left
    /// several byte comparisons per line.
    pub(super) keys: Vec<u64>,
    pub(super) hot: usize,
    pub(super) next: usize,
}

/// A tail's length and last eight bytes (where tables are named) in one
/// word; equal tails have equal keys.
pub(super) fn tail_key(raw: &[u8]) -> u64 {
    let mut last = [0u8; 8];
    let tail = &raw[raw.len().saturating_sub(8)..];
    last[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(last).rotate_left(16) ^ raw.len() as u64
}

/// Distinct tails kept per file (a file has about one per action and table).
pub(super) const TAILS: usize = 32;

impl Tails {
    /// The index of `raw`'s tail, worked out now if it is new; `None` when
    /// `raw` is not valid UTF-8 or its ACTION is not an action name.
    pub(super) fn get(&mut self, raw: &[u8], interner: &mut Interner) -> Option<usize> {
        if self.list.get(self.hot).is_some_and(|(k, _)| **k == *raw) {
            return Some(self.hot);
        }
        let key = tail_key(raw);
        if let Some(i) =
            (0..self.keys.len()).find(|&i| self.keys[i] == key && *self.list[i].0 == *raw)
        {
            self.hot = i;
            return Some(i);
        }
        let text = std::str::from_utf8(raw).ok()?;
        // The same split as `columns`: DETAILS keeps any further `|`.
        let (action, details) = match text.split_once('|') {
            Some((a, d)) => (a, d.trim_ascii()),
            None => (text, ""),
        };
        let tail = Tail::new(valid_action(action).ok()?, details, interner);
        let entry = (Box::from(raw), tail);
        let i = if self.list.len() < TAILS {
            self.list.push(entry);
            self.keys.push(key);
            self.list.len() - 1
        } else {
            let i = self.next;
            self.list[i] = entry;
            self.keys[i] = key;
            self.next = (i + 1) % TAILS;
            i
        };
        self.hot = i;
        Some(i)
    }
}
