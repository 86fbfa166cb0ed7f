//! What a statement's text says about its effect, where the action alone
//! does not: which DDL removes data, which inserts only seed shared rows
//! and which overwrite a row that may be someone else's. Only the leading
//! words and a few clause keywords are read, never values (the tracer
//! writes bind markers, not values).

/// What a `DB_DDL` statement does to the data others use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ddl {
    /// `DROP …`, `TRUNCATE …`: removes a table (or schema) and its rows.
    Drops,
    /// `ALTER TABLE … DROP …` or `… RENAME …`: removes or renames what
    /// others' statements name, without emptying the table.
    Breaks,
    /// `CREATE … IF NOT EXISTS`: creates what is missing, changes nothing
    /// that exists (and reads nothing).
    Ensures,
    /// Anything else (`CREATE TABLE`, `CREATE INDEX`, `ALTER TABLE … ADD`…).
    Changes,
}

/// What an `INSERT` does besides adding rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Plain,
    /// Does nothing when the row exists (`INSERT OR IGNORE`, `INSERT
    /// IGNORE`, `ON CONFLICT … DO NOTHING`): seeds a row any scenario may
    /// rely on, so the row is no one scenario's own.
    Seed,
    /// Overwrites the row when it exists (`ON CONFLICT … DO UPDATE`,
    /// `INSERT OR REPLACE`, `REPLACE INTO`, `ON DUPLICATE KEY UPDATE`):
    /// an update of a row that may be another scenario's.
    Upsert,
}

/// The words of `sql`, skipping `--` and `/* */` comments and anything
/// quoted (names and literals are not keywords).
fn words(sql: &str) -> impl Iterator<Item = &str> + '_ {
    let b = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || loop {
        let c = *b.get(i)?;
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'\'' | b'"' | b'`' => {
                i = b[i + 1..]
                    .iter()
                    .position(|&q| q == c)
                    .map_or(b.len(), |n| i + 1 + n + 1);
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                return sql.get(start..i);
            }
            _ => i += 1,
        }
    })
}

/// How a `DB_DDL` statement is taken (see [`Ddl`]).
pub fn ddl(sql: &str) -> Ddl {
    let w: Vec<String> = words(sql).take(64).map(str::to_ascii_uppercase).collect();
    let has = |x: &str| w.iter().any(|v| v == x);
    match w.first().map(String::as_str) {
        Some("DROP" | "TRUNCATE") => Ddl::Drops,
        Some("ALTER") if has("DROP") || has("RENAME") => Ddl::Breaks,
        Some("CREATE")
            if w.windows(3)
                .any(|x| x[0] == "IF" && x[1] == "NOT" && x[2] == "EXISTS") =>
        {
            Ddl::Ensures
        }
        _ => Ddl::Changes,
    }
}

/// `w` is the keyword `k` (upper-case), any case.
fn is(w: Option<&str>, k: &str) -> bool {
    w.is_some_and(|w| w.eq_ignore_ascii_case(k))
}

/// How an `INSERT` is taken (see [`Insert`]). Cheap enough for every
/// insert: most have no `OR`, `IGNORE`, `REPLACE` or `ON` at all.
pub fn insert(sql: &str) -> Insert {
    let mut prev: Option<&str> = None;
    let mut on_conflict = false;
    for (n, w) in words(sql).enumerate() {
        let w = Some(w);
        if n == 0 && is(w, "REPLACE") {
            return Insert::Upsert;
        }
        if n <= 2 && (is(prev, "OR") || is(prev, "INSERT")) && is(w, "IGNORE") {
            return Insert::Seed;
        }
        if n <= 2 && is(prev, "OR") && is(w, "REPLACE") {
            return Insert::Upsert;
        }
        if is(prev, "ON") && is(w, "CONFLICT") {
            on_conflict = true;
        }
        if is(prev, "DUPLICATE") && is(w, "KEY") {
            return Insert::Upsert;
        }
        if on_conflict && is(prev, "DO") {
            if is(w, "NOTHING") {
                return Insert::Seed;
            }
            if is(w, "UPDATE") {
                return Insert::Upsert;
            }
        }
        prev = w;
    }
    Insert::Plain
}

