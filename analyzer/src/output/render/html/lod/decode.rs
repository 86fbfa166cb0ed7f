//! Reading a page back: its compact view model expanded to the objects of
//! the documented shape, as the page's script does when it loads.

use super::PAGE_VERSION;

/// A page's view model as objects: a version 3 page's scenario rows and
/// marker columns expanded to the objects of the documented shape (what the
/// page's script does when it loads), for tests and tools that read pages.
/// Other versions are returned as they are.
pub fn expand(mut data: serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    if data["version"].as_u64() != Some(u64::from(PAGE_VERSION)) {
        return data;
    }
    let strings = data["strings"].as_array().cloned().unwrap_or_default();
    let outcomes = data["outcomes"].clone();
    let kinds = data["lod"]["kinds"].clone();
    let text = |v: &Value, table: &Value| table[v.as_u64().unwrap_or(u64::MAX) as usize].clone();
    let string = |v: &Value| match v.as_u64() {
        Some(i) => strings.get(i as usize).cloned().unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut start = 0;
    let scenarios: Vec<Value> = data["scenarios"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            start += r[6].as_i64().unwrap_or(0);
            let mut s = json!({
                "id": r[0], "proc": r[1], "lane": r[2], "feature": string(&r[3]),
                "name": r[4], "outcome": text(&r[5], &outcomes),
                "start_us": start, "end_us": start + r[7].as_i64().unwrap_or(0),
            });
            if let Some(error) = r.get(8) {
                s["error"] = error.clone();
            }
            s
        })
        .collect();
    let columns = &data["markers"];
    let column = |name: &str| columns[name].as_array().cloned().unwrap_or_default();
    let (t_us, procs, scns, lanes, kind, action, details) = (
        column("t_us"),
        column("proc"),
        column("scenario"),
        column("lane"),
        column("kind"),
        column("action"),
        column("details"),
    );
    let mut t = 0;
    let markers: Vec<Value> = (0..t_us.len())
        .map(|i| {
            t += t_us[i].as_i64().unwrap_or(0);
            json!({
                "proc": procs[i],
                "scenario": if scns[i].as_i64() == Some(-1) { Value::Null } else { scns[i].clone() },
                "lane": lanes[i], "kind": text(&kind[i], &kinds),
                "action": string(&action[i]), "t_us": t, "details": string(&details[i]),
            })
        })
        .collect();
    data["scenarios"] = Value::Array(scenarios);
    data["markers"] = Value::Array(markers);
    data
}
