//! The narrowing: among a failed victim's kept findings, which are its
//! likely cause, and the evidence that says why or why not ("Causal
//! narrowing" in `docs/rules.md`). It reads only the findings' evidence
//! (strength, rows, times, the failure message), never the trace.

use std::collections::HashMap;

use state_tracer_format::{Action, ActionKind};

use super::message::{about_time, message_names, words};
use super::{Pending, Strength};
use crate::engine::state::Proc;
use crate::input::record::{to_time, Micros};
use crate::input::sql::missing_object;
use crate::model::RuleId;

/// Per kept finding: whether it is its failed victim's likely cause, and
/// the evidence that says why (or why not).
pub(super) fn narrow(list: &[Pending], procs: &[Proc]) -> Vec<(bool, Option<String>)> {
    let mut out: Vec<(bool, Option<String>)> = vec![(false, None); list.len()];
    let mut by_victim: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, p) in list.iter().enumerate() {
        match &p.victim {
            Some(v) if v.failed() => by_victim.entry(v.id).or_default().push(i),
            _ => {}
        }
    }
    let hms = |t: Micros| to_time(t).format("%H:%M:%S%.6f").to_string();
    let what = |p: &Pending| {
        format!(
            "{} of {} at {} by {}",
            p.action.map_or("change", |a| a.as_str()),
            p.resource,
            hms(p.at),
            p.polluter
                .as_ref()
                .map_or_else(String::new, |s| format!("\"{}\"", s.name))
        )
    };
    for idx in by_victim.values() {
        // A victim that failed on time: what rows held does not explain
        // how long it took (in-memory state, such as a changed limit, may).
        let on_time = idx
            .first()
            .and_then(|&i| list[i].victim.as_ref())
            .is_some_and(|v| v.failure.get().is_some_and(|m| about_time(m)));
        let data = |p: &Pending| !p.resource.starts_with("process:");
        for &i in idx {
            let p = &list[i];
            out[i].1 = if on_time && data(p) && p.strength > Some(Strength::UsedBefore) {
                Some(format!(
                    "{}: the victim failed on time (its failure message states a duration against a limit), and rows removed or left behind do not explain how long it took",
                    what(p)
                ))
            } else if p.identity_unknown {
                Some("not proof: the database identity is unknown (no `db` in the records), so the two may use different databases; name it with state_tracer::set_database or DATABASE_URL".to_owned())
            } else if p.strength == Some(Strength::RemovedNothing) {
                Some(format!(
                    "{}: removed 0 rows, so it cannot have removed the victim's data",
                    what(p)
                ))
            } else if p.strength == Some(Strength::DestroyedBeforeInsert) {
                Some(format!(
                    "{}: it came before the victim's first use of the table, an insert, and no later read of the victim came back short; it cannot explain the failure",
                    what(p)
                ))
            } else if p.strength == Some(Strength::DestroyedReadFull) {
                Some(format!(
                    "{}: the victim's read afterwards returned as many rows as the same query ever had, so it removed nothing the victim reads and cannot explain the failure",
                    what(p)
                ))
            } else if p.strength > Some(Strength::UsedBefore) && !p.can_explain {
                Some(format!(
                    "{}: {}, so it cannot explain the failure",
                    what(p),
                    if p.rule == RuleId::LeftoverData {
                        "the victim never saw those rows (its reads returned no more rows than its own)"
                    } else {
                        "it destroyed nothing (an insert, an update of its own rows or DDL that changed nothing)"
                    }
                ))
            } else {
                None
            };
        }
        let candidates: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| {
                let p = &list[i];
                // Rows do not explain a failure on time.
                let rows_on_time = on_time && data(p);
                !(p.identity_unknown || rows_on_time)
                    && p.can_explain
                    && p.strength.is_some_and(|s| s > Strength::UsedBefore)
                    // Its own evidence says it removed nothing the victim
                    // read: ranked, never a likely cause.
                    && !matches!(
                        p.strength,
                        Some(Strength::DestroyedReadFull | Strength::DestroyedBeforeInsert)
                    )
            })
            .collect();
        // State the failed step used outranks state earlier steps used.
        let in_step: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| list[i].use_at.is_some_and(|u| in_failed_step(&list[i], u)))
            .collect();
        let step_note = !in_step.is_empty() && in_step.len() < candidates.len();
        let candidates = if in_step.is_empty() {
            candidates
        } else {
            in_step
        };
        // The victim failed because a table or column it names is gone:
        // the schema it met is what the last DDL before its failure left
        // (a DROP followed by a CREATE, or a RENAME and back, is undone by
        // the later statement), so that DDL alone is the cause.
        let missing = idx
            .first()
            .and_then(|&i| list[i].victim.as_ref())
            .is_some_and(|v| v.failure.get().is_some_and(|m| missing_object(m)));
        let ddl = |i: usize| {
            list[i]
                .action
                .is_some_and(|a| matches!(a, Action::DbDdl | Action::SchemaDrop))
        };
        let candidates = match candidates
            .iter()
            .filter(|&&i| ddl(i))
            .map(|&i| list[i].at)
            .max()
        {
            Some(last) if missing => candidates
                .into_iter()
                .filter(|&i| ddl(i) && list[i].at == last)
                .collect(),
            _ => candidates,
        };
        let Some(top) = candidates.iter().filter_map(|&i| list[i].strength).max() else {
            continue;
        };
        let mut best: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| list[i].strength == Some(top))
            .collect();
        best.sort_by_key(|&i| (list[i].at, i));
        // A whole-table destroy removed every row, the victim's included: it
        // outranks scoped deletes, which may have removed other rows.
        let scoped: Vec<usize> = if best.iter().any(|&i| list[i].whole) {
            let scoped = best.iter().copied().filter(|&i| !list[i].whole).collect();
            best.retain(|&i| list[i].whole);
            scoped
        } else {
            Vec::new()
        };
        // In-memory states are all "used throughout": when candidates on
        // several of them are left, the failure message says which one the
        // victim tripped over, if it names it.
        let resources: Vec<&str> = best.iter().map(|&i| list[i].resource.as_str()).collect();
        if resources.iter().any(|r| *r != resources[0]) {
            // The victim's name says what it uses too ("invoice shows the
            // price", "fixture token is accepted").
            let message = list[best[0]].victim.as_ref().map_or(String::new(), |v| {
                format!("{} {}", v.failure.get().map_or("", |m| &**m), v.name)
            });
            let message = message.as_str();
            let named: Vec<usize> = best
                .iter()
                .copied()
                .filter(|&i| message_names(message, &list[i].resource))
                .collect();
            if !named.is_empty() && named.len() < best.len() {
                best = named;
            }
        }
        // In-memory state put back before the victim failed: it failed with
        // the value in effect then (rule 8: a restore hands the value back
        // to its first setter), so a change still in effect outranks it.
        let undone = |i: usize| {
            let p = &list[i];
            p.undone_at.is_some_and(|t| {
                p.victim
                    .as_ref()
                    .is_none_or(|v| v.end.get().is_none_or(|e| t <= e))
            })
        };
        let put_back: Vec<usize> = if best.iter().any(|&i| !undone(i)) {
            let put_back = best.iter().copied().filter(|&i| undone(i)).collect();
            best.retain(|&i| !undone(i));
            put_back
        } else {
            Vec::new()
        };
        let leaks = best.iter().all(|&i| list[i].rule == RuleId::LeakedState);
        let known = |best: &[usize]| -> Vec<usize> {
            // Where exactly one is known to have removed rows, it alone.
            let known: Vec<usize> = best
                .iter()
                .copied()
                .filter(|&i| list[i].rows.some_changed())
                .collect();
            if known.len() == 1 {
                known
            } else {
                best.to_vec()
            }
        };
        let process_state = best
            .iter()
            .all(|&i| list[i].resource.starts_with("process:"));
        let mut chosen: Vec<usize> = if top.ordered() && process_state {
            // In-memory state changed before or while the victim ran: it
            // failed with the value of the last change of each state (used
            // throughout, it has no traced uses to order the changes by).
            // Several states left are tied.
            best.iter()
                .copied()
                .filter(|&i| {
                    !best
                        .iter()
                        .any(|&j| list[j].resource == list[i].resource && list[j].at > list[i].at)
                })
                .collect()
        } else if top.ordered() && list[best[0]].whole {
            // The first whole-table destroy after the victim's write removed
            // it; equal times cannot be told apart.
            let t0 = list[best[0]].at;
            best.iter().copied().filter(|&i| list[i].at == t0).collect()
        } else if leaks {
            // The rule already set aside changes a later one replaced: one
            // candidate per state is left, and nothing says which state
            // the victim's failure was about.
            best.clone()
        } else {
            known(&best)
        };
        // Still tied: the failure message and the victim's own name may
        // say what it was about, and tests are named after what they touch
        // ("browse kitchen" fails with "kitchen: 1 missing" after
        // "discontinue KITCHEN-3"; "register alice@…" fails on a unique key
        // that "register alice@… #0" left). The candidates whose scenario
        // names share the most such words, among words not every tied
        // candidate's name has, are kept.
        let mut named_by: Option<String> = None;
        if chosen.len() > 1 {
            let about = list[chosen[0]].victim.as_ref().map_or(String::new(), |v| {
                format!("{} {}", v.failure.get().map_or("", |m| &**m), v.name)
            });
            let about = words(&about);
            let names: Vec<Vec<String>> = chosen
                .iter()
                .map(|&i| {
                    let name = list[i].polluter.as_ref().map_or("", |s| &*s.name);
                    let mut w = words(name);
                    w.retain(|x| about.contains(x));
                    w
                })
                .collect();
            let telling = |w: &String| !names.iter().all(|n| n.contains(w));
            let score: Vec<usize> = names
                .iter()
                .map(|n| n.iter().filter(|w| telling(w)).count())
                .collect();
            let top_score = score.iter().copied().max().unwrap_or(0);
            if top_score > 0 && score.iter().any(|&x| x < top_score) {
                let k = score.iter().position(|&x| x == top_score).unwrap_or(0);
                named_by = names[k].iter().find(|w| telling(w)).cloned();
                chosen = chosen
                    .iter()
                    .zip(&score)
                    .filter(|(_, &x)| x == top_score)
                    .map(|(&i, _)| i)
                    .collect();
                // Changed values named alike: the victim read what the
                // last of them wrote (as with in-memory state).
                if top == Strength::ChangedThenUsed {
                    let last = chosen.iter().map(|&i| list[i].at).max();
                    chosen.retain(|&i| Some(list[i].at) == last);
                }
            }
        }
        let lead = match top {
            Strength::DestroyedAfterWrite => "first destructive change after the victim's last write and before it read the data back",
            Strength::DestroyedInWindow => "first destructive change between the victim's uses",
            Strength::DestroyedThenUsed => "destructive change before the victim's first use",
            Strength::ChangedInWindow => "last change of rows others wrote between the victim's uses (it read what this change left)",
            Strength::ChangedThenUsed
                if chosen
                    .first()
                    .is_some_and(|&i| list[i].rule == RuleId::ConcurrentMutation) => "last change of rows others wrote before the victim used them (it read what this change left)",
            Strength::NamedByFailure => "the victim's failure message names this table, and these rows were there when it failed",
            Strength::DestroyedReadFull => "destructive change before the victim's read, though that read missed no row",
            _ if leaks => "last change before the victim ran, never reset: the victim saw this value",
            _ => "rows left behind that the victim saw",
        };
        let rows_word = |n: u64| if n == 1 { "row" } else { "rows" };
        let rows_text = |p: &Pending| -> String {
            if let Some(left) = p.left_rows {
                let verb = if p.rule == RuleId::LeftoverData {
                    "left"
                } else {
                    "had"
                };
                return match left {
                    Some(n) => format!("; it {verb} {n} {} there", rows_word(n)),
                    None => format!("; it {verb} rows there (count unknown)"),
                };
            }
            if p.action
                .is_some_and(|a| matches!(a.kind(), ActionKind::Secret | ActionKind::Config))
            {
                return String::new();
            }
            match (p.rows.exact(), p.rows.at_least()) {
                (Some(n), _) => format!(
                    "; {} {n} {}{}",
                    if top >= Strength::DestroyedThenUsed || top == Strength::DestroyedReadFull {
                        "removed"
                    } else {
                        "changed"
                    },
                    rows_word(n),
                    if p.whole { ", the whole table" } else { "" }
                ),
                (None, Some(n)) => format!("; changed {n} or more rows"),
                (None, None) => {
                    let format = p
                        .polluter
                        .as_ref()
                        .map(|s| procs[s.file as usize].format.provides())
                        .filter(|f| !f.records_rows());
                    if let Some(f) = format {
                        format!("; rows unknown: {} files do not record them", f.name())
                    } else if p.whole {
                        "; rows unknown (the database reported no count), but a whole-table change removes every row".to_owned()
                    } else {
                        "; rows unknown: the record has no `rows`".to_owned()
                    }
                }
            }
        };
        let first = hms(list[chosen[0]].at);
        let zeros: Vec<String> = idx
            .iter()
            .filter(|&&i| list[i].strength == Some(Strength::RemovedNothing))
            .map(|&i| hms(list[i].at))
            .collect();
        let zero_note = match zeros.as_slice() {
            [] => String::new(),
            [one] => format!("; the change at {one} removed 0 rows"),
            many => format!("; the changes at {} removed 0 rows", many.join(", ")),
        };
        let later: Vec<String> = best
            .iter()
            .filter(|&&i| !chosen.contains(&i) && !list[i].rows.some_changed())
            .map(|&i| hms(list[i].at))
            .collect();
        for &i in &chosen {
            let p = &list[i];
            let mut e = format!(
                "{lead}{}: {}{}",
                if p.whole && top >= Strength::DestroyedThenUsed {
                    " (a whole-table one)"
                } else {
                    ""
                },
                what(p),
                rows_text(p)
            );
            if top.ordered() && p.whole && !later.is_empty() {
                e.push_str(&format!(
                    "; the later ones at {} found nothing left to destroy",
                    later.join(", ")
                ));
            }
            e.push_str(&zero_note);
            if let Some(w) = &named_by {
                e.push_str(&format!(
                    "; the victim's failure message or name and this scenario's name share the word \"{w}\" (the other candidates' names do not)"
                ));
            }
            if step_note {
                e.push_str("; the victim's failed step used this state (changes to state only its earlier, passing steps used rank after it)");
            }
            if chosen.len() > 1 {
                e.push_str(&format!(
                    "; tied with {}: {}; `trace-analyzer confirm` on each finding separates them by reruns",
                    crate::count((chosen.len() - 1) as u64, "other candidate", "other candidates"),
                    if p.resource.starts_with("process:") {
                        "each changed in-memory state the victim may have used, and the trace cannot tell which one its failure was about"
                    } else if top.ordered() && !p.whole {
                        "each removed rows others had written, and the trace cannot tell whose"
                    } else if p.rule == RuleId::LeftoverData {
                        "each left rows behind that the victim may have met, and the trace cannot tell whose it met"
                    } else if !p.destructive {
                        "each changed rows of a table the victim used, and the trace holds no keys or values to tell whose change it read"
                    } else if p.rows.at_least().is_none() {
                        "rows unknown, so the trace cannot tell which one removed the data"
                    } else {
                        "the evidence is the same for each"
                    }
                ));
            }
            out[i] = (true, Some(e));
        }
        for &i in &best {
            if chosen.contains(&i) {
                continue;
            }
            let p = &list[i];
            out[i].1 = Some(if process_state {
                format!(
                    "{}: also changed the state, but the change at {first} came later: the victim failed with that value",
                    what(p)
                )
            } else if top.ordered() {
                match p.rows.exact() {
                    Some(n) if n > 0 => format!(
                        "{}: removed {n} {}, but the whole-table change at {first} had already removed the victim's data",
                        what(p),
                        rows_word(n)
                    ),
                    _ => format!(
                        "{}: came after the whole-table change at {first}, which had already removed the victim's data; found nothing left to destroy",
                        what(p)
                    ),
                }
            } else {
                format!(
                    "{}: the change at {first} is the stronger evidence",
                    what(p)
                )
            });
        }
        for &i in &put_back {
            let p = &list[i];
            out[i].1 = Some(format!(
                "{}: put back the value it found at {}, before the victim failed; the victim failed with the value in effect then",
                what(p),
                p.undone_at.map(hms).unwrap_or_default()
            ));
        }
        for &i in &scoped {
            out[i].1 = Some(format!(
                "{}: a scoped delete of rows others had written; the whole-table change at {first} removed every row, so it is named first",
                what(&list[i])
            ));
        }
    }
    out
}

/// Whether `u` fell inside the failed step of `p`'s victim.
fn in_failed_step(p: &Pending, u: Micros) -> bool {
    p.victim.as_ref().is_some_and(|v| v.in_failed_step(u))
}
