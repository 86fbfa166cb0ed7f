//! The HTML page draws the run's one interpretation (`analyzer/src/engine/track.rs`),
//! the one the findings use: end to end, on a summarised page (where only
//! mutations of shared state of passing scenarios are drawn one by one), the
//! disagreements the page used to have with the findings are gone. The
//! tracker's unit tests pin each rule; this checks the page uses them.

mod common;

use std::borrow::Cow;

use common::{all_tables, table, write_all, Proc};
use serde_json::Value;
use state_tracer_format::{Action, Outcome, Resource, Scope};
use trace_analyzer::render::html::lod::{Detail, HtmlStream};
use trace_analyzer::{AnalyzeOptions, Analyzer};

fn memory(table: &str) -> Resource<'static> {
    Resource {
        scope: Scope::Shared,
        db: Some("sqlite::memory:".into()),
        schema: Some("main".into()),
        tables: vec![Cow::Owned(table.to_owned())],
        name: None,
    }
}

/// The summarised page's markers: (pid index, action).
fn markers(dir: &std::path::Path) -> Vec<(u64, String)> {
    let mut html = Vec::new();
    let mut page = HtmlStream::new(&mut html, Detail::Summary);
    let opts = AnalyzeOptions {
        inputs: vec![dir.to_path_buf()],
        ..AnalyzeOptions::default()
    };
    let analysis = Analyzer::new(&opts).tap(&mut page).run().unwrap();
    page.finish(&analysis.report).unwrap();
    let html = String::from_utf8(html).unwrap();
    let data: Value = trace_analyzer::render::html::page_data(&html).expect("embedded JSON");
    let mut m: Vec<(u64, String)> = data["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["proc"].as_u64().unwrap(),
                m["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    m.sort();
    m
}

/// Two processes, one passing scenario each, doing `act` in it.
fn two_processes(act: impl Fn(&mut Proc, u64)) -> tempfile::TempDir {
    let mut a = Proc::new(100, "a");
    let mut b = Proc::new(200, "b");
    for (p, id) in [(&mut a, 1), (&mut b, 2)] {
        p.start(0, id, "f", "s");
        act(p, id);
        p.end(50, id, "f", "s", Outcome::Passed);
    }
    write_all(&[&a, &b])
}

/// Disagreement 1: two processes' `sqlite::memory:` databases are theirs
/// alone, so their writes are private (aggregated), as for the findings;
/// the same writes to one file database are shared mutations (drawn).
#[test]
fn in_memory_sqlite_of_two_processes_is_not_drawn_as_shared() {
    let private = two_processes(|p, id| {
        p.act(10, Some(id), Action::DbInsert, Some(memory("users")));
    });
    assert_eq!(markers(private.path()), vec![]);
    let shared = two_processes(|p, id| {
        p.act(
            10,
            Some(id),
            Action::DbInsert,
            Some(table(Some("public"), "users")),
        );
    });
    assert_eq!(
        markers(shared.path()),
        vec![(0, "DB_INSERT".into()), (1, "DB_INSERT".into())]
    );
}

/// Disagreement 3: a failed `DELETE` changed nothing, so it is no mutation
/// marker (it was one on the page while the findings took it for a read).
#[test]
fn a_failed_delete_is_no_mutation_marker() {
    let dir = two_processes(|p, id| {
        p.act(
            5,
            Some(id),
            Action::DbSelect,
            Some(table(Some("public"), "users")),
        );
        p.act_with(
            10,
            Some(id),
            Action::DbDelete,
            Some(table(Some("public"), "users")),
            |e| e.error = Some("permission denied for table users".into()),
        );
    });
    assert_eq!(markers(dir.path()), vec![]);
}

/// Disagreement 4: a secret rotation without a resource is the process's
/// `jwt_secret` (in-process state, shared by its scenarios): a mutation
/// marker, as it is a change for the findings.
#[test]
fn a_secret_rotation_without_a_resource_is_drawn() {
    let dir = two_processes(|p, id| {
        p.act(10, Some(id), Action::JwtRotate, None);
    });
    assert_eq!(
        markers(dir.path()),
        vec![(0, "JWT_ROTATE".into()), (1, "JWT_ROTATE".into())]
    );
}

/// Disagreements 2 and 5 decide which schema an unqualified name resolves
/// to; on the page that is the resource a marker names. After its scenario
/// dropped the schema it had switched to outside scenarios, a process's
/// unqualified cleanup is of the default schema again, shared with the
/// other process: drawn.
#[test]
fn after_a_drop_unqualified_names_resolve_to_the_default_schema() {
    let mut a = Proc::new(100, "a");
    a.schema(0, None, Action::SchemaSet, "tenant");
    a.start(1, 1, "f", "s");
    a.schema(2, Some(1), Action::SchemaDrop, "tenant");
    a.end(3, 1, "f", "s", Outcome::Passed);
    a.act(10, None, Action::DbCleanup, Some(all_tables(None)));
    let mut b = Proc::new(200, "b");
    b.act(
        5,
        None,
        Action::DbSelect,
        Some(table(Some("public"), "users")),
    );
    let dir = write_all(&[&a, &b]);
    assert!(
        markers(dir.path()).contains(&(0, "DB_CLEANUP".into())),
        "the cleanup is of public, which process b reads"
    );
}
