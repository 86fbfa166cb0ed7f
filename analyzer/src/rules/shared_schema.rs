//! `shared-schema`: scenarios running at the same time in the same schema,
//! either while other scenarios isolate themselves in their own schemas
//! (isolation is incomplete) or with no isolation at all. Not proof of
//! pollution, but the condition every concurrent pollution needs.

use std::rc::Rc;
use std::sync::Arc;

use crate::engine::state::describe;
use crate::input::record::to_time;
use crate::input::record::Micros;
use crate::model::{RuleId, Severity};
use crate::rules::{
    slot, Access, Accesses, Cx, PairText, Pending, Proc, Replay, Rule, RuleMeta, Scn, Target,
};

/// What the engine, the reports and `confirm` know about this rule.
pub const META: RuleMeta = RuleMeta {
    id: RuleId::SharedSchema,
    new: || Box::new(SharedSchema::default()),
    severity: Severity::Warning,
    summary: "scenarios running at the same time in the same schema",
    fix_within: Some(|a, _resource| {
        format!(
            "scenarios of {a} run at the same time in the same schema: give each its own schema"
        )
    }),
    fix_between: Some(|a, b, _resource| {
        format!("{a} and {b} run at the same time in the same schema: give each its own schema")
    }),
    replay: Replay::AtOnce,
    repro_at_once: true,
    occurrences: None,
};

#[derive(Default)]
pub struct SharedSchema {
    users: Vec<Vec<Rc<Scn>>>,
}

impl Rule for SharedSchema {
    fn id(&self) -> RuleId {
        RuleId::SharedSchema
    }

    fn uses_records(&self) -> bool {
        false
    }

    fn accesses(&self) -> Accesses {
        Accesses::Tables
    }

    fn on_access(&mut self, cx: &mut Cx<'_>, a: &Access<'_>) {
        let Target::Tables { schema, .. } = &a.target else {
            return;
        };
        let Some(s) = a.scn else { return };
        if !s.is_active() {
            return;
        }
        let users = slot(&mut self.users, *schema as usize);
        // Newest first: usually `s` is the newest user of its schema already.
        if users.iter().rev().any(|u| u.id == s.id) {
            return;
        }
        users.retain(|u| u.is_active());
        let others: Vec<_> = users.clone();
        users.push(s.clone());
        if !others.is_empty() {
            report(cx, a, s, *schema, others);
        }
    }
}

/// `s` joined the running scenarios `others` in `schema`: one finding per
/// pair. Out of line: rare, and the formatting below need not be near the
/// check above.
#[cold]
#[inline(never)]
fn report(cx: &mut Cx<'_>, a: &Access<'_>, s: &Rc<Scn>, schema: u32, others: Vec<Rc<Scn>>) {
    for u in others {
        let (lo, hi) = if u.file <= s.file {
            (u.file, s.file)
        } else {
            (s.file, u.file)
        };
        let mut p = Pending::new(
            RuleId::SharedSchema,
            META.severity,
            a.ts,
            String::new(),
            String::new(),
        );
        p.polluter = Some(u.clone());
        p.victim = Some(s.clone());
        p.identity_unknown = cx.identity_unknown(&a.target, u.file, s.file);
        let key = (
            RuleId::SharedSchema,
            u64::from(schema),
            (u64::from(lo) << 32) | u64::from(hi),
        );
        // The resource only for a new pair: a process pair's scenarios meet
        // thousands of times when every process shares; the explanation
        // only for a finding that reaches the report.
        let run = cx.run;
        let from = s.start.max(u.start);
        let explanation = |p: &mut Pending| {
            p.pair_text = Some(PairText::Schema(SchemaText {
                from,
                schema: run.resources.schema_name_shared(schema),
                isolation_seen: run.isolation_seen,
            }));
            p.resource = run.resources.tables_label(schema, &[]);
        };
        cx.findings.add_keyed_with(key, p, explanation);
    }
}

/// What a shared-schema finding's explanation is made of
/// ([`PairText`]): 400 processes at once make 80,000 pairs, and only a
/// few are shown.
#[derive(Clone)]
pub(crate) struct SchemaText {
    /// When both were running.
    from: Micros,
    schema: Arc<str>,
    isolation_seen: bool,
}

impl SchemaText {
    pub(crate) fn render(&self, a: &Scn, b: &Scn, procs: &[Proc]) -> String {
        let name = if self.schema.is_empty() {
            "the default schema".to_owned()
        } else {
            format!("schema {:?}", &*self.schema)
        };
        let why = if self.isolation_seen {
            "while other scenarios isolate in their own schemas"
        } else {
            "with no schema isolation at all"
        };
        format!(
            "{} and {} ran at the same time (from {}) in {name} {why}: each can see and change the other's data.",
            describe(a, procs),
            describe(b, procs),
            to_time(self.from).format("%H:%M:%S%.6f"),
        )
    }
}
