//! The polluters to try when the user names only a victim: the scenarios
//! that changed state the victim used, before it started or while it ran,
//! in evidence order.

use std::collections::HashMap;

use super::{from_finding, micros, span_end, Pair, Shape, Who};
use crate::model::{Analysis, ScenarioSpan, Timeline};

/// Whether two resource labels (`shared:DB/SCHEMA/TABLE`, `…/{a,b}`,
/// `…/*`, `process:NAME`) can be the same state. Process state is per
/// process, so the caller compares pids for it.
pub fn same_state(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let split = |s: &str| {
        let (schema, tables) = s.strip_prefix("shared:")?.rsplit_once('/')?;
        let tables: Vec<String> = match tables.strip_prefix('{') {
            Some(list) => list
                .trim_end_matches('}')
                .split(',')
                .map(str::to_owned)
                .collect(),
            None => vec![tables.to_owned()],
        };
        Some((schema.to_owned(), tables))
    };
    match (split(a), split(b)) {
        (Some((sa, ta)), Some((sb, tb))) if sa == sb => {
            ta.iter().any(|t| t == "*" || tb.contains(t)) || tb.iter().any(|t| t == "*")
        }
        _ => false,
    }
}

/// Scenarios that changed state the victim used, before it started or
/// while it ran, in evidence order: the report's findings naming the
/// victim first (their order), then changes inside its window (earliest
/// first), then changes before it started (latest first).
pub fn candidates(a: &Analysis, tl: &Timeline, vs: &ScenarioSpan) -> Vec<Pair> {
    let (v_start, v_end) = (micros(vs.start), span_end(vs));
    let used: Vec<(&str, u32)> = tl
        .actions
        .iter()
        .filter(|m| m.scenario == Some(vs.id))
        .filter_map(|m| m.resource.as_deref().map(|r| (r, m.pid)))
        .collect();
    // Best change per scenario: (in window, time, resource).
    let mut best: HashMap<usize, (bool, i64, String, String)> = HashMap::new();
    for m in &tl.actions {
        let (Some(s), Some(r)) = (m.scenario, m.resource.as_deref()) else {
            continue;
        };
        let t = micros(m.ts);
        if !m.mutation || s == vs.id || t > v_end {
            continue;
        }
        let touches = used
            .iter()
            .any(|(u, pid)| same_state(u, r) && (!r.starts_with("process:") || *pid == m.pid));
        if !touches {
            continue;
        }
        let inside = t >= v_start;
        let better = |old: &(bool, i64, String, String)| match (inside, old.0) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => t < old.1,
            (false, false) => t > old.1,
        };
        if best.get(&s).is_none_or(better) {
            best.insert(s, (inside, t, r.to_owned(), m.action.clone()));
        }
    }
    let named: Vec<usize> = a
        .report
        .findings
        .iter()
        .filter(|f| {
            f.victim.as_ref().is_some_and(|v| v.id == vs.id)
                && Shape::of_rule(f.rule, false).is_some()
        })
        .filter_map(|f| f.polluter.as_ref().map(|p| p.id))
        .collect();
    let mut order: Vec<(usize, usize, i64)> = best
        .iter()
        .map(|(&s, (inside, t, _, _))| {
            let rank = named.iter().position(|&n| n == s).unwrap_or(usize::MAX);
            let tier = if rank != usize::MAX {
                rank
            } else if *inside {
                usize::MAX - 2
            } else {
                usize::MAX - 1
            };
            (s, tier, if *inside { *t } else { -*t })
        })
        .collect();
    order.sort_by_key(|&(s, tier, t)| (tier, t, s));
    let mut seen: Vec<Who> = Vec::new();
    let mut out = Vec::new();
    for (s, tier, _) in order {
        let ps = &tl.scenarios[s];
        let who = Who::of(ps);
        if seen.contains(&who) {
            continue;
        }
        seen.push(who.clone());
        let from_report = a.report.findings.iter().find(|f| {
            f.victim.as_ref().is_some_and(|v| v.id == vs.id)
                && f.polluter.as_ref().is_some_and(|p| p.id == s)
                && Shape::of_rule(f.rule, false).is_some()
        });
        if tier < usize::MAX - 2 {
            if let Some(p) = from_report.and_then(|f| from_finding(f, tl).ok()) {
                out.push(p);
                continue;
            }
        }
        let (inside, _, r, action) = best[&s].clone();
        let same = ps.pid == vs.pid;
        let shape = match (inside, same, r.starts_with("process:")) {
            (true, false, _) => Shape::TwoAtOnce,
            (true, true, _) => Shape::OneAtOnce,
            (false, _, true) | (false, true, _) => Shape::OneInOrder,
            (false, false, false) => Shape::TwoInOrder,
        };
        let when = if inside {
            "while the victim ran"
        } else {
            "before the victim started"
        };
        out.push(Pair {
            polluter: who,
            rule: None,
            shape,
            offset_us: micros(ps.start) - v_start,
            evidence: format!("changed {r} {when}"),
            resource: Some(r),
            action: Some(action),
            cmds: Err(String::new()),
            caveat: None,
        });
    }
    out
}
