//! Warnings shown with the commands read from trace files, before the user
//! agrees to run them: what the command line alone does not tell.
//!
//! A trace header names the program and folder; both may have changed since
//! the run, or may be somewhere other people can write to.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::plan::{Cmd, Plan};
use crate::escape::text;

/// One line per problem, each naming the path (control characters escaped).
pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut out = BTreeSet::new();
    for c in plan.from_trace() {
        if let Some(d) = c.cwd.as_deref().filter(|d| !d.is_dir()) {
            out.insert(format!(
                "the folder the command ran in, {}, does not exist here: it cannot be started (give --victim-cmd/--polluter-cmd)",
                text(&d.display().to_string())
            ));
            continue;
        }
        if let Some(w) = writable_by_others(c) {
            out.insert(w);
        }
    }
    out.into_iter().collect()
}

/// The program a command would run, as the kernel finds it: a path with a
/// `/` relative to the command's folder, else the first match on `PATH`.
fn program(c: &Cmd) -> Option<PathBuf> {
    let name = c.argv.first()?;
    if name.contains('/') {
        let p = Path::new(name);
        return Some(match (&c.cwd, p.is_relative()) {
            (Some(d), true) => d.join(p),
            _ => p.to_path_buf(),
        });
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A program anyone on the machine could have replaced: the file or its
/// folder is world-writable (a sticky folder such as /tmp included: the
/// file's owner may be anyone).
fn writable_by_others(c: &Cmd) -> Option<String> {
    let p = program(c)?;
    let world = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o002 != 0);
    let shown = text(&p.display().to_string()).into_owned();
    if world(&p) {
        return Some(format!(
            "{shown} can be changed by any user on this machine: check it before agreeing"
        ));
    }
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty())?;
    world(dir).then(|| {
        format!(
            "{shown} is in {}, a folder any user on this machine can write to: check it before agreeing",
            text(&dir.display().to_string())
        )
    })
}
