//! What every corpus test (tests/accounts.rs, orders.rs, reports.rs) shares:
//! its name as the trace names it, its tags, and its ground truth
//! (`corpus::truth`, written only when `CORPUS_TRUTH` is set).
//!
//! A test that fails writes exactly one `failed` line first: `needs` when
//! the rows it wrote were gone or changed when it read them back (it knows
//! its own tags; the database said which are missing), `genuine` otherwise.

#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::time::Duration;

use corpus::truth::{self, Who};
use sqlx::AnyPool;
use sqlx_tests::store::Store;

/// One running test: who it is, and the shared store.
pub struct Case {
    pub who: Who,
    pub store: Store,
    tags: u32,
}

impl Case {
    /// `scenario` must be the test function's name (the attribute's scenario
    /// name); the feature is this test binary's crate name.
    pub async fn start(scenario: &str) -> Result<Case, sqlx::Error> {
        let who = Who::here(env!("CARGO_CRATE_NAME"), scenario);
        let store = match Store::open().await {
            Ok(store) => store,
            Err(e) => {
                truth::failed_genuinely(&who, &format!("cannot open the store: {e}"));
                return Err(e);
            }
        };
        Ok(Case {
            who,
            store,
            tags: 0,
        })
    }

    /// Runs a test body; an error it returns (the database refused a
    /// statement) is recorded as a genuine failure first.
    pub async fn run<F, Fut>(scenario: &str, body: F) -> Result<(), sqlx::Error>
    where
        F: FnOnce(Case) -> Fut,
        Fut: Future<Output = Result<(), sqlx::Error>>,
    {
        let case = Case::start(scenario).await?;
        let who = case.who.clone();
        let result = body(case).await;
        if let Err(e) = &result {
            truth::failed_genuinely(&who, &format!("database error: {e}"));
        }
        result
    }

    pub fn pool(&self) -> &AnyPool {
        &self.store.pool
    }

    /// A new tag naming this test as the row's writer, unique in the run.
    pub fn tag(&mut self, what: &str) -> String {
        self.tags += 1;
        format!(
            "{}/{}/{}/{what}-{}",
            self.who.feature, self.who.scenario, self.who.pid, self.tags
        )
    }

    /// Rows this test's statement really removed from `table`.
    pub fn removed(&self, table: &str, tags: &[String]) {
        truth::removed(&self.who, table, tags);
    }

    /// Rows this test's statement really changed in `table`.
    pub fn changed(&self, table: &str, tags: &[String]) {
        truth::changed(&self.who, table, tags);
    }

    /// Fails the test because its rows `lost` were gone or changed.
    pub fn lost(&self, lost: &[String], what: &str) -> ! {
        truth::failed_needing(&self.who, lost);
        panic!("{what}: rows {lost:?} are gone or changed");
    }

    /// Fails the test for a reason that has nothing to do with shared rows.
    pub fn broken(&self, why: &str) -> ! {
        truth::failed_genuinely(&self.who, why);
        panic!("{why}");
    }
}

/// The writer a tag names ([`Case::tag`]): `feature/scenario/pid/what`.
pub fn writer(tag: &str) -> Option<Who> {
    let mut parts = tag.split('/');
    let (feature, scenario, pid) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Who::new(pid.parse().ok()?, feature, scenario))
}

/// Checks what the test read back against what it wrote, as the test's own
/// assertion would: `mine` (tag, value) must all be there with those values
/// (else it fails `needs` the lost ones), and with `exact`, nothing else may
/// be there (else it fails naming the writers of the extra rows, which
/// their tags carry).
pub fn expect_rows<V: PartialEq + std::fmt::Debug>(
    case: &Case,
    what: &str,
    mine: &[(String, V)],
    found: &[(String, V)],
    exact: bool,
) {
    let lost: Vec<String> = mine
        .iter()
        .filter(|m| !found.contains(m))
        .map(|(tag, _)| tag.clone())
        .collect();
    if !lost.is_empty() {
        truth::failed_needing(&case.who, &lost);
        panic!("{what}: expected {mine:?}, found {found:?}");
    }
    if !exact {
        return;
    }
    let mut writers: Vec<Who> = Vec::new();
    for (tag, _) in found.iter().filter(|f| !mine.contains(f)) {
        match writer(tag) {
            Some(w) if !writers.contains(&w) => writers.push(w),
            Some(_) => {}
            None => case.broken(&format!("{what}: a row with a foreign tag {tag:?}")),
        }
    }
    if !writers.is_empty() {
        truth::failed_by(&case.who, &writers, &[]);
        panic!("{what}: expected {mine:?}, found {found:?}");
    }
}

/// A slow step of the test: a real service takes about `ms`, give or take
/// a quarter, differently every time.
pub fn wait(ms: u64) -> tokio::time::Sleep {
    use std::hash::{BuildHasher as _, RandomState};
    let spread = RandomState::new().hash_one(std::time::SystemTime::now()) % 501; // 0..=500
    tokio::time::sleep(Duration::from_millis(ms * (750 + spread) / 1000))
}
