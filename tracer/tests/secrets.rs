//! Planted secrets never reach a trace file.

mod common;

use common::*;
use state_tracer::format::Action;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_are_not_in_any_trace_file() {
    let dir = global_trace_dir();
    let db_dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", db_dir.path().join("s.db").display());

    let s = state_tracer::scenario("secrets", "Planted secrets");
    {
        let _in = s.enter();
        state_tracer::set_database(
            "postgres://app:db-password-PLANTED@db.example:5432/app?sslmode=disable",
        );
        state_tracer::db_cleanup(None, &["users"]);
        state_tracer::jwt_set(b"jwt-secret-PLANTED");
        state_tracer::jwt_rotate(b"jwt-rotated-PLANTED");
        state_tracer::jwt_reset(b"jwt-initial-PLANTED");
        state_tracer::http_request(
            "GET",
            "/api/me?access_token=query-token-PLANTED",
            200,
            std::time::Duration::from_millis(3),
        );
        state_tracer::custom("login", "sent Authorization: Bearer bearer-token-PLANTED");
        state_tracer::custom(
            "jwt",
            "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.c2lnLVBMQU5URUQ",
        );
        state_tracer::config_reload("db", "reconnected to postgres://u:config-pw-PLANTED@h/db");
        tracing::info!(target: "bdd_state", action = "CUSTOM", name = "raw", api_key = "api-key-PLANTED");
        s.fail("login failed for password=fail-pw-PLANTED");
    }
    state_tracer::set_database(&sqlite_url);
    let pool = sqlx::SqlitePool::connect(&sqlite_url).await.unwrap();
    let span = s.span().clone();
    let _in = span.enter();
    sqlx::query("CREATE TABLE tokens (t TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO tokens (t) VALUES (?)")
        .bind("bound-token-PLANTED")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO tokens (t) VALUES ('inline-token-PLANTED')")
        .execute(&pool)
        .await
        .unwrap();
    drop(_in);
    pool.close().await;
    drop(s);

    let text = all_trace_text(dir);
    assert!(
        !text.contains("PLANTED") && !text.contains("QTEFOVEVE"),
        "a secret leaked into the trace:\n{}",
        text.lines()
            .filter(|l| l.contains("PLANTED"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The records are still there, with fingerprints to compare.
    let trace = only_trace(dir);
    let mine = trace.of_scenario("Planted secrets");
    let jwt: Vec<_> = mine
        .iter()
        .filter(|e| {
            matches!(
                e.action,
                Action::JwtSet | Action::JwtRotate | Action::JwtReset
            )
        })
        .collect();
    assert_eq!(jwt.len(), 3);
    assert_eq!(
        jwt[0].details.as_deref(),
        Some(state_tracer::secret::fingerprint(b"jwt-secret-PLANTED").as_str())
    );
    let http = mine
        .iter()
        .find(|e| e.action == Action::HttpRequest)
        .unwrap();
    assert!(http
        .fields
        .iter()
        .any(|(k, v)| k == "path" && v == "/api/me"));
    assert!(http.fields.iter().any(|(k, v)| k == "status" && v == "200"));
    assert_eq!(http.duration_us, Some(3000));
    // Each scrubbed record is there, its secret replaced.
    let details = |action: Action| -> Vec<&str> {
        mine.iter()
            .filter(|e| e.action == action)
            .filter_map(|e| e.details.as_deref())
            .collect()
    };
    assert!(details(Action::Custom).contains(&"sent Authorization: Bearer ***"));
    assert!(details(Action::Custom).contains(&"got ***"));
    assert!(details(Action::ConfigReload).contains(&"reconnected to postgres://u:***@h/db"));
    let raw = mine
        .iter()
        .find(|e| e.name.as_deref() == Some("raw"))
        .expect("the raw event is recorded");
    assert!(raw.fields.iter().any(|(k, v)| k == "api_key" && v == "***"));
    let end = mine
        .iter()
        .find(|e| e.action == Action::ScenarioEnd)
        .unwrap();
    assert_eq!(end.error.as_deref(), Some("login failed for password=***"));
    let inserts = details(Action::DbInsert);
    assert_eq!(
        inserts,
        [
            "INSERT INTO tokens (t) VALUES (?)",
            "INSERT INTO tokens (t) VALUES (?)"
        ]
    );
    // set_database's identity, without its password.
    let cleanup = mine.iter().find(|e| e.action == Action::DbCleanup).unwrap();
    let db = cleanup.resource.as_ref().and_then(|r| r.db.as_deref());
    assert_eq!(db, Some("postgres://db.example:5432/app"));
}

/// Every secret shape of issue 11, each planted through every way into the
/// trace, in a child process whose argv carries them too.
const SHAPES: &[&str] = &[
    "--api-key=K1-PLANTED",
    "--client-secret=K2-PLANTED",
    "--access-token=K3-PLANTED",
    "--private-key=K4-PLANTED",
    "--jwt-secret=K5-PLANTED",
    "PGPASSWORD=K6-PLANTED",
    "--header=Authorization: Basic K7PLANTEDxx==",
    r#"{"password":"K8-PLANTED","token":"K9-PLANTED"}"#,
    "password: K10-PLANTED",
    "Cookie: sid=K11-PLANTED; theme=dark",
    "Set-Cookie: session=K12-PLANTED; Path=/",
    "-----BEGIN PRIVATE KEY-----\nK13PLANTED\n-----END PRIVATE KEY-----",
    "id AKIAPLANTED123456789",
    "aws_secret_access_key=K14-PLANTED",
    "mysql://root:K15-PLANTED@db.internal/app",
    "Bearer K16-PLANTED",
];

/// Field names whose values are secrets, whatever the value looks like.
const SECRET_FIELDS: &[&str] = &[
    "api-key",
    "x-api-key",
    "client-secret",
    "bearer",
    "credentials",
    "cookie",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child() {
    let Some(_) = child_role() else { return };
    let _guard = state_tracer::init().expect("tracing on in child");
    for (i, shape) in SHAPES.iter().enumerate() {
        let s = state_tracer::scenario("shapes", &format!("shape {i}"));
        let _in = s.enter();
        state_tracer::custom(&format!("helper-{i}"), shape);
        state_tracer::config_reload(&format!("config-{i}"), shape);
        tracing::info!(target: "bdd_state", action = "CUSTOM", name = format!("event-{i}").as_str(), details = *shape);
        tracing::info!(target: "bdd_state", action = "CUSTOM", name = format!("message-{i}").as_str(), "{shape}");
        tracing::info!(target: "bdd_state", action = "CUSTOM", name = format!("field-{i}").as_str(), note = *shape);
        s.fail(shape);
    }
    let s = state_tracer::scenario("shapes", "fields, paths and SQL");
    let span = s.span().clone();
    let _in = span.enter();
    tracing::info!(
        target: "bdd_state",
        action = "CUSTOM",
        name = "secret-fields",
        "api-key" = "F1-PLANTED",
        "x-api-key" = "F2-PLANTED",
        "client-secret" = "F3-PLANTED",
        bearer = "F4-PLANTED",
        credentials = "F5-PLANTED",
        cookie = "F6-PLANTED",
    );
    for path in [
        "/callback#access_token=H1-PLANTED&state=x",
        "/api/items?token=H2-PLANTED",
    ] {
        state_tracer::http_request("GET", path, 200, std::time::Duration::from_millis(1));
    }
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    sqlx::query("CREATE TABLE t (a TEXT, b TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    // SQLite reads "…" as a string literal when no column has that name.
    sqlx::query(r#"INSERT INTO t (a, b) VALUES ("S1-PLANTED", 'S2-PLANTED')"#)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[test]
fn every_secret_shape_through_every_way_in_is_masked_and_its_record_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = spawn_child("child", "plant");
    // After `--`, libtest takes these as (non-matching) test name filters:
    // they only have to reach the traced process's argv.
    cmd.arg("--")
        .args(SHAPES)
        .args(["--password", "A1-PLANTED", "--api-key", "A2-PLANTED"])
        .args(["--credentials", "A3-PLANTED", "--x-api-key", "A4-PLANTED"])
        .env("BDD_TRACE_STATE", "1")
        .env("BDD_TRACE_DIR", dir.path());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child failed: {}", stderr(&out));
    let trace = only_trace(dir.path());
    let leaks: Vec<&str> = trace
        .raw
        .lines()
        .filter(|l| l.contains("PLANTED") || l.contains("K7PLANTED"))
        .collect();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // argv is there, every secret masked, the rest kept.
    let argv: Vec<&str> = trace.header.argv.iter().map(|a| a.as_ref()).collect();
    assert!(argv.contains(&"--api-key=***"), "{argv:?}");
    assert!(argv.contains(&"PGPASSWORD=***"), "{argv:?}");
    assert!(
        argv.contains(&"--header=Authorization: Basic ***"),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--password", "***"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--api-key", "***"]),
        "{argv:?}"
    );

    // Every way in kept its record, with the secret replaced by ***.
    let named = |n: &str| {
        trace
            .events
            .iter()
            .find(|e| e.name.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no record named {n}"))
    };
    for i in 0..SHAPES.len() {
        for way in ["helper", "config", "event", "message"] {
            let d = named(&format!("{way}-{i}"))
                .details
                .as_deref()
                .unwrap_or("");
            assert!(d.contains("***"), "{way}-{i}: {d:?}");
        }
        let f = named(&format!("field-{i}"));
        assert!(
            f.fields
                .iter()
                .any(|(k, v)| k == "note" && v.contains("***")),
            "field-{i}: {f:?}"
        );
        let end = trace
            .events
            .iter()
            .find(|e| {
                e.action == Action::ScenarioEnd
                    && e.scenario.as_deref() == Some(&format!("shape {i}"))
            })
            .unwrap();
        assert!(
            end.error.as_deref().unwrap_or("").contains("***"),
            "{end:?}"
        );
    }
    let fields = named("secret-fields");
    for k in SECRET_FIELDS {
        assert!(
            fields
                .fields
                .iter()
                .any(|(name, v)| name == k && v == "***"),
            "{k}: {fields:?}"
        );
    }
    let paths: Vec<&str> = trace
        .events
        .iter()
        .filter(|e| e.action == Action::HttpRequest)
        .flat_map(|e| e.fields.iter())
        .filter(|(k, _)| k == "path")
        .map(|(_, v)| v.as_ref())
        .collect();
    assert_eq!(paths, ["/callback", "/api/items"]);
    let insert = trace
        .events
        .iter()
        .find(|e| e.action == Action::DbInsert)
        .expect("the insert is recorded");
    assert_eq!(
        insert.details.as_deref(),
        Some("INSERT INTO t (a, b) VALUES (?, ?)")
    );
}
