//! What an SQL statement did to shared state, read from its text.
//!
//! sqlx reports every statement it runs; this module turns the statement
//! into an action (`DB_SELECT`, `DB_CLEANUP`, `TX_BEGIN`, `SCHEMA_SET`, ...),
//! the tables and schema it touched, and a copy of the text that keeps
//! placeholders only: string, numeric and other literals become `?`, so a
//! value that was inlined instead of bound never reaches the trace.
//!
//! A string may hold several statements (`DELETE FROM a; DELETE FROM b`, a
//! setup script): [`classify_all`] splits it at the top-level semicolons
//! (not those inside literals, quoted names, comments, dollar quotes or a
//! trigger's `BEGIN ... END` body) and reads each statement on its own.
//!
//! This is a tokenizer plus a few keyword rules, not a parser: it is right
//! for the statements test suites run (CRUD, TRUNCATE, DDL, transactions,
//! search_path) and falls back to `DB_DDL`/`DB_SELECT` without tables when in
//! doubt.

use crate::format::Action;

mod tokens;

use tokens::{ident, kw, qualified_name, redact, split_statements, tokenize, Tok};

/// What one statement means for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub action: Action,
    /// Tables as written, unquoted, possibly schema-qualified (`s.t`).
    pub tables: Vec<String>,
    /// For `SCHEMA_*`: the schema created, dropped or switched to.
    pub schema: Option<String>,
    /// The statement with every literal replaced by `?`, whitespace collapsed.
    pub redacted: String,
    /// Connection settings (`PRAGMA ...`) that sqlx runs on every new
    /// connection: not state, so not recorded.
    pub connection_setting: bool,
}

/// Skips `IF [NOT] EXISTS`, `ONLY`, `TABLE` and similar noise words.
fn skip_noise(toks: &[Tok], mut i: usize) -> usize {
    while let Some(k) = kw(toks.get(i)) {
        match k.as_str() {
            "IF" | "NOT" | "EXISTS" | "ONLY" | "TABLE" | "INTO" | "FROM" | "LOW_PRIORITY"
            | "QUICK" | "IGNORE" | "OR" | "REPLACE" | "ROLLBACK" | "ABORT" | "FAIL" => i += 1,
            _ => break,
        }
    }
    i
}

const NOT_TABLES: &[&str] = &[
    "SELECT",
    "WHERE",
    "SET",
    "VALUES",
    "DEFAULT",
    "ON",
    "USING",
    "AS",
    "LATERAL",
    "UNNEST",
    "GENERATE_SERIES",
    "JSON_EACH",
    "PRAGMA_TABLE_INFO",
];

