//! Database identities and default schemas as the format defines them
//! (docs/format.md, "Resources"), so a writer that fills in a record's
//! `schema` and a reader that resolves a record without one agree.

/// The in-memory SQLite identity, private to the process that writes it.
pub const SQLITE_MEMORY: &str = "sqlite::memory:";

/// Whether an identity names an SQLite database (`sqlite:/path`,
/// [`SQLITE_MEMORY`]).
pub fn is_sqlite(db: &str) -> bool {
    db.starts_with("sqlite:")
}

/// The schema unqualified names belong to when nobody switched schema:
/// `main` on SQLite, `public` elsewhere (PostgreSQL) and when the database
/// is unknown.
pub fn default_schema(db: Option<&str>) -> &'static str {
    match db {
        Some(db) if is_sqlite(db) => "main",
        _ => "public",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_database() {
        assert_eq!(default_schema(Some("sqlite:/tmp/a.db")), "main");
        assert_eq!(default_schema(Some(SQLITE_MEMORY)), "main");
        assert_eq!(default_schema(Some("postgres://h:5432/x")), "public");
        assert_eq!(default_schema(Some("")), "public");
        assert_eq!(default_schema(None), "public");
    }
}
