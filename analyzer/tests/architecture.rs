//! The library's layout stays a pipeline: no two modules depend on each
//! other, directly or through others (issue 20). A module here is one
//! source file; a child's use of its parent (Rust's `super::`) is how a
//! module is split into files and does not count. The binary's own files
//! (`cli/`, `main.rs`, `bar.rs`) sit on top and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// `crate::a::b::c` paths (and `super::…`) used by `src`, tests and
/// comments left out.
fn used_paths(src: &str) -> (Vec<String>, Vec<String>) {
    let code = src.split("#[cfg(test)]").next().unwrap_or("");
    let mut krate = Vec::new();
    let mut sup = Vec::new();
    for line in code.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for (prefix, out) in [("crate::", &mut krate), ("super::", &mut sup)] {
            let mut rest = line;
            while let Some(i) = rest.find(prefix) {
                let after = &rest[i + prefix.len()..];
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                out.push(after[..end].trim_end_matches(':').to_owned());
                rest = &after[end..];
            }
        }
    }
    (krate, sup)
}

fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel == "cli" || rel == "main.rs" || rel == "bar.rs" {
            continue;
        }
        if p.is_dir() {
            walk(&p, root, out);
        } else if rel.ends_with(".rs") {
            let m = rel.trim_end_matches(".rs").trim_end_matches("/mod");
            let m = if m == "lib" {
                String::new()
            } else {
                m.replace('/', "::")
            };
            out.insert(m, fs::read_to_string(&p).unwrap());
        }
    }
}

/// The module a path names: its longest prefix that is a module, after
/// the crate root's re-exports (`crate::read` is `input::read`).
fn resolve(
    path: &str,
    mods: &BTreeMap<String, String>,
    roots: &BTreeMap<String, String>,
) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let aliased;
    if let Some(real) = parts.first().and_then(|p| roots.get(*p)) {
        if !mods.contains_key(parts[0]) {
            aliased = real.clone();
            let mut v: Vec<&str> = aliased.split("::").collect();
            v.extend(&parts[1..]);
            parts = v;
        }
    }
    (1..=parts.len())
        .rev()
        .map(|k| parts[..k].join("::"))
        .find(|c| mods.contains_key(c))
}

fn related(a: &str, b: &str) -> bool {
    a.is_empty()
        || b.is_empty()
        || a == b
        || a.starts_with(&format!("{b}::"))
        || b.starts_with(&format!("{a}::"))
}

#[test]
fn no_two_library_modules_depend_on_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mods = BTreeMap::new();
    walk(&root, &root, &mut mods);
    // `pub use stage::{a, b};` and `pub use stage::a;` in lib.rs.
    let mut roots = BTreeMap::new();
    for line in mods[""].lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        if let Some((stage, names)) = rest.split_once("::{") {
            for n in names.trim_end_matches('}').split(',') {
                roots.insert(n.trim().to_owned(), format!("{stage}::{}", n.trim()));
            }
        } else if let Some((stage, name)) = rest.rsplit_once("::") {
            roots.insert(name.to_owned(), format!("{stage}::{name}"));
        }
    }
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, src) in &mods {
        let (krate, sup) = used_paths(src);
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let sup = sup.into_iter().map(|p| {
            if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            }
        });
        let set = deps.entry(m.clone()).or_default();
        for p in krate.into_iter().chain(sup) {
            if let Some(r) = resolve(&p, &mods, &roots) {
                if !related(&r, m) {
                    set.insert(r);
                }
            }
        }
    }
    // A cycle: some module reaches itself.
    for start in deps.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((m, path)) = todo.pop() {
            for d in deps.get(&m).into_iter().flatten() {
                if d == start {
                    panic!("import cycle: {} -> {start}", path.join(" -> "));
                }
                if seen.insert(d.clone()) {
                    let mut p = path.clone();
                    p.push(d.clone());
                    todo.push((d.clone(), p));
                }
            }
        }
    }
    assert!(deps.len() > 30, "too few modules found: {:?}", deps.keys());
}