/// Tables after FROM/JOIN/INTO/UPDATE/TABLE keywords anywhere in the statement.
fn collect_tables(toks: &[Tok], ctes: &[String]) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let k = kw(toks.get(i));
        let takes_list = matches!(k.as_deref(), Some("FROM"));
        let takes_one = matches!(k.as_deref(), Some("JOIN" | "INTO" | "UPDATE" | "TRUNCATE"));
        if takes_list || takes_one {
            let mut j = skip_noise(toks, i + 1);
            loop {
                if matches!(toks.get(j), Some(Tok::Punct('('))) {
                    break;
                }
                let Some((name, next)) = qualified_name(toks, j) else {
                    break;
                };
                let upper = name.to_ascii_uppercase();
                if NOT_TABLES.contains(&upper.as_str()) {
                    break;
                }
                if !ctes.contains(&name) && !tables.contains(&name) {
                    tables.push(name);
                }
                j = next;
                if !(takes_list || k.as_deref() == Some("TRUNCATE")) {
                    break;
                }
                // Skip an alias, then continue on a comma.
                if matches!(kw(toks.get(j)).as_deref(), Some("AS")) {
                    j += 1;
                }
                if matches!(toks.get(j), Some(Tok::Word(_)))
                    && !is_clause_keyword(kw(toks.get(j)).as_deref())
                {
                    j += 1;
                }
                if matches!(toks.get(j), Some(Tok::Punct(','))) {
                    j += 1;
                    continue;
                }
                break;
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    tables
}

fn is_clause_keyword(k: Option<&str>) -> bool {
    matches!(
        k,
        Some(
            "WHERE"
                | "JOIN"
                | "LEFT"
                | "RIGHT"
                | "INNER"
                | "OUTER"
                | "FULL"
                | "CROSS"
                | "ON"
                | "GROUP"
                | "ORDER"
                | "LIMIT"
                | "OFFSET"
                | "HAVING"
                | "UNION"
                | "RETURNING"
                | "SET"
                | "VALUES"
                | "RESTART"
                | "CONTINUE"
                | "CASCADE"
                | "RESTRICT"
                | "FOR"
                | "WINDOW"
                | "NATURAL"
                | "USING"
                | "EXCEPT"
                | "INTERSECT"
        )
    )
}

/// Names defined by `WITH name AS (...)`, so they are not taken for tables.
fn cte_names(toks: &[Tok]) -> Vec<String> {
    let mut names = Vec::new();
    if kw(toks.first()).as_deref() != Some("WITH") {
        return names;
    }
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ if depth == 0 && kw(Some(t)).as_deref() == Some("AS") => {
                if let Some(name) = ident(toks.get(i.wrapping_sub(1))) {
                    names.push(name);
                }
            }
            _ => {}
        }
    }
    names
}

