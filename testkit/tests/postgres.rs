//! The PostgreSQL helper really starts a server that answers SQL, and
//! really removes it afterwards.

#[test]
fn starts_a_server_that_answers_and_stops_it_on_drop() {
    let pg = testkit::Postgres::start().expect("start PostgreSQL");
    assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
    pg.create_database("kit_db").expect("createdb");
    pg.psql(
        "kit_db",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1);",
    )
    .expect("psql");
    let sum = pg.psql("kit_db", "SELECT sum(x) FROM t").expect("select");
    assert_eq!(sum.trim(), "42");
    assert_eq!(
        pg.url_for("kit_db"),
        format!("postgres://postgres@127.0.0.1:{}/kit_db", pg.port())
    );

    let port = pg.port();
    drop(pg);
    // The server is gone: nothing accepts connections on its port any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn trace_files_lists_only_trace_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bdd-state-trace-a.jsonl"), "{}\n").unwrap();
    std::fs::write(dir.path().join("other.txt"), "x").unwrap();
    let files = testkit::trace_files(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(
        testkit::read_lines(&files[0]).unwrap(),
        vec!["{}".to_owned()]
    );
    assert!(testkit::ends_with_newline(&files[0]).unwrap());
}
