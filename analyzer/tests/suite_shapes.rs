//! The reasoning for suites written the way people write them (issue 19):
//! own-row cleanups, seed data, leftover rows with cleaners in between,
//! genuine failures, failure messages and failed steps. One hand-built
//! trace per behaviour; `docs/rules.md` says why each holds.

mod common;

use std::borrow::Cow;

use common::*;
use state_tracer_format::{Action, Outcome};
use trace_analyzer::{Finding, Report, RuleId, Severity};

use Outcome::{Failed, Passed};

fn likely(r: &Report) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.likely_cause).collect()
}

fn polluters(r: &Report) -> Vec<String> {
    let mut v: Vec<String> = likely(r)
        .iter()
        .map(|f| f.polluter.as_ref().unwrap().scenario.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn users() -> Option<state_tracer_format::Resource<'static>> {
    Some(table(None, "users"))
}

/// The victim inserts its row at 10 and reads it back at 100 (rows 0).
fn victim() -> Proc {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "accounts", "Victim")
        .act_rows(10, Some(1), Action::DbInsert, users(), 1)
        .act_rows(100, Some(1), Action::DbSelect, users(), 0)
        .end(110, 1, "accounts", "Victim", Failed);
    v
}

#[test]
fn a_test_that_deletes_only_its_own_rows_is_no_polluter() {
    let v = victim();
    // Own-row cleaner: inserts 2 rows, deletes its 2 rows (WHERE owner = ?).
    let mut own = Proc::new(2, "own");
    own.start(5, 1, "orders", "Tidy")
        .act_rows(15, Some(1), Action::DbInsert, users(), 2)
        .act_rows(30, Some(1), Action::DbDelete, users(), 2)
        .end(35, 1, "orders", "Tidy", Passed);
    // Whole-table cleaner, later: the real polluter.
    let mut wipe = Proc::new(3, "wipe");
    wipe.start(5, 1, "reports", "Wipe")
        .act_rows(60, Some(1), Action::DbCleanup, users(), 3)
        .end(65, 1, "reports", "Wipe", Passed);
    let dir = write_all(&[&v, &own, &wipe]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Wipe"], "{:#?}", r.findings);
    // Its insert is still a (harmless) overlap; its own-row delete is
    // evidence against no one.
    assert!(
        r.findings.iter().all(|f| {
            f.polluter.as_ref().is_none_or(|p| p.scenario != "Tidy")
                || f.action.as_deref() != Some("DB_DELETE")
        }),
        "{:#?}",
        r.findings
    );
    let e = likely(&r)[0].evidence.clone().unwrap();
    assert!(e.contains("removed 3 rows"), "{e}");
    assert!(!e.contains("found nothing left"), "{e}");
}

#[test]
fn a_whole_table_destroy_outranks_a_scoped_delete_of_others_rows() {
    let v = victim();
    // Deletes 2 rows it never wrote (someone else's), then a whole-table wipe.
    let mut scoped = Proc::new(2, "scoped");
    scoped
        .start(5, 1, "admin", "Purge inactive")
        .act_rows(30, Some(1), Action::DbDelete, users(), 2)
        .end(35, 1, "admin", "Purge inactive", Passed);
    let mut wipe = Proc::new(3, "wipe");
    wipe.start(5, 1, "reports", "Wipe")
        .act_rows(60, Some(1), Action::DbCleanup, users(), 3)
        .end(65, 1, "reports", "Wipe", Passed);
    let dir = write_all(&[&v, &scoped, &wipe]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Wipe"], "{:#?}", r.findings);
    let purge = r
        .findings
        .iter()
        .find(|f| {
            f.polluter
                .as_ref()
                .is_some_and(|p| p.scenario == "Purge inactive")
        })
        .unwrap();
    assert!(purge.evidence.as_deref().unwrap().contains("scoped delete"));
}

#[test]
fn seed_rows_deleted_by_a_test_that_finished_before_the_victim_started() {
    let mut p = Proc::new(1, "suite");
    // Fixture outside scenarios, then a test that deletes a seed row, then
    // a decoy on another table, then the victim reads the seed back empty.
    p.act_rows(0, None, Action::DbInsert, Some(table(None, "products")), 3)
        .start(10, 1, "catalog", "Discontinue a product")
        .act_rows(
            15,
            Some(1),
            Action::DbDelete,
            Some(table(None, "products")),
            1,
        )
        .end(20, 1, "catalog", "Discontinue a product", Passed)
        .start(30, 2, "catalog", "Decoy")
        .act_rows(
            35,
            Some(2),
            Action::DbDelete,
            Some(table(None, "prices")),
            1,
        )
        .end(40, 2, "catalog", "Decoy", Passed)
        .start(50, 3, "catalog", "List products")
        .act_rows(
            55,
            Some(3),
            Action::DbSelect,
            Some(table(None, "products")),
            0,
        )
        .end(60, 3, "catalog", "List products", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["Discontinue a product"],
        "{:#?}",
        r.findings
    );
    assert_eq!(likely(&r)[0].rule, RuleId::DestroyedBefore);
}

#[test]
fn leftover_rows_are_found_with_own_row_cleaners_in_between() {
    let mut p = Proc::new(1, "suite");
    p.start(0, 1, "t", "Leaks")
        .act_rows(5, Some(1), Action::DbInsert, users(), 2)
        .end(10, 1, "t", "Leaks", Passed);
    for k in 0..6u64 {
        let t0 = 20 + 10 * k as i64;
        p.start(t0, 2 + k, "t", &format!("Tidy {k}"))
            .act_rows(t0 + 2, Some(2 + k), Action::DbInsert, users(), 1)
            .act_rows(t0 + 5, Some(2 + k), Action::DbDelete, users(), 1)
            .end(t0 + 8, 2 + k, "t", &format!("Tidy {k}"), Passed);
    }
    // Counts the table, expecting none: sees the 2 leaked rows.
    p.start(100, 20, "t", "Count")
        .act_rows(105, Some(20), Action::DbSelect, users(), 2)
        .end(110, 20, "t", "Count", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Leaks"], "{:#?}", r.findings);
    assert!(likely(&r)[0]
        .evidence
        .as_deref()
        .unwrap()
        .contains("left 2 rows"));
}

#[test]
fn a_genuine_failure_among_create_if_not_exists_and_inserts_gets_no_culprit() {
    let mut procs = Vec::new();
    for pid in 1..=3u32 {
        let mut p = Proc::new(pid, &format!("p{pid}"));
        let name = format!("Test {pid}");
        p.start(0, 1, "f", &name)
            .act_details(
                5,
                Some(1),
                Action::DbDdl,
                users(),
                "CREATE TABLE IF NOT EXISTS users (id INT)",
            )
            .act_rows(10 + pid as i64, Some(1), Action::DbInsert, users(), 1)
            .act_rows(50, Some(1), Action::DbSelect, users(), 1)
            .end(60, 1, "f", &name, if pid == 1 { Failed } else { Passed });
        procs.push(p);
    }
    let refs: Vec<&Proc> = procs.iter().collect();
    let dir = write_all(&refs);
    let r = report_of(dir.path());
    assert!(likely(&r).is_empty(), "{:#?}", r.findings);
    assert!(r.findings.iter().all(|f| f.severity != Severity::Error));
}

#[test]
fn the_failure_message_names_the_table_whose_rows_blocked_a_delete() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "shop", "Delete a customer")
        .act_rows(10, Some(1), Action::DbInsert, Some(table(None, "customers")), 1)
        .act_rows(50, Some(1), Action::DbDelete, Some(table(None, "customers")), 0)
        .act_with(60, Some(1), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed(
                "error returned from database: update or delete on table \"customers\" violates foreign key constraint \"orders_customer_id_fkey\" on table \"orders\"",
            ));
        });
    let mut o = Proc::new(2, "o");
    o.start(5, 1, "shop", "Place an order")
        .act_rows(
            20,
            Some(1),
            Action::DbInsert,
            Some(table(None, "orders")),
            1,
        )
        .end(70, 1, "shop", "Place an order", Passed);
    let dir = write_all(&[&v, &o]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Place an order"], "{:#?}", r.findings);
    assert_eq!(likely(&r)[0].rule, RuleId::ConstraintViolation);
}

/// SQLite's refusal of a parent delete: the message names no table. With
/// `ddl` traced, the schema says which table references `customers`.
fn sqlite_refused_parent_delete(ddl: Option<&'static str>) -> Report {
    let customers = || Some(table(None, "customers"));
    let orders = || Some(table(None, "orders"));
    let coupons = || Some(table(None, "coupons"));
    let mut v = Proc::new(1, "v");
    if let Some(ddl) = ddl {
        v.act_with(1, None, Action::DbDdl, orders(), move |e| {
            e.details = Some(Cow::Borrowed(ddl));
        });
    }
    v.start(2, 1, "shop", "close a customer account")
        .act_rows(10, Some(1), Action::DbInsert, customers(), 1)
        .act_rows(50, Some(1), Action::DbDelete, customers(), 0)
        .act_with(60, Some(1), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed(
                "error returned from database: (code: 787) FOREIGN KEY constraint failed",
            ));
        });
    // One holds an order (a child row), one a coupon (no reference).
    let mut o = Proc::new(2, "o");
    o.start(5, 1, "shop", "order appears in history")
        .act_rows(20, Some(1), Action::DbInsert, orders(), 1)
        .end(70, 1, "shop", "order appears in history", Passed);
    let mut c = Proc::new(3, "c");
    c.start(5, 1, "shop", "create a coupon")
        .act_rows(21, Some(1), Action::DbInsert, coupons(), 1)
        .end(70, 1, "shop", "create a coupon", Passed);
    let dir = write_all(&[&v, &o, &c]);
    report_of(dir.path())
}

#[test]
fn a_foreign_key_sqlite_does_not_name_is_found_through_the_traced_ddl() {
    let r = sqlite_refused_parent_delete(Some(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_code TEXT NOT NULL REFERENCES customers (code))",
    ));
    assert_eq!(
        polluters(&r),
        ["order appears in history"],
        "{:#?}",
        r.findings
    );
    assert_eq!(likely(&r)[0].rule, RuleId::ConstraintViolation);
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(why.contains("orders references customers"), "{why}");
}

#[test]
fn without_traced_ddl_a_nameless_foreign_key_names_no_holder() {
    let r = sqlite_refused_parent_delete(None);
    assert!(
        r.findings
            .iter()
            .all(|f| f.rule != RuleId::ConstraintViolation),
        "{:#?}",
        r.findings
    );
}

#[test]
fn state_the_failed_step_read_outranks_state_an_earlier_step_used() {
    // One process: the victim's first step works with the JWT secret while
    // another scenario rotates it; its second step reads a users row that
    // another process deletes in between, and fails.
    let mut p = Proc::new(1, "api");
    let step = |name: &'static str| {
        move |e: &mut state_tracer_format::Event<'static>| {
            e.step = Some(Cow::Borrowed(name));
        }
    };
    p.start(0, 1, "auth", "Victim")
        .act_with(1, Some(1), Action::StepStart, None, step("Given a token"))
        .act_rows(2, Some(1), Action::DbSelect, users(), 1)
        .start(3, 2, "auth", "Rotate")
        .act(4, Some(2), Action::JwtRotate, None)
        .end(5, 2, "auth", "Rotate", Passed)
        .act_with(10, Some(1), Action::StepEnd, None, |e| {
            e.step = Some(Cow::Borrowed("Given a token"));
            e.outcome = Some(Passed);
        })
        .act_with(
            20,
            Some(1),
            Action::StepStart,
            None,
            step("Then the user is found"),
        )
        .act_rows(50, Some(1), Action::DbSelect, users(), 0)
        .act_with(55, Some(1), Action::StepEnd, None, |e| {
            e.step = Some(Cow::Borrowed("Then the user is found"));
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed("user not found"));
        })
        .end(60, 1, "auth", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(15, 1, "admin", "Wipe users")
        .act_rows(30, Some(1), Action::DbCleanup, users(), 4)
        .end(35, 1, "admin", "Wipe users", Passed);
    let dir = write_all(&[&p, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Wipe users"], "{:#?}", r.findings);
}

#[test]
fn a_read_that_overlapped_a_slow_delete_may_have_come_after_it() {
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "orders", "Place an order")
        .act_rows(10, Some(1), Action::DbInsert, users(), 1)
        .act_rows(100, Some(1), Action::DbSelect, users(), 0)
        .end(110, 1, "orders", "Place an order", Failed);
    // Ran from 70 ms to 120 ms: it ended after the read, began before it.
    let mut w = Proc::new(2, "w");
    w.start(60, 1, "admin", "Empty the order book")
        .act_with(120, Some(1), Action::DbCleanup, users(), |e| {
            e.rows = Some(3);
            e.duration_us = Some(50_000);
        })
        .end(130, 1, "admin", "Empty the order book", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Empty the order book"], "{:#?}", r.findings);
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(
        why.contains("may have run the DB_CLEANUP between them"),
        "{why}"
    );
}

#[test]
fn a_slow_truncate_that_began_before_the_victims_write_may_have_run_after_it() {
    // The TRUNCATE waited on a lock from 5 ms to 120 ms; the victim wrote
    // at 10 ms and read nothing back at 100 ms: it took effect in between.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "customers", "Sign up a customer")
        .act_rows(10, Some(1), Action::DbInsert, users(), 1)
        .act_rows(100, Some(1), Action::DbSelect, users(), 0)
        .end(110, 1, "customers", "Sign up a customer", Failed);
    let mut w = Proc::new(2, "w");
    w.start(2, 1, "admin", "Start from an empty database")
        .act_with(120, Some(1), Action::DbCleanup, users(), |e| {
            e.duration_us = Some(115_000);
        })
        .end(130, 1, "admin", "Start from an empty database", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["Start from an empty database"],
        "{:#?}",
        r.findings
    );
}

#[test]
fn a_slow_delete_that_ended_before_the_victims_write_removed_nothing_of_it() {
    // Ran from 2 ms to 8 ms, before the victim's write at 10 ms.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "customers", "Sign up a customer")
        .act_rows(10, Some(1), Action::DbInsert, users(), 1)
        .act_rows(100, Some(1), Action::DbSelect, users(), 0)
        .end(110, 1, "customers", "Sign up a customer", Failed);
    let mut w = Proc::new(2, "w");
    w.start(1, 1, "admin", "Start from an empty database")
        .act_with(8, Some(1), Action::DbCleanup, users(), |e| {
            e.duration_us = Some(6_000);
        })
        .end(9, 1, "admin", "Start from an empty database", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    // Still a candidate (the victim may have needed rows from before it
    // started), but not one that removed what the victim wrote.
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(
        why.contains("removed nothing the victim had written"),
        "{why}"
    );
    assert!(!why.contains("between them"), "{why}");
}

#[test]
fn a_victim_recorded_as_ended_before_a_slow_truncate_of_several_tables_is_still_its_victim() {
    // The victim wrote `orders`, read it back empty at 100 ms (its read
    // waited on the TRUNCATE's lock) and its end was recorded at 110 ms;
    // the TRUNCATE of `orders` and `order_lines`, running from 20 ms, was
    // recorded at 120 ms. Its reads and writes of the two tables count
    // together, and it ended too recently to be forgotten.
    let lines = || Some(table(None, "order_lines"));
    let orders = || Some(table(None, "orders"));
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "orders", "Place an order")
        .act_rows(10, Some(1), Action::DbInsert, lines(), 1)
        .act_rows(12, Some(1), Action::DbInsert, orders(), 1)
        .act_rows(100, Some(1), Action::DbSelect, orders(), 0)
        .end(110, 1, "orders", "Place an order", Failed);
    // Eight other users of `orders` start after the victim ended.
    let mut others = Vec::new();
    for k in 0..8u32 {
        let mut p = Proc::new(10 + k, &format!("o{k}"));
        let t = 111 + i64::from(k);
        p.start(t - 1, 1, "orders", &format!("Browse {k}"))
            .act_rows(t, Some(1), Action::DbSelect, orders(), 0)
            .end(t + 20, 1, "orders", &format!("Browse {k}"), Passed);
        others.push(p);
    }
    let mut w = Proc::new(2, "w");
    let mut both = table(None, "order_lines");
    both.tables = vec!["order_lines".into(), "orders".into()];
    // An earlier wipe elsewhere that waited as long: statements that
    // long can be in flight.
    let mut a = Proc::new(3, "a");
    a.start(1, 1, "audit", "Forget the audit log")
        .act_with(
            60,
            Some(1),
            Action::DbCleanup,
            Some(table(None, "audit")),
            |e| {
                e.duration_us = Some(50_000);
            },
        )
        .end(61, 1, "audit", "Forget the audit log", Passed);
    w.start(1, 1, "admin", "Start from an empty database")
        .act_with(120, Some(1), Action::DbCleanup, Some(both), |e| {
            e.duration_us = Some(100_000);
        })
        .end(130, 1, "admin", "Start from an empty database", Passed);
    let mut all: Vec<&Proc> = vec![&v, &w, &a];
    all.extend(others.iter());
    let dir = write_all(&all);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["Start from an empty database"],
        "{:#?}",
        r.findings
    );
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(
        why.contains("may have run the DB_CLEANUP between them"),
        "{why}"
    );
}

#[test]
fn a_delete_before_a_read_that_missed_no_row_ranks_below_a_change_of_values() {
    let mut p = Proc::new(1, "shop");
    p.act_rows(0, None, Action::DbInsert, products(), 30)
        .start(10, 1, "catalog", "browse games")
        .act_with(15, Some(1), Action::DbSelect, products(), browse(5))
        .end(20, 1, "catalog", "browse games", Passed)
        // A sale reprices books, and finishes.
        .start(30, 2, "pricing", "holiday sale on books")
        .act_rows(35, Some(2), Action::DbUpdate, products(), 5)
        .end(40, 2, "pricing", "holiday sale on books", Passed)
        // The victim starts; a garden product goes while it runs; its read
        // still returns all 5 books, at the wrong price.
        .start(50, 3, "catalog", "browse books")
        .start(52, 4, "catalog", "discontinue a garden product")
        .act_rows(55, Some(4), Action::DbDelete, products(), 1)
        .act_with(60, Some(3), Action::DbSelect, products(), browse(5))
        .act_with(
            65,
            Some(3),
            Action::ScenarioEnd,
            None,
            fail_with("expected 5 products at list price, 0 missing, 5 repriced"),
        )
        .end(70, 4, "catalog", "discontinue a garden product", Passed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["holiday sale on books"],
        "{:#?}",
        r.findings
    );
    let delete = r
        .findings
        .iter()
        .find(|f| {
            f.polluter
                .as_ref()
                .is_some_and(|p| p.scenario == "discontinue a garden product")
        })
        .expect("the delete stays a finding");
    assert!(
        delete
            .why
            .as_deref()
            .unwrap_or("")
            .contains("removed nothing the victim reads"),
        "{delete:#?}"
    );
}

#[test]
fn seed_rows_removed_before_the_victim_started_by_a_test_still_running_are_its_cause() {
    let mut p = Proc::new(1, "shop");
    p.act_rows(0, None, Action::DbInsert, products(), 30)
        .start(10, 1, "catalog", "browse toys")
        .act_with(15, Some(1), Action::DbSelect, products(), browse(5))
        .end(20, 1, "catalog", "browse toys", Passed)
        // Deletes a toy, then checks for a while: still running when the
        // victim starts.
        .start(30, 2, "catalog", "discontinue TOYS-4")
        .act_rows(31, Some(2), Action::DbDelete, products(), 1)
        .start(40, 3, "catalog", "browse toys again")
        .end(45, 2, "catalog", "discontinue TOYS-4", Passed)
        .act_with(50, Some(3), Action::DbSelect, products(), browse(4))
        .act_with(
            55,
            Some(3),
            Action::ScenarioEnd,
            None,
            fail_with("toys: expected 5 products, 1 missing"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["discontinue TOYS-4"], "{:#?}", r.findings);
    assert_eq!(
        likely(&r)[0].rule,
        RuleId::DestroyedBefore,
        "{:#?}",
        r.findings
    );
}

fn jwt(fingerprint: &'static str) -> impl FnOnce(&mut state_tracer_format::Event<'static>) {
    move |e| e.details = Some(Cow::Borrowed(fingerprint))
}

#[test]
fn a_scenario_that_puts_back_the_value_it_found_hands_it_back_to_its_setter() {
    let mut p = Proc::new(1, "api");
    p.act_with(0, None, Action::JwtSet, None, jwt("sha256:00000000"))
        .start(10, 1, "keys", "Rotate A")
        .act_with(11, Some(1), Action::JwtRotate, None, jwt("sha256:aaaaaaaa"))
        .end(12, 1, "keys", "Rotate A", Passed)
        // B rotates, then restores what it found: A's key.
        .start(20, 2, "keys", "Rotate B and restore")
        .act_with(21, Some(2), Action::JwtRotate, None, jwt("sha256:bbbbbbbb"))
        .act_with(22, Some(2), Action::JwtSet, None, jwt("sha256:aaaaaaaa"))
        .end(23, 2, "keys", "Rotate B and restore", Passed)
        .start(30, 3, "keys", "Verify a token")
        .act_with(35, Some(3), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed("token signature is invalid"));
        });
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Rotate A"], "{:#?}", r.findings);
}

#[test]
fn a_state_put_back_to_its_baseline_leaks_nothing() {
    let mut p = Proc::new(1, "api");
    p.act_with(0, None, Action::JwtSet, None, jwt("sha256:00000000"))
        .start(10, 1, "keys", "Rotate and restore")
        .act_with(11, Some(1), Action::JwtRotate, None, jwt("sha256:aaaaaaaa"))
        .act_with(12, Some(1), Action::JwtSet, None, jwt("sha256:00000000"))
        .end(13, 1, "keys", "Rotate and restore", Passed)
        .start(30, 2, "keys", "Verify a token")
        .end(35, 2, "keys", "Verify a token", Failed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(likely(&r).is_empty(), "{:#?}", r.findings);
}

/// `n` processes in parallel, each test `wipe`s the table first (or only
/// deletes its own row), then inserts and reads back.
fn parallel_suite(n: u32, wipe: bool) -> Report {
    let mut procs = Vec::new();
    for pid in 1..=n {
        let mut p = Proc::new(pid, &format!("w{pid}"));
        let t0 = i64::from(pid) * 3;
        let name = format!("Test {pid}");
        p.start(t0, 1, "f", &name);
        if wipe {
            p.act_rows(t0 + 1, Some(1), Action::DbCleanup, users(), 2);
        }
        p.act_rows(t0 + 2, Some(1), Action::DbInsert, users(), 1)
            .act_rows(t0 + 40, Some(1), Action::DbSelect, users(), 1)
            .act_rows(t0 + 41, Some(1), Action::DbDelete, users(), 1)
            .end(t0 + 42, 1, "f", &name, Passed);
        procs.push(p);
    }
    let refs: Vec<&Proc> = procs.iter().collect();
    let dir = write_all(&refs);
    report_of(dir.path())
}

#[test]
fn a_suite_where_most_tests_empty_shared_tables_in_parallel_gets_a_verdict() {
    let r = parallel_suite(4, true);
    let v = r.suite.expect("a suite-level verdict");
    // The first test wiped before any other had started.
    assert_eq!((v.wipers, v.scenarios), (3, 4));
    assert!(
        v.summary.contains("not safe to run in parallel"),
        "{}",
        v.summary
    );
    assert!(parallel_suite(4, false).suite.is_none());
}

fn products() -> Option<state_tracer_format::Resource<'static>> {
    Some(table(None, "products"))
}

/// `SELECT … FROM products WHERE category = $1` returning `rows`.
fn browse(rows: u64) -> impl FnOnce(&mut state_tracer_format::Event<'static>) {
    move |e| {
        e.details = Some(Cow::Borrowed(
            "SELECT sku, price FROM products WHERE category = $1",
        ));
        e.rows = Some(rows);
    }
}

fn fail_with(message: &'static str) -> impl FnOnce(&mut state_tracer_format::Event<'static>) {
    move |e| {
        e.outcome = Some(Failed);
        e.error = Some(Cow::Borrowed(message));
    }
}

#[test]
fn a_read_shorter_than_the_same_query_returned_before_names_the_earlier_delete() {
    let mut p = Proc::new(1, "shop");
    // Seed outside scenarios; a reader gets the usual 5 rows.
    p.act_rows(0, None, Action::DbInsert, products(), 30)
        .start(10, 1, "catalog", "browse games")
        .act_with(15, Some(1), Action::DbSelect, products(), browse(5))
        .end(20, 1, "catalog", "browse games", Passed)
        // Deletes a seed row; a sale changes other rows' prices.
        .start(30, 2, "catalog", "discontinue a product")
        .act_rows(35, Some(2), Action::DbDelete, products(), 1)
        .end(40, 2, "catalog", "discontinue a product", Passed)
        .start(50, 3, "pricing", "holiday sale")
        .act_rows(55, Some(3), Action::DbUpdate, products(), 5)
        .end(60, 3, "pricing", "holiday sale", Passed)
        // The same query now returns 4 rows, and the test fails.
        .start(70, 4, "catalog", "browse books")
        .act_with(75, Some(4), Action::DbSelect, products(), browse(4))
        .act_with(
            80,
            Some(4),
            Action::ScenarioEnd,
            None,
            fail_with("expected 5 products"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["discontinue a product"],
        "{:#?}",
        r.findings
    );
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(
        why.contains("with 4 row(s) where the same query returned 5"),
        "{why}"
    );
}

#[test]
fn a_read_with_the_usual_row_count_blames_no_earlier_delete() {
    let mut p = Proc::new(1, "shop");
    p.act_rows(0, None, Action::DbInsert, products(), 30)
        .start(10, 1, "catalog", "browse games")
        .act_with(15, Some(1), Action::DbSelect, products(), browse(5))
        .end(20, 1, "catalog", "browse games", Passed)
        .start(30, 2, "catalog", "discontinue a product")
        .act_rows(35, Some(2), Action::DbDelete, products(), 1)
        .end(40, 2, "catalog", "discontinue a product", Passed)
        // Same count as before: whatever failed, no row of it was missing.
        .start(70, 4, "catalog", "browse books")
        .act_with(75, Some(4), Action::DbSelect, products(), browse(5))
        .act_with(
            80,
            Some(4),
            Action::ScenarioEnd,
            None,
            fail_with("rounding error"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(likely(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn the_failure_message_and_the_victims_name_pick_among_tied_candidates() {
    let mut p = Proc::new(1, "shop");
    p.act_rows(0, None, Action::DbInsert, products(), 30);
    // Two sales of different categories, neither put back: equal evidence.
    for (id, category) in [(1u64, "toys"), (2, "books")] {
        let name = format!("holiday sale on {category}");
        let t0 = 10 * id as i64;
        p.start(t0, id, "pricing", &name)
            .act_rows(t0 + 2, Some(id), Action::DbUpdate, products(), 5)
            .end(t0 + 5, id, "pricing", &name, Passed);
    }
    p.start(40, 3, "catalog", "browse toys")
        .act_with(45, Some(3), Action::DbSelect, products(), browse(5))
        .act_with(
            50,
            Some(3),
            Action::ScenarioEnd,
            None,
            fail_with("toys: 1 repriced"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["holiday sale on toys"], "{:#?}", r.findings);
    let e = likely(&r)[0].evidence.clone().unwrap();
    assert!(e.contains("share the word \"toys\""), "{e}");
}

#[test]
fn a_value_set_by_a_scenario_still_running_when_the_victim_started_is_what_it_saw() {
    let mut p = Proc::new(1, "api");
    p.act_with(0, None, Action::JwtReset, None, jwt("sha256:00000000"))
        // Sets a key and is still running (another thread) when the victim
        // starts; it never puts the key back.
        .start(10, 1, "keys", "admin rotates the signing key")
        .act_with(11, Some(1), Action::JwtSet, None, jwt("sha256:aaaaaaaa"))
        .start(20, 2, "auth", "fixture token is accepted")
        .act_with(
            40,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("token signature is invalid"),
        )
        .end(50, 1, "keys", "admin rotates the signing key", Passed);
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["admin rotates the signing key"],
        "{:#?}",
        r.findings
    );
    assert_eq!(likely(&r)[0].rule, RuleId::LeakedState);
}

#[test]
fn a_set_inside_the_victims_window_can_explain_its_failure_and_the_last_change_wins() {
    let mut p = Proc::new(1, "api");
    p.act_with(0, None, Action::JwtReset, None, jwt("sha256:00000000"))
        // The victim resets the key itself, then others change it while it
        // waits: a set (not only a rotation) replaces the key it uses.
        .start(10, 1, "auth", "login issues a valid token")
        .act_with(11, Some(1), Action::JwtReset, None, jwt("sha256:00000000"))
        .start(12, 2, "keys", "rotate the key")
        .act_with(13, Some(2), Action::JwtRotate, None, jwt("sha256:bbbbbbbb"))
        .end(14, 2, "keys", "rotate the key", Passed)
        .start(15, 3, "keys", "install the partner key")
        .act_with(16, Some(3), Action::JwtSet, None, jwt("sha256:cccccccc"))
        .end(17, 3, "keys", "install the partner key", Passed)
        .act_with(
            30,
            Some(1),
            Action::ScenarioEnd,
            None,
            fail_with("token signature is invalid"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["install the partner key"],
        "{:#?}",
        r.findings
    );
}

/// `SELECT … FROM orders WHERE customer = $1` returning `rows`.
fn my_orders(rows: u64) -> impl FnOnce(&mut state_tracer_format::Event<'static>) {
    move |e| {
        e.details = Some(Cow::Borrowed("SELECT tag FROM orders WHERE customer = $1"));
        e.rows = Some(rows);
    }
}

fn orders_in(db: &str) -> Option<state_tracer_format::Resource<'static>> {
    Some(table_in(Some(db), "orders"))
}

#[test]
fn a_delete_whose_victim_still_read_every_row_is_no_likely_cause() {
    // Someone's delete of another customer's order lands between the
    // victim's write and its read, which still returns its one row: the
    // victim's wrong total is its own bug.
    let mut p = Proc::new(1, "shop");
    p.start(0, 1, "orders", "list orders")
        .act_rows(1, Some(1), Action::DbInsert, users(), 1)
        .act_with(2, Some(1), Action::DbSelect, users(), my_orders(1))
        .act_rows(3, Some(1), Action::DbDelete, users(), 1)
        .end(3, 1, "orders", "list orders", Passed)
        .act_rows(4, None, Action::DbInsert, users(), 5)
        .start(10, 2, "pricing", "apply the volume discount")
        .act_rows(11, Some(2), Action::DbInsert, users(), 1)
        .start(12, 3, "admin", "remove a stale order")
        .act_rows(13, Some(3), Action::DbDelete, users(), 1)
        .end(14, 3, "admin", "remove a stale order", Passed)
        .act_with(20, Some(2), Action::DbSelect, users(), my_orders(1))
        .act_with(
            21,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("expected discounted total 919, got 827"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
    let delete = r
        .findings
        .iter()
        .find(|f| {
            f.polluter
                .as_ref()
                .is_some_and(|p| p.scenario == "remove a stale order")
        })
        .expect("the delete stays a finding");
    assert!(
        delete
            .evidence
            .as_deref()
            .unwrap_or("")
            .contains("removed nothing the victim reads and cannot explain the failure"),
        "{delete:#?}"
    );
}

#[test]
fn an_own_row_cleanup_stays_own_when_a_concurrent_wipe_may_have_missed_its_row() {
    // PostgreSQL: the wipe began (at 4 ms) before "tidy"'s insert ended (at
    // 5 ms), so it may not have removed that row; "tidy" then deletes its
    // one row: that is cleaning up after itself, not removing the
    // victim's.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "accounts", "Victim")
        .act_rows(20, Some(1), Action::DbInsert, users(), 1)
        .act_rows(100, Some(1), Action::DbSelect, users(), 0)
        .end(110, 1, "accounts", "Victim", Failed);
    let mut tidy = Proc::new(2, "tidy");
    tidy.start(1, 1, "orders", "Tidy")
        .act_rows(5, Some(1), Action::DbInsert, users(), 1)
        .act_rows(50, Some(1), Action::DbDelete, users(), 1)
        .end(55, 1, "orders", "Tidy", Passed);
    let mut wipe = Proc::new(3, "wipe");
    wipe.start(2, 1, "admin", "Wipe")
        .act_with(8, Some(1), Action::DbCleanup, users(), |e| {
            e.rows = Some(0);
            e.duration_us = Some(4_000);
        })
        .end(9, 1, "admin", "Wipe", Passed);
    let dir = write_all(&[&v, &tidy, &wipe]);
    let r = report_of(dir.path());
    assert!(
        r.findings.iter().all(|f| {
            f.polluter.as_ref().is_none_or(|p| p.scenario != "Tidy")
                || f.action.as_deref() != Some("DB_DELETE")
        }),
        "{:#?}",
        r.findings
    );
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_victim_that_failed_on_time_gets_no_culprit_from_leftover_rows() {
    let mut p = Proc::new(1, "shop");
    p.start(0, 1, "import", "import three orders")
        .act_rows(5, Some(1), Action::DbInsert, users(), 3)
        .end(10, 1, "import", "import three orders", Passed)
        .start(20, 2, "reports", "report renders within budget")
        .act_with(25, Some(2), Action::DbSelect, users(), |e| {
            e.details = Some(Cow::Borrowed("SELECT tag FROM users"));
            e.rows = Some(3);
        })
        .act_with(
            30,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("the dashboard took 221 ms, budget 170 ms"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f
            .evidence
            .as_deref()
            .is_some_and(|e| e.contains("the victim failed on time"))),
        "{:#?}",
        r.findings
    );
}

#[test]
fn a_wipe_before_the_victims_first_use_an_insert_is_no_cause_when_its_reads_come_back_full() {
    let mut p = Proc::new(1, "shop");
    p.start(0, 1, "orders", "list orders")
        .act_rows(1, Some(1), Action::DbInsert, users(), 1)
        .act_with(2, Some(1), Action::DbSelect, users(), my_orders(1))
        .end(3, 1, "orders", "list orders", Passed)
        .start(10, 2, "pricing", "apply the volume discount")
        .start(11, 3, "admin", "start from an empty order book")
        .act_rows(12, Some(3), Action::DbCleanup, users(), 4)
        // Its own rows, after the wipe: not what the victim lost.
        .act_rows(13, Some(3), Action::DbInsert, users(), 1)
        .end(14, 3, "admin", "start from an empty order book", Passed)
        .act_rows(15, Some(2), Action::DbInsert, users(), 1)
        .act_with(20, Some(2), Action::DbSelect, users(), my_orders(1))
        .act_with(
            21,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("expected discounted total 919, got 827"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
}

/// The victim writes its order (ends at 10 ms), a wipe that ran from
/// `wipe_from` to 20 ms empties the table, others refill it, and the
/// victim's read at 30 ms returns as many rows as ever (someone else's).
fn refilled_after_a_wipe(db: &str, wipe_from: i64) -> Report {
    let mut p = Proc::new(1, "shop");
    p.start(0, 1, "orders", "list orders")
        .act_with(2, Some(1), Action::DbSelect, orders_in(db), my_orders(1))
        .end(3, 1, "orders", "list orders", Passed)
        .start(5, 2, "orders", "placing an order reserves stock")
        .act_with(10, Some(2), Action::DbInsert, orders_in(db), |e| {
            e.rows = Some(1);
            e.duration_us = Some(4_000);
        })
        .start(6, 3, "import", "import starts from an empty order book")
        .act_with(20, Some(3), Action::DbCleanup, orders_in(db), |e| {
            e.rows = Some(3);
            e.duration_us = Some(((20 - wipe_from) * 1000) as u64);
        })
        .act_rows(22, Some(3), Action::DbInsert, orders_in(db), 1)
        .act_with(30, Some(2), Action::DbSelect, orders_in(db), my_orders(1))
        .act_with(
            31,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("bob's order: expected order-1, found order-9"),
        )
        .end(
            40,
            3,
            "import",
            "import starts from an empty order book",
            Passed,
        );
    let dir = write_all(&[&p]);
    report_of(dir.path())
}

#[test]
fn a_wipe_that_began_after_the_victims_write_removed_it_however_full_the_read() {
    let r = refilled_after_a_wipe("postgres://db/app", 12);
    assert_eq!(
        polluters(&r),
        ["import starts from an empty order book"],
        "{:#?}",
        r.findings
    );
    let why = likely(&r)[0].why.clone().unwrap();
    assert!(why.contains("after the victim's last write"), "{why}");
}

#[test]
fn on_sqlite_a_wipe_that_ended_after_the_victims_write_came_after_it() {
    // It began before the write ended (waiting for the one write lock):
    // SQLite runs one write at a time, so it took effect after.
    let r = refilled_after_a_wipe("sqlite:/tmp/shop.db", 8);
    assert_eq!(
        polluters(&r),
        ["import starts from an empty order book"],
        "{:#?}",
        r.findings
    );
    // On PostgreSQL the same times prove nothing: a DELETE works on what
    // was committed when it began.
    let r = refilled_after_a_wipe("postgres://db/app", 8);
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_change_put_back_while_the_victim_ran_hands_the_value_back_to_its_setter() {
    let mut p = Proc::new(1, "api");
    p.act_with(0, None, Action::JwtSet, None, jwt("sha256:00000000"))
        .start(10, 1, "keys", "admin rotates the signing key")
        .act_with(11, Some(1), Action::JwtRotate, None, jwt("sha256:aaaaaaaa"))
        .end(12, 1, "keys", "admin rotates the signing key", Passed)
        // The victim starts with A's key; B rotates and puts A's key back
        // while it runs; it fails after that, with A's key.
        .start(20, 2, "auth", "fixture token is accepted")
        .start(21, 3, "keys", "rotated key rejects old tokens")
        .act_with(22, Some(3), Action::JwtRotate, None, jwt("sha256:bbbbbbbb"))
        .act_with(23, Some(3), Action::JwtSet, None, jwt("sha256:aaaaaaaa"))
        .end(24, 3, "keys", "rotated key rejects old tokens", Passed)
        .act_with(
            30,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("token signature is invalid under the current signing key"),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["admin rotates the signing key"],
        "{:#?}",
        r.findings
    );
    let b = r
        .findings
        .iter()
        .find(|f| {
            f.polluter
                .as_ref()
                .is_some_and(|p| p.scenario == "rotated key rejects old tokens")
        })
        .expect("the put-back change stays a finding");
    assert!(
        b.evidence
            .as_deref()
            .unwrap_or("")
            .contains("put back the value it found"),
        "{b:#?}"
    );
}

#[test]
fn setting_the_value_already_in_effect_while_the_victim_ran_is_still_the_last_write() {
    let mut p = Proc::new(1, "billing");
    p.act_with(0, None, Action::ConfigReload, None, jwt("currency=USD"))
        .start(10, 1, "billing", "prices in euros #2")
        .act_with(11, Some(1), Action::ConfigReload, None, jwt("currency=EUR"))
        .end(12, 1, "billing", "prices in euros #2", Passed)
        .start(20, 2, "billing", "invoice shows the price")
        .start(21, 3, "billing", "prices in euros #3")
        .act_with(22, Some(3), Action::ConfigReload, None, jwt("currency=EUR"))
        .end(24, 3, "billing", "prices in euros #3", Passed)
        .act_with(
            30,
            Some(2),
            Action::ScenarioEnd,
            None,
            fail_with("expected \"$12.50\", got \"€12.50\""),
        );
    let dir = write_all(&[&p]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["prices in euros #3"], "{:#?}", r.findings);
}

#[test]
fn a_change_met_in_an_earlier_step_and_read_again_in_the_failed_step_is_in_that_step() {
    // Another process updates `orders`, then `settings`. The victim reads
    // `orders` in its first step (after the first update), `settings` in its
    // second, and `orders` again in its failing third step: the change it
    // read there comes first, though it first met it in a passing step.
    let step = |name: &'static str, outcome: Option<Outcome>| {
        move |e: &mut state_tracer_format::Event<'static>| {
            e.step = Some(Cow::Borrowed(name));
            e.outcome = outcome;
        }
    };
    let (orders, settings) = (Some(table(None, "orders")), Some(table(None, "settings")));
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "shop", "Victim")
        .act_with(
            1,
            Some(1),
            Action::StepStart,
            None,
            step("Given orders", None),
        )
        .act_rows(20, Some(1), Action::DbSelect, orders.clone(), 2)
        .act_with(
            21,
            Some(1),
            Action::StepEnd,
            None,
            step("Given orders", Some(Passed)),
        )
        .act_with(
            22,
            Some(1),
            Action::StepStart,
            None,
            step("And settings", None),
        )
        .act_rows(40, Some(1), Action::DbSelect, settings.clone(), 1)
        .act_with(
            41,
            Some(1),
            Action::StepEnd,
            None,
            step("And settings", Some(Passed)),
        )
        .act_with(
            42,
            Some(1),
            Action::StepStart,
            None,
            step("Then totals", None),
        )
        .act_rows(60, Some(1), Action::DbSelect, orders.clone(), 2)
        .act_with(61, Some(1), Action::StepEnd, None, |e| {
            e.step = Some(Cow::Borrowed("Then totals"));
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed("total was 0"));
        })
        .end(62, 1, "shop", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(5, 1, "admin", "Reprice orders")
        .act_rows(10, Some(1), Action::DbUpdate, orders, 2)
        .end(12, 1, "admin", "Reprice orders", Passed)
        .start(25, 2, "admin", "Change settings")
        .act_rows(30, Some(2), Action::DbUpdate, settings, 1)
        .end(32, 2, "admin", "Change settings", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Reprice orders"], "{:#?}", r.findings);
}

/// A statement with its text and row count.
fn sql(text: &'static str, rows: u64) -> impl FnOnce(&mut state_tracer_format::Event<'static>) {
    move |e| {
        e.details = Some(Cow::Borrowed(text));
        e.rows = Some(rows);
    }
}

#[test]
fn create_table_if_not_exists_is_no_wipe_whatever_its_column_names() {
    // "dropoff_at" holds the word DROP: the verb decides, not a substring.
    let mut w = Proc::new(2, "w");
    w.start(15, 1, "deliveries", "Schedule a delivery")
        .act_details(
            30,
            Some(1),
            Action::DbDdl,
            users(),
            "CREATE TABLE IF NOT EXISTS users (id INTEGER, dropoff_at TEXT)",
        )
        .end(35, 1, "deliveries", "Schedule a delivery", Passed);
    let dir = write_all(&[&victim(), &w]);
    let r = report_of(dir.path());
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn an_update_that_changed_no_row_is_no_cause() {
    // The victim's rows went missing; the only change in between is an
    // update that reports 0 rows: it changed nothing anyone wrote.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "stock", "Victim")
        .act_rows(10, Some(1), Action::DbSelect, users(), 9)
        .act_rows(100, Some(1), Action::DbSelect, users(), 9)
        .end(110, 1, "stock", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(40, 2, "stock", "Archive nothing")
        .act_rows(50, Some(2), Action::DbUpdate, users(), 0)
        .end(55, 2, "stock", "Archive nothing", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert!(polluters(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn an_upsert_recorded_as_an_insert_overwrites_rows_others_wrote() {
    // The victim reads its setting twice; between the reads another test
    // upserts the same table. An insert explains nothing; an upsert may
    // have overwritten the victim's row.
    let settings = || Some(table(None, "settings"));
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "settings", "Victim")
        .act_rows(10, Some(1), Action::DbSelect, settings(), 1)
        .act_rows(100, Some(1), Action::DbSelect, settings(), 1)
        .end(110, 1, "settings", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(15, 1, "settings", "Set a theme")
        .act_with(
            30,
            Some(1),
            Action::DbInsert,
            settings(),
            sql("INSERT INTO settings (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", 1),
        )
        .end(35, 1, "settings", "Set a theme", Passed)
        .start(40, 2, "settings", "Add a setting")
        .act_with(50, Some(2), Action::DbInsert, settings(), sql("INSERT INTO settings (k, v) VALUES (?, ?)", 1))
        .end(55, 2, "settings", "Add a setting", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Set a theme"], "{:#?}", r.findings);
}

#[test]
fn a_row_seeded_if_missing_is_no_ones_own() {
    // Both tests seed the flag row with INSERT OR IGNORE; the first to run
    // inserted it. Its later update of that row changes the flag the
    // victim reads: not a cleanup of its own rows.
    let flags = || Some(table(None, "flags"));
    let seed = "INSERT OR IGNORE INTO flags (name, on) VALUES ('beta', 1)";
    let mut w = Proc::new(2, "w");
    w.start(0, 1, "flags", "Beta rollout disables checkout")
        .act_with(5, Some(1), Action::DbInsert, flags(), sql(seed, 1))
        .act_rows(40, Some(1), Action::DbUpdate, flags(), 1)
        .end(45, 1, "flags", "Beta rollout disables checkout", Passed);
    let mut v = Proc::new(1, "v");
    v.start(10, 1, "checkout", "Victim")
        .act_with(12, Some(1), Action::DbInsert, flags(), sql(seed, 0))
        .act_rows(20, Some(1), Action::DbSelect, flags(), 1)
        .act_rows(100, Some(1), Action::DbSelect, flags(), 1)
        .end(110, 1, "checkout", "Victim", Failed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(
        polluters(&r),
        ["Beta rollout disables checkout"],
        "{:#?}",
        r.findings
    );
}

#[test]
fn an_update_between_the_victims_reads_outranks_updates_before_its_first() {
    // A shared counter: the victim reads it, decrements it, reads it again.
    // A decrement before its first read left what it started from.
    let counter = || Some(table(None, "accounts"));
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "billing", "Victim")
        .act_rows(20, Some(1), Action::DbSelect, counter(), 1)
        .act_rows(30, Some(1), Action::DbUpdate, counter(), 1)
        .act_rows(100, Some(1), Action::DbSelect, counter(), 1)
        .end(110, 1, "billing", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(1, 1, "billing", "Charge before")
        .act_rows(5, Some(1), Action::DbUpdate, counter(), 1)
        .end(8, 1, "billing", "Charge before", Passed)
        .start(40, 2, "billing", "Charge between")
        .act_rows(50, Some(2), Action::DbUpdate, counter(), 1)
        .end(55, 2, "billing", "Charge between", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Charge between"], "{:#?}", r.findings);
}

#[test]
fn an_insert_and_an_update_by_one_test_are_judged_by_the_update() {
    // The same test first adds a row, then updates rows others wrote; the
    // victim reads after both. The pair's first occurrence (the insert)
    // explains nothing, its update does.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "flags", "Victim")
        .act_rows(100, Some(1), Action::DbSelect, users(), 3)
        .end(110, 1, "flags", "Victim", Failed);
    let mut w = Proc::new(2, "w");
    w.start(10, 1, "flags", "Promote everyone")
        .act_rows(20, Some(1), Action::DbInsert, users(), 1)
        .act_rows(30, Some(1), Action::DbUpdate, users(), 3)
        .end(35, 1, "flags", "Promote everyone", Passed);
    // Someone else's insert in between keeps the two changes apart.
    let mut x = Proc::new(3, "x");
    x.start(21, 1, "signup", "Sign up")
        .act_rows(25, Some(1), Action::DbInsert, users(), 1)
        .end(26, 1, "signup", "Sign up", Passed);
    let dir = write_all(&[&v, &w, &x]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Promote everyone"], "{:#?}", r.findings);
}

#[test]
fn a_statement_that_failed_on_a_missing_column_is_blamed_on_the_last_ddl_before_it() {
    // An old migration dropped and recreated the table; a later one renamed
    // the column the victim's insert names. The schema the victim met is
    // what the rename left.
    let notes = || Some(table(None, "notes"));
    let mut w = Proc::new(2, "w");
    w.start(0, 1, "migrate", "Recreate notes")
        .act_details(5, Some(1), Action::DbDdl, notes(), "DROP TABLE notes")
        .act_details(
            6,
            Some(1),
            Action::DbDdl,
            notes(),
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
        )
        .end(8, 1, "migrate", "Recreate notes", Passed)
        .start(20, 2, "migrate", "Rename body")
        .act_details(
            30,
            Some(2),
            Action::DbDdl,
            notes(),
            "ALTER TABLE notes RENAME COLUMN body TO content",
        )
        .end(60, 2, "migrate", "Rename body", Passed);
    let error = "table notes has no column named body";
    let mut v = Proc::new(1, "v");
    v.start(25, 1, "notes", "Write a note")
        .act_with(40, Some(1), Action::DbInsert, notes(), |e| {
            e.details = Some(Cow::Borrowed("INSERT INTO notes (body) VALUES (?)"));
            e.error = Some(Cow::Borrowed(error));
        })
        .act_with(41, Some(1), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed(error));
        });
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["Rename body"], "{:#?}", r.findings);
}

#[test]
fn an_insert_refused_on_a_key_another_test_just_inserted_names_that_test() {
    // The victim empties `users`, another test's fixture inserts the same
    // user, and the victim's own insert adds no row (sqlx reports a unique
    // violation as 0 rows, no error); it fails with a conflict.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "users", "Create a user")
        .act_rows(10, Some(1), Action::DbCleanup, users(), 2)
        .act_with(
            50,
            Some(1),
            Action::DbInsert,
            users(),
            sql("INSERT INTO users (name) VALUES ($1)", 0),
        )
        .act_with(60, Some(1), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed(
                "assertion failed: status 409 Conflict != 200 OK",
            ));
        });
    let mut w = Proc::new(2, "w");
    w.start(5, 1, "comments", "List comments")
        .act_with(
            30,
            Some(1),
            Action::DbInsert,
            users(),
            sql("INSERT INTO users (name) VALUES ($1), ($2)", 2),
        )
        .end(70, 1, "comments", "List comments", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["List comments"], "{:#?}", r.findings);
}

#[test]
fn rows_read_after_the_victims_own_wipe_belong_to_whoever_inserted_since() {
    // The victim empties `users` itself and reads it expecting nothing;
    // another test, still running, inserted two rows in between.
    let mut v = Proc::new(1, "v");
    v.start(0, 1, "users", "List users when there are none")
        .act_rows(10, Some(1), Action::DbCleanup, users(), 0)
        .act_with(
            50,
            Some(1),
            Action::DbSelect,
            users(),
            sql("SELECT name FROM users", 2),
        )
        .act_with(60, Some(1), Action::ScenarioEnd, None, |e| {
            e.outcome = Some(Failed);
            e.error = Some(Cow::Borrowed("assertion failed: 2 == 0"));
        });
    let mut w = Proc::new(2, "w");
    w.start(5, 1, "users", "List users")
        .act_rows(30, Some(1), Action::DbInsert, users(), 2)
        .end(70, 1, "users", "List users", Passed);
    let dir = write_all(&[&v, &w]);
    let r = report_of(dir.path());
    assert_eq!(polluters(&r), ["List users"], "{:#?}", r.findings);
}