/// The statement's verb: the first word, or after a leading `WITH ... AS
/// (...)` list the strongest of the main verb and the verbs the list's
/// bodies start with. `WITH p AS (INSERT INTO post ... RETURNING *) SELECT
/// ... FROM p` writes (PostgreSQL runs data-modifying CTEs); a `DELETE`
/// anywhere in it outranks an update, which outranks an insert.
fn main_verb(toks: &[Tok]) -> Option<String> {
    let first = kw(toks.first())?;
    if first != "WITH" {
        return Some(first);
    }
    let rank = |v: &str| match v {
        "DELETE" => 3,
        "UPDATE" => 2,
        "INSERT" => 1,
        _ => 0,
    };
    let mut best: Option<String> = None;
    let mut depth = 0i32;
    let mut prev: Option<String> = None;
    let mut body_starts = false;
    for t in toks.iter().skip(1) {
        let word = kw(Some(t));
        match t {
            Tok::Punct('(') => {
                // `name AS (`, `AS MATERIALIZED (`: a body begins.
                body_starts = depth == 0 && matches!(prev.as_deref(), Some("AS" | "MATERIALIZED"));
                depth += 1;
            }
            Tok::Punct(')') => depth -= 1,
            Tok::Word(_) => {
                let k = word.clone().unwrap_or_default();
                let verb = matches!(k.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE");
                if verb && (depth == 0 || depth == 1 && body_starts) {
                    if best.as_deref().is_none_or(|b| rank(&k) > rank(b)) {
                        best = Some(k.clone());
                    }
                    if depth == 0 {
                        return best;
                    }
                }
                body_starts = false;
            }
            _ => body_starts = false,
        }
        prev = word;
    }
    Some(best.unwrap_or_else(|| "SELECT".to_owned()))
}

/// Reads every statement of `sql`, in order. Empty statements (`;;`, a
/// trailing `;`) are skipped; a string with no statement gives none.
pub fn classify_all(sql: &str) -> Vec<Statement> {
    let all = tokenize(sql);
    split_statements(&all)
        .into_iter()
        .map(|toks| classify_tokens(toks, sql))
        .collect()
}

/// Reads a string as one statement: the first one when it holds several
/// (see [`classify_all`]).
pub fn classify(sql: &str) -> Statement {
    let all = tokenize(sql);
    let first = split_statements(&all).into_iter().next().unwrap_or(&[]);
    classify_tokens(first, sql)
}

fn classify_tokens(toks: &[Tok], sql: &str) -> Statement {
    let mut st = Statement {
        action: Action::DbSelect,
        tables: Vec::new(),
        schema: None,
        redacted: String::new(),
        connection_setting: false,
    };
    read_statement(toks, sql, &mut st);
    let mut names = st.tables.clone();
    names.extend(st.schema.clone());
    // The tables a foreign key references are names, not values: the
    // analyzer reads `REFERENCES "user"` to tie a refused delete to the
    // rows in its way.
    if st.action == Action::DbDdl {
        for (i, t) in toks.iter().enumerate() {
            if kw(Some(t)).as_deref() == Some("REFERENCES") {
                names.extend(qualified_name(toks, i + 1).map(|(n, _)| n));
            }
        }
    }
    st.redacted = redact(toks, &names);
    st
}

fn read_statement(toks: &[Tok], sql: &str, st: &mut Statement) {
    let Some(verb) = main_verb(toks) else {
        return;
    };
    match verb.as_str() {
        "SELECT" | "VALUES" | "SHOW" | "EXPLAIN" | "TABLE" => {
            st.action = Action::DbSelect;
            st.tables = collect_tables(toks, &cte_names(toks));
        }
        "INSERT" | "REPLACE" | "UPSERT" | "COPY" => {
            st.action = Action::DbInsert;
            st.tables = collect_tables(toks, &cte_names(toks));
            if verb == "COPY" {
                if let Some((name, _)) = qualified_name(toks, 1) {
                    st.tables = vec![name];
                }
            }
        }
        "UPDATE" => {
            st.action = Action::DbUpdate;
            st.tables = collect_tables(toks, &cte_names(toks));
        }
        "DELETE" => {
            let has_where = toks.iter().any(|t| kw(Some(t)).as_deref() == Some("WHERE"));
            st.action = if has_where {
                Action::DbDelete
            } else {
                Action::DbCleanup
            };
            st.tables = collect_tables(toks, &cte_names(toks));
        }
        "TRUNCATE" => {
            st.action = Action::DbCleanup;
            st.tables = collect_tables(toks, &[]);
        }
        "BEGIN" | "START" | "SAVEPOINT" => st.action = Action::TxBegin,
        "COMMIT" | "END" | "RELEASE" => st.action = Action::TxCommit,
        "ROLLBACK" | "ABORT" => st.action = Action::TxRollback,
        "SET" | "RESET" => {
            // SET [SESSION|LOCAL] search_path [TO|=] a, b
            let mut i = 1;
            if matches!(kw(toks.get(i)).as_deref(), Some("SESSION" | "LOCAL")) {
                i += 1;
            }
            if kw(toks.get(i)).as_deref() == Some("SEARCH_PATH") {
                st.action = Action::SchemaSet;
                i += 1;
                if matches!(kw(toks.get(i)).as_deref(), Some("TO"))
                    || toks.get(i) == Some(&Tok::Punct('='))
                {
                    i += 1;
                }
                st.schema = if verb == "RESET" {
                    Some("public".to_owned())
                } else {
                    ident(toks.get(i)).or_else(|| {
                        // SET search_path = 'a', 'b': the literal is gone, read the raw text.
                        raw_search_path(sql)
                    })
                };
            } else {
                st.action = Action::DbDdl;
            }
        }
        "CREATE" | "DROP" | "ALTER" => {
            // Skip modifiers: CREATE [OR REPLACE] [TEMP|UNIQUE|...] <object>
            let mut i = 1;
            while let Some(k) = kw(toks.get(i)) {
                match k.as_str() {
                    "OR" | "REPLACE" | "TEMP" | "TEMPORARY" | "UNIQUE" | "UNLOGGED" | "GLOBAL"
                    | "LOCAL" | "MATERIALIZED" | "VIRTUAL" | "CONCURRENTLY" => i += 1,
                    _ => break,
                }
            }
            let object = kw(toks.get(i));
            let after = skip_noise(toks, i + 1);
            match object.as_deref() {
                Some("SCHEMA") if verb != "ALTER" => {
                    st.action = if verb == "CREATE" {
                        Action::SchemaCreate
                    } else {
                        Action::SchemaDrop
                    };
                    st.schema = qualified_name(toks, after).map(|(n, _)| n);
                }
                Some("TABLE" | "VIEW" | "SEQUENCE") => {
                    st.action = Action::DbDdl;
                    if let Some((name, _)) = qualified_name(toks, after) {
                        st.tables.push(name);
                    }
                }
                Some("INDEX" | "TRIGGER") => {
                    st.action = Action::DbDdl;
                    // CREATE INDEX name ON table; CREATE TRIGGER name
                    // AFTER INSERT ON table (the first ON names it).
                    if let Some(on) = toks
                        .iter()
                        .position(|t| kw(Some(t)).as_deref() == Some("ON"))
                    {
                        let j = skip_noise(toks, on + 1);
                        if let Some((name, _)) = qualified_name(toks, j) {
                            st.tables.push(name);
                        }
                    }
                }
                _ => st.action = Action::DbDdl,
            }
        }
        "PRAGMA" => {
            st.action = Action::DbDdl;
            st.connection_setting = true;
        }
        "VACUUM" | "ANALYZE" | "REINDEX" | "GRANT" | "REVOKE" | "COMMENT" | "LOCK" => {
            st.action = if verb == "LOCK" {
                Action::DbSelect
            } else {
                Action::DbDdl
            };
            if verb == "LOCK" {
                let j = skip_noise(toks, 1);
                if let Some((name, _)) = qualified_name(toks, j) {
                    st.tables = vec![name];
                }
            }
        }
        _ => {
            st.action = Action::DbDdl;
        }
    }
}

fn raw_search_path(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let at = lower.find("search_path")? + "search_path".len();
    let rest = &sql[at..];
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix('=')
        .or_else(|| {
            rest.get(2..)
                .filter(|_| rest[..2].eq_ignore_ascii_case("to"))
        })?
        .trim_start();
    let first = rest.split(',').next()?.trim().trim_end_matches(';').trim();
    let name = first.trim_matches(|c| c == '\'' || c == '"');
    (!name.is_empty()).then(|| name.to_owned())
}

/// Splits `schema.table` into its parts; an unqualified name has no schema.
pub fn split_qualified(name: &str) -> (Option<&str>, &str) {
    match name.rsplit_once('.') {
        Some((schema, table)) => {
            // db.schema.table: keep the schema part only.
            let schema = schema.rsplit('.').next().unwrap_or(schema);
            (Some(schema), table)
        }
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sql: &str) -> Statement {
        classify(sql)
    }

    #[test]
    fn crud_statements_name_their_tables() {
        let s = c(
            "SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = $1",
        );
        assert_eq!(s.action, Action::DbSelect);
        assert_eq!(s.tables, ["users", "orders"]);
        assert_eq!(
            c("INSERT INTO app.users (name) VALUES (?)").tables,
            ["app.users"]
        );
        let u = c("UPDATE \"Users\" SET name = $1 WHERE id = $2");
        assert_eq!(
            (u.action, u.tables),
            (Action::DbUpdate, vec!["Users".to_owned()])
        );
        assert_eq!(
            c("DELETE FROM sessions WHERE expired").action,
            Action::DbDelete
        );
        assert_eq!(c("select * from a, b as bb, c").tables, ["a", "b", "c"]);
        assert_eq!(
            c("WITH x AS (SELECT * FROM src) INSERT INTO dst SELECT * FROM x").action,
            Action::DbInsert
        );
        assert_eq!(
            c("WITH x AS (SELECT * FROM src) INSERT INTO dst SELECT * FROM x").tables,
            ["src", "dst"]
        );
    }

    #[test]
    fn a_quoted_referenced_table_survives_redaction() {
        let s = c("create table post (post_id uuid primary key, \
                   user_id uuid not null references \"user\" (user_id), body text default 'x')");
        assert!(s.redacted.contains("references \"user\""), "{}", s.redacted);
        assert!(!s.redacted.contains("'x'"), "{}", s.redacted);
    }

    #[test]
    fn a_write_inside_a_with_clause_is_a_write() {
        let s = c(
            "with inserted_post as (insert into post (user_id, content) values ($1, $2) \
                   returning post_id, user_id) select post_id, username from inserted_post \
                   inner join \"user\" using (user_id)",
        );
        assert_eq!(s.action, Action::DbInsert);
        assert!(s.tables.contains(&"post".to_owned()), "{:?}", s.tables);
        let d = c(
            "WITH gone AS MATERIALIZED (DELETE FROM sessions WHERE expired RETURNING *) \
                   INSERT INTO archive SELECT * FROM gone",
        );
        assert_eq!(d.action, Action::DbDelete);
        assert_eq!(
            c("WITH x AS (SELECT 1), y AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM y").action,
            Action::DbUpdate
        );
        // A read stays a read, however its CTEs are named.
        assert_eq!(
            c("WITH \"insert\" AS (SELECT * FROM t) SELECT * FROM \"insert\"").action,
            Action::DbSelect
        );
    }

    #[test]
    fn truncate_and_unfiltered_delete_are_cleanups() {
        let t = c("TRUNCATE TABLE users, public.orders RESTART IDENTITY CASCADE");
        assert_eq!(t.action, Action::DbCleanup);
        assert_eq!(t.tables, ["users", "public.orders"]);
        let d = c("DELETE FROM users");
        assert_eq!(
            (d.action, d.tables),
            (Action::DbCleanup, vec!["users".to_owned()])
        );
    }

    #[test]
    fn transactions_and_schemas() {
        assert_eq!(c("BEGIN").action, Action::TxBegin);
        assert_eq!(c("SAVEPOINT _sqlx_savepoint_1").action, Action::TxBegin);
        assert_eq!(c("COMMIT").action, Action::TxCommit);
        assert_eq!(c("ROLLBACK TO SAVEPOINT x").action, Action::TxRollback);
        let s = c("CREATE SCHEMA IF NOT EXISTS test_1");
        assert_eq!(
            (s.action, s.schema.as_deref()),
            (Action::SchemaCreate, Some("test_1"))
        );
        let d = c("DROP SCHEMA \"Test 2\" CASCADE");
        assert_eq!(
            (d.action, d.schema.as_deref()),
            (Action::SchemaDrop, Some("Test 2"))
        );
        let set = c("SET search_path TO test_1, public");
        assert_eq!(
            (set.action, set.schema.as_deref()),
            (Action::SchemaSet, Some("test_1"))
        );
        assert_eq!(c("SET search_path = 'abc'").schema.as_deref(), Some("abc"));
        let ddl = c("CREATE TABLE IF NOT EXISTS s.items (id int)");
        assert_eq!(
            (ddl.action, ddl.tables),
            (Action::DbDdl, vec!["s.items".to_owned()])
        );
    }

    #[test]
    fn literals_never_survive_redaction() {
        let s = c("INSERT INTO t (a, b, c) VALUES ('hunter2', 42, E'x\\'y') -- 'note'");
        assert_eq!(s.redacted, "INSERT INTO t (a, b, c) VALUES (?, ?, ?)");
        let s =
            c("SELECT * FROM t WHERE name = 'it''s' AND n > 3.5e2 AND x = $1 AND y = $$dollar$$");
        assert!(!s.redacted.contains("it"), "{}", s.redacted);
        assert!(!s.redacted.contains("3.5"), "{}", s.redacted);
        assert!(!s.redacted.contains("dollar"), "{}", s.redacted);
        assert!(s.redacted.contains("$1"), "{}", s.redacted);
        assert_eq!(c("SELECT x'DEADBEEF'").redacted, "SELECT ?");
        assert!(c("PRAGMA foreign_keys = ON").connection_setting);
    }

    fn actions(sql: &str) -> Vec<(Action, Vec<String>, String)> {
        classify_all(sql)
            .into_iter()
            .map(|s| (s.action, s.tables, s.redacted))
            .collect()
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_statement_of_a_string_is_read_on_its_own() {
        assert_eq!(
            actions("DELETE FROM orders; DELETE FROM users"),
            [
                (
                    Action::DbCleanup,
                    owned(&["orders"]),
                    "DELETE FROM orders".into()
                ),
                (
                    Action::DbCleanup,
                    owned(&["users"]),
                    "DELETE FROM users".into()
                ),
            ]
        );
        let hidden = actions("SELECT 1; DELETE FROM users;");
        assert_eq!(hidden.len(), 2);
        assert_eq!(
            (hidden[1].0, &hidden[1].1),
            (Action::DbCleanup, &owned(&["users"]))
        );
        let setup = actions(
            "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n\
             INSERT INTO a VALUES (1);\nINSERT INTO b VALUES ('x; y');\n",
        );
        let kinds: Vec<_> = setup.iter().map(|s| (s.0, s.1[0].as_str())).collect();
        assert_eq!(
            kinds,
            [
                (Action::DbDdl, "a"),
                (Action::DbDdl, "b"),
                (Action::DbInsert, "a"),
                (Action::DbInsert, "b")
            ]
        );
        assert!(classify_all("  ;; -- nothing\n").is_empty());
    }

    #[test]
    fn semicolons_inside_literals_names_comments_and_bodies_do_not_split() {
        for one in [
            "INSERT INTO t VALUES ('a;b')",
            "INSERT INTO t VALUES ($$a;b$$)",
            "INSERT INTO t VALUES ($tag$a;b$tag$)",
            "SELECT \"odd;name\" FROM t",
            "SELECT 1 /* a; b */ FROM t -- c; d",
            "INSERT INTO t VALUES (E'a\\';b')",
            "CREATE TRIGGER tr AFTER INSERT ON a BEGIN \
               UPDATE b SET n = CASE WHEN 1 THEN 2 ELSE 3 END; DELETE FROM c; END",
        ] {
            assert_eq!(classify_all(one).len(), 1, "{one}");
        }
        let after_trigger = classify_all(
            "CREATE TRIGGER tr AFTER INSERT ON a BEGIN DELETE FROM c; END; DELETE FROM d",
        );
        assert_eq!(after_trigger.len(), 2);
        assert_eq!(after_trigger[1].action, Action::DbCleanup);
        // BEGIN as a transaction statement is not a block.
        assert_eq!(classify_all("BEGIN; DELETE FROM a; COMMIT").len(), 3);
    }

    #[test]
    fn double_quoted_values_are_redacted_but_quoted_table_names_kept() {
        // SQLite reads "hunter2" as a string literal here.
        let s = c("INSERT INTO \"Users\" (\"name\", pw) VALUES (\"bob\", \"hunter2\")");
        assert_eq!(s.tables, ["Users"]);
        assert!(!s.redacted.contains("hunter2"), "{}", s.redacted);
        assert!(
            s.redacted.starts_with("INSERT INTO \"Users\""),
            "{}",
            s.redacted
        );
        let w = c("SELECT * FROM t WHERE token = \"s3cr3t\"");
        assert!(!w.redacted.contains("s3cr3t"), "{}", w.redacted);
    }

    #[test]
    fn a_trigger_names_the_table_it_is_on() {
        let s = c(
            "CREATE TRIGGER IF NOT EXISTS accounts_audit AFTER UPDATE ON accounts \
                   BEGIN INSERT INTO account_log VALUES (new.id); END",
        );
        assert_eq!(s.action, Action::DbDdl);
        assert_eq!(s.tables, ["accounts"]);
    }

    #[test]
    fn qualified_names_split() {
        assert_eq!(split_qualified("s.t"), (Some("s"), "t"));
        assert_eq!(split_qualified("t"), (None, "t"));
        assert_eq!(split_qualified("db.s.t"), (Some("s"), "t"));
    }
}
