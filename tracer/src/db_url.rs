//! What database a connection URL names, as the trace records it.
//!
//! Two processes share state only if they use the same database, so the
//! `db` member must be the same string in every process that uses one
//! database and different for different ones, and free of credentials:
//!
//! - SQLite: `sqlite:` and the canonical absolute file path (relative paths
//!   resolved, symlinks followed); an in-memory database (`:memory:`, an
//!   empty path, `mode=memory`) is exactly `sqlite::memory:`, which the
//!   analyzer treats as private to its process;
//! - PostgreSQL: `postgres://host:port/dbname`, host lowercased, port 5432
//!   when none is given; user, password and parameters dropped;
//! - other URLs: `scheme://host[:port]/path`, host lowercased, no
//!   credentials; a string that is not a URL is a name the user chose, kept
//!   (with any password masked).
//!
//! No URL, no identity: the caller writes no `db` member then (unknown).

use std::path::{Path, PathBuf};

/// The in-memory SQLite identity, the default schema of an identity and
/// whether one is SQLite's, as the format defines them.
pub use crate::format::schema::{default_schema, is_sqlite, SQLITE_MEMORY};

/// The identity of the database `url` names, or `None` for an empty string.
pub fn db_identity(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    if let Some(rest) = strip_prefix_ci(url, "sqlite:") {
        return Some(sqlite(rest));
    }
    let Some(scheme_end) = url.find("://") else {
        return Some(crate::secret::mask_url(url).into_owned());
    };
    let scheme = url[..scheme_end].to_ascii_lowercase();
    let scheme = match scheme.as_str() {
        "postgresql" => "postgres".to_owned(),
        _ => scheme,
    };
    let rest = &url[scheme_end + 3..];
    let (rest, query) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let mut host_port = host_port.to_ascii_lowercase();
    if host_port.is_empty() {
        // postgres:///db?host=/run/postgresql: a socket folder, or localhost.
        host_port = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("host="))
            .unwrap_or("localhost")
            .to_owned();
    }
    let default_port = match scheme.as_str() {
        "postgres" => Some(5432),
        "mysql" | "mariadb" => Some(3306),
        _ => None,
    };
    // `[::1]` and `[::1]:5433`: the port is after the bracket.
    let has_port = match host_port.rfind(']') {
        Some(b) => host_port[b..].contains(':'),
        None => host_port.contains(':'),
    };
    if let (Some(port), false, false) = (default_port, has_port, host_port.starts_with('/')) {
        host_port = format!("{host_port}:{port}");
    }
    Some(format!("{scheme}://{host_port}{path}"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

fn sqlite(rest: &str) -> String {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = query
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("mode=memory"));
    if path.is_empty() || path.starts_with(":memory:") || memory {
        return SQLITE_MEMORY.to_owned();
    }
    format!("sqlite:{}", canonical(Path::new(path)).display())
}

/// The absolute path with symlinks resolved; for a file that does not
/// exist yet (`mode=rwc` creates it), its folder resolved and its name kept,
/// so the identity is the same before and after the file is created.
pub(crate) fn canonical(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if let Ok(c) = std::fs::canonicalize(&abs) {
        return c;
    }
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_identities_are_canonical_and_credential_free() {
        for (url, want) in [
            (
                "postgresql://app:hunter2@DB.Example/x?sslmode=disable",
                "postgres://db.example:5432/x",
            ),
            (
                "postgres://u@127.0.0.1:5433/app",
                "postgres://127.0.0.1:5433/app",
            ),
            ("postgres://LOCALHOST/app", "postgres://localhost:5432/app"),
            ("postgres://[::1]/app", "postgres://[::1]:5432/app"),
            ("postgres://[::1]:6000/app", "postgres://[::1]:6000/app"),
            ("postgres:///app?host=/run/pg", "postgres:///run/pg/app"),
        ] {
            assert_eq!(db_identity(url).as_deref(), Some(want), "{url}");
        }
    }

    #[test]
    fn sqlite_files_resolve_to_one_absolute_path_and_memory_is_one_name() {
        let dir = tempfile::tempdir().unwrap();
        let real = canonical(dir.path());
        let file = real.join("a.db");
        let want = format!("sqlite:{}", file.display());
        // Before and after the file exists, with any URL spelling.
        assert_eq!(
            db_identity(&format!("sqlite://{}?mode=rwc", file.display())),
            Some(want.clone())
        );
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            db_identity(&format!("sqlite:{}", file.display())),
            Some(want.clone())
        );
        let link = real.join("link.db");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            db_identity(&format!("sqlite://{}", link.display())),
            Some(want)
        );
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite:",
            "sqlite://x.db?mode=memory&cache=shared",
        ] {
            assert_eq!(
                db_identity(memory).as_deref(),
                Some(SQLITE_MEMORY),
                "{memory}"
            );
        }
    }

    #[test]
    fn no_url_is_no_identity() {
        assert_eq!(db_identity("  "), None);
        assert_eq!(db_identity("orders-db").as_deref(), Some("orders-db"));
    }
}
