//! Where the history lives: the URL from `--db`, `TRACE_ANALYZER_HISTORY`
//! or the default file, which backend it names, and how to print it
//! without its password.

use std::path::PathBuf;

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

    /// `text` with the password (if any) replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        match password(&self.url) {
            Some(p) if !p.is_empty() => text.replace(p, "***"),
            _ => text.to_owned(),
        }
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

/// The `user:password@` part's password, if the URL has one.
fn password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.split_once(':')?.1)
}

fn redact(url: &str) -> String {
    let mut out = match password(url) {
        Some(p) if !p.is_empty() => {
            // Replace the occurrence inside the authority only.
            let start = p.as_ptr() as usize - url.as_ptr() as usize;
            format!("{}***{}", &url[..start], &url[start + p.len()..])
        }
        _ => url.to_owned(),
    };
    // `?password=` in the query (PostgreSQL accepts it there too).
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
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