/// A failed statement's error says the table or column it names does not
/// exist (SQLite, PostgreSQL and MySQL wordings): it found nothing, as
/// surely as a read of no row.
pub fn missing_object(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("no such table")
        || e.contains("no such column")
        || e.contains("has no column named")
        || e.contains("unknown column")
        || e.contains("doesn't exist")
        || e.contains("does not exist")
            && ["relation", "table", "column"]
                .iter()
                .any(|w| e.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_text_is_read_without_panicking() {
        for text in [
            "",
            "'",
            "\"unterminated",
            "/* unterminated",
            "/*",
            "--",
            "- -",
            "é'ü",
            "INSERT OR",
            "DROP",
            "CREATE TABLE IF NOT",
            "\u{0}\u{1b}[31m",
        ] {
            let _ = (ddl(text), insert(text), missing_object(text));
        }
        assert_eq!(ddl("DROP"), Ddl::Drops);
        assert_eq!(ddl("CREATE TABLE IF NOT"), Ddl::Changes);
    }

    #[test]
    fn errors_about_missing_tables_and_columns_are_told_apart() {
        assert!(missing_object("no such table: notes"));
        assert!(missing_object(
            "sqlite3.OperationalError: no such column: body"
        ));
        assert!(missing_object(
            r#"error returned from database: relation "notes" does not exist"#
        ));
        assert!(missing_object(
            r#"column "body" of relation "notes" does not exist"#
        ));
        assert!(missing_object("Table 'app.notes' doesn't exist"));
        assert!(missing_object("table notes has no column named body"));
        assert!(!missing_object("UNIQUE constraint failed: users.email"));
        assert!(!missing_object(r#"role "ci" does not exist"#));
    }

    #[test]
    fn ddl_is_judged_by_its_verb_not_by_words_inside_it() {
        assert_eq!(ddl("DROP TABLE users"), Ddl::Drops);
        assert_eq!(ddl("  truncate orders, lines"), Ddl::Drops);
        assert_eq!(
            ddl("CREATE TABLE IF NOT EXISTS deliveries (id INT, dropoff_at TEXT)"),
            Ddl::Ensures
        );
        assert_eq!(ddl("CREATE TABLE drops (id INT)"), Ddl::Changes);
        assert_eq!(ddl("create index if not exists i on t (a)"), Ddl::Ensures);
        assert_eq!(
            ddl("ALTER TABLE notes RENAME COLUMN body TO text"),
            Ddl::Breaks
        );
        assert_eq!(ddl("ALTER TABLE notes DROP COLUMN body"), Ddl::Breaks);
        assert_eq!(
            ddl("ALTER TABLE notes ADD COLUMN dropped_at TEXT"),
            Ddl::Changes
        );
        assert_eq!(ddl("-- DROP TABLE x\nCREATE TABLE t (a INT)"), Ddl::Changes);
        assert_eq!(ddl("CREATE TABLE t (a TEXT DEFAULT 'DROP')"), Ddl::Changes);
    }

    #[test]
    fn inserts_that_seed_or_overwrite_are_told_from_plain_ones() {
        assert_eq!(insert("INSERT INTO t (a) VALUES (?)"), Insert::Plain);
        assert_eq!(
            insert("INSERT OR IGNORE INTO settings VALUES (?, ?)"),
            Insert::Seed
        );
        assert_eq!(
            insert("INSERT IGNORE INTO settings VALUES (?, ?)"),
            Insert::Seed
        );
        assert_eq!(
            insert("INSERT INTO s (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING"),
            Insert::Seed
        );
        assert_eq!(
            insert(
                "INSERT INTO s (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v"
            ),
            Insert::Upsert
        );
        assert_eq!(
            insert("INSERT OR REPLACE INTO s VALUES (?, ?)"),
            Insert::Upsert
        );
        assert_eq!(insert("REPLACE INTO s VALUES (?, ?)"), Insert::Upsert);
        assert_eq!(
            insert("INSERT INTO s VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)"),
            Insert::Upsert
        );
        // Words inside names or literals are not clauses.
        assert_eq!(
            insert("INSERT INTO \"ignore\" (\"replace\") VALUES ('on conflict do nothing')"),
            Insert::Plain
        );
    }
}
