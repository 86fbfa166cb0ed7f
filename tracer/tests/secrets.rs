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
    assert!(mine.iter().any(|e| e.action == Action::DbInsert));
    assert!(text.contains("postgres://db.example:5432/app") || text.contains("sqlite:"));
}
