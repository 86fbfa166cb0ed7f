//! Where the history lives: the URL from `--db`, `TRACE_ANALYZER_HISTORY`
//! or the default file, which backend it names, and how to print it
//! without its password.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use url::{form_urlencoded, Url};

use super::HistoryError;

/// The environment variable that overrides the default database.
pub const ENV_VAR: &str = "TRACE_ANALYZER_HISTORY";

/// Which driver a URL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A history database URL, checked for a known scheme. Never print
/// [`DbUrl::as_str`]: [`DbUrl::redacted`] hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    url: String,
    backend: Backend,
    /// True for the default file (its folder may be created).
    default: bool,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DbUrl {
    /// `sqlite://PATH`, `sqlite:PATH`, `postgres://…`, `postgresql://…`, or a
    /// plain file path (taken as SQLite).
    pub fn parse(s: &str) -> Result<DbUrl, HistoryError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(HistoryError::new("\"\"", "empty URL"));
        }
        let backend = if s.starts_with("sqlite:") {
            Backend::Sqlite
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Backend::Postgres
        } else if let Some((scheme, _)) = s.split_once("://") {
            return Err(HistoryError::new(
                redact(s),
                format!(
                    "unsupported scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
                ),
            ));
        } else {
            // A bare path: SQLite.
            return Ok(DbUrl {
                url: format!("sqlite://{s}"),
                backend: Backend::Sqlite,
                default: false,
            });
        };
        let url = DbUrl {
            url: s.to_owned(),
            backend,
            default: false,
        };
        if backend == Backend::Sqlite {
            // A path-less URL is an in-memory database: `add` would say
            // "added" and store nothing.
            let path = url.sqlite_path().unwrap_or_default();
            let memory = path.as_os_str().is_empty()
                || path.as_os_str() == ":memory:"
                || s.contains("mode=memory");
            if memory {
                return Err(HistoryError::new(
                    redact(s),
                    "no file path: use sqlite://PATH (an in-memory database would keep nothing)",
                ));
            }
        }
        Ok(url)
    }

    /// The file of an SQLite URL (`sqlite://PATH`, `sqlite:PATH`, query
    /// removed), as sqlx opens it.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))?;
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        Some(PathBuf::from(path))
    }

    /// Whether an SQLite URL asks for a read-only connection (`?mode=ro`).
    pub fn sqlite_read_only(&self) -> bool {
        self.backend == Backend::Sqlite
            && self
                .url
                .split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "mode=ro"))
    }

    /// Refuses an SQLite path that exists but is not a regular file (a
    /// device, a folder, a FIFO): SQLite would create `-journal`, `-wal`
    /// and `-shm` files next to it (`/dev/null-journal`).
    pub fn check_sqlite_file(&self) -> Result<(), HistoryError> {
        let Some(path) = self.sqlite_path() else {
            return Ok(());
        };
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => Err(HistoryError::new(
                self.redacted(),
                "not a regular file: the history must be an SQLite database file",
            )),
            _ => Ok(()),
        }
    }

    /// `flag`, else `$TRACE_ANALYZER_HISTORY`, else the default file.
    pub fn resolve(flag: Option<&str>) -> Result<DbUrl, HistoryError> {
        // `--db ""` is refused by `parse`, never read as "the default".
        if let Some(f) = flag {
            return DbUrl::parse(f);
        }
        if let Some(v) = std::env::var(ENV_VAR).ok().filter(|v| !v.is_empty()) {
            return DbUrl::parse(&v);
        }
        let path = default_path().ok_or_else(|| {
            HistoryError::new(
                "(default)",
                format!("neither XDG_DATA_HOME nor HOME is set: give --db URL or {ENV_VAR}"),
            )
        })?;
        Ok(DbUrl {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            default: true,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL itself, password included: for the driver only.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether this is the default file (whose folder may be created).
    pub fn is_default(&self) -> bool {
        self.default
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }

    /// `text` with the password (if any; as written in the URL and
    /// percent-decoded) replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for p in passwords(&self.url) {
            out = out.replace(&p, "***");
        }
        out
    }
}

/// `$XDG_DATA_HOME/trace-analyzer/history.sqlite`, else
/// `~/.local/share/trace-analyzer/history.sqlite`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("trace-analyzer").join("history.sqlite"))
}

/// Whether a raw `key=value` query pair is a `password` (PostgreSQL takes
/// it in the query too), its key percent-decoded.
fn is_password_pair(kv: &str) -> bool {
    form_urlencoded::parse(kv.as_bytes())
        .next()
        .is_some_and(|(k, _)| k.eq_ignore_ascii_case("password"))
}

/// The passwords in `url` (`user:password@` and `?password=`), each as
/// written and percent-decoded; empty ones left out.
fn passwords(url: &str) -> Vec<String> {
    let Ok(u) = Url::parse(url) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(p) = u.password() {
        found.push(p.to_owned());
        found.push(percent_decode_str(p).decode_utf8_lossy().into_owned());
    }
    for (k, v) in u.query_pairs() {
        if k.eq_ignore_ascii_case("password") {
            found.push(v.into_owned());
        }
    }
    if let Some(q) = u.query() {
        let raw = q.split('&').filter(|kv| is_password_pair(kv));
        found.extend(raw.filter_map(|kv| Some(kv.split_once('=')?.1.to_owned())));
    }
    found.retain(|p| !p.is_empty());
    found
}

