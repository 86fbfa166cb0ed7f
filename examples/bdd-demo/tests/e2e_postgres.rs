//! The same loop on a real PostgreSQL server started from the system
//! binaries: shared `public` schema without isolation, a schema per process
//! (`search_path`) with it.

mod support;

use support::*;

fn server() -> (testkit::Postgres, String) {
    let pg = testkit::Postgres::start()
        .expect("PostgreSQL binaries are installed (apt-get install postgresql)");
    pg.create_database("bdd_demo").expect("create database");
    let url = pg.url_for("bdd_demo");
    (pg, url)
}

#[test]
fn postgres_parallel_truncate_breaks_the_greet_victim_and_is_found() {
    let (_pg, url) = server();
    let dir = tempfile::tempdir().unwrap();
    victim_is_found(dir.path(), "pg-par", |_| url.clone());
}

#[test]
fn postgres_leaked_jwt_secret_is_found() {
    let (_pg, url) = server();
    let dir = tempfile::tempdir().unwrap();
    leaked_secret_is_found(dir.path(), "pg-jwt", &url);
}

#[test]
fn postgres_schema_per_process_passes_without_pollution() {
    let (pg, url) = server();
    let dir = tempfile::tempdir().unwrap();
    isolated_runs_are_clean(dir.path(), "pg-iso", &url, 3);
    // Each process dropped its private schema on the way out.
    let left = pg
        .psql(
            "bdd_demo",
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bdd\\_%'",
        )
        .unwrap();
    assert_eq!(left.trim(), "0", "private schemas left behind");
}