/// `url` with its passwords replaced by `***`; anything else as written.
/// The `url` crate (sqlx's own parser) finds them, so an `@` or `:` in a
/// password, escaped or not, cannot shift where the password is taken to
/// end.
fn redact(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else {
        // Not a URL (so not one a driver would connect with either): shown
        // only if it cannot hold a password.
        let lower = url.to_ascii_lowercase();
        return if url.contains('@') || lower.contains("password") {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            format!("{scheme}:*** (not a valid URL)")
        } else {
            url.to_owned()
        };
    };
    let mut changed = false;
    if u.password().is_some_and(|p| !p.is_empty()) {
        changed |= u.set_password(Some("***")).is_ok();
    }
    if let Some(q) = u.query().filter(|q| q.split('&').any(is_password_pair)) {
        let q: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                _ if !is_password_pair(kv) => kv.to_owned(),
                Some((k, _)) => format!("{k}=***"),
                None => format!("{kv}=***"),
            })
            .collect();
        u.set_query(Some(&q.join("&")));
        changed = true;
    }
    // Unchanged URLs are printed as given, not as the parser normalises
    // them (a space in an SQLite path stays a space).
    if changed {
        u.into()
    } else {
        url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let u = DbUrl::parse("postgres://ci:s3cret@db.example:5432/hist?sslmode=require").unwrap();
        assert_eq!(
            u.redacted(),
            "postgres://ci:***@db.example:5432/hist?sslmode=require"
        );
        assert_eq!(u.scrub("auth failed for s3cret"), "auth failed for ***");
        let q = DbUrl::parse("postgres://db/hist?user=ci&password=s3cret").unwrap();
        assert_eq!(q.redacted(), "postgres://db/hist?user=ci&password=***");
        let plain = DbUrl::parse("postgres://ci@db/hist").unwrap();
        assert_eq!(plain.redacted(), "postgres://ci@db/hist");
    }

    /// A password with URL-escaped characters (`@`, `:`, `/`, `%`) is
    /// hidden in the URL, and in driver messages both as written and as
    /// decoded; an unescaped `@` in it does not leak its first part.
    #[test]
    fn escaped_passwords_never_show() {
        let u =
            DbUrl::parse("postgres://ci:p%40ss%3Aw%2Fd%25@db:5432/hist?sslmode=require").unwrap();
        assert_eq!(
            u.redacted(),
            "postgres://ci:***@db:5432/hist?sslmode=require"
        );
        assert_eq!(
            u.scrub("auth failed for p@ss:w/d% (p%40ss%3Aw%2Fd%25)"),
            "auth failed for *** (***)"
        );
        let raw_at = DbUrl::parse("postgres://ci:p@ss@db/hist").unwrap();
        assert_eq!(raw_at.redacted(), "postgres://ci:***@db/hist");
        assert_eq!(raw_at.scrub("bad password p@ss"), "bad password ***");
        let q = DbUrl::parse("postgres://db/hist?user=ci&pass%77ord=s%26cret").unwrap();
        assert_eq!(q.redacted(), "postgres://db/hist?user=ci&pass%77ord=***");
        assert_eq!(q.scrub("s&cret / s%26cret"), "*** / ***");
        // Not a URL the driver could use (bad port): nothing after the
        // scheme is shown, as it might hold the password.
        let bad = DbUrl::parse("postgres://ci:s3cret@db:port/hist").unwrap();
        assert_eq!(bad.redacted(), "postgres:*** (not a valid URL)");
        // Nothing to hide: as written, not normalised.
        let spaced = DbUrl::parse("sqlite:///tmp/my history.sqlite").unwrap();
        assert_eq!(spaced.redacted(), "sqlite:///tmp/my history.sqlite");
    }

    #[test]
    fn bare_paths_are_sqlite_and_unknown_schemes_are_refused() {
        let u = DbUrl::parse("/tmp/h.sqlite").unwrap();
        assert_eq!(
            (u.backend(), u.as_str()),
            (Backend::Sqlite, "sqlite:///tmp/h.sqlite")
        );
        for pathless in [
            "",
            " ",
            "sqlite://",
            "sqlite:",
            "sqlite://?mode=ro",
            "sqlite::memory:",
            "sqlite://x?mode=memory",
        ] {
            let e = DbUrl::parse(pathless).unwrap_err();
            assert!(
                e.to_string().contains("URL") || e.to_string().contains("no file path"),
                "{pathless}: {e}"
            );
        }
        assert!(
            DbUrl::resolve(Some("")).is_err(),
            "--db \"\" is not the default"
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/h.sqlite?mode=ro")
                .unwrap()
                .sqlite_path(),
            Some(PathBuf::from("/tmp/h.sqlite"))
        );
        assert!(DbUrl::parse("/dev/null")
            .unwrap()
            .check_sqlite_file()
            .is_err());
        let e = DbUrl::parse("mysql://u:pw@h/db").unwrap_err();
        assert!(e.to_string().contains("unsupported scheme"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
