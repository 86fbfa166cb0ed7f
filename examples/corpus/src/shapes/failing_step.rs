//! Shape 6, `failing-step`: a BDD accounts suite whose scenarios have
//! steps (`state_tracer::step`, recorded as STEP_START/STEP_END). Victims:
//! "Given a registered user" inserts a `users` row, "When the user signs in"
//! signs and verifies a token with the process's JWT key (then a real
//! wait, as a page load), "Then the profile shows the user" reads the row.
//! In the same process, key-rotation scenarios run concurrently and rotate
//! the key (harmless to the victims, which sign and verify with the same
//! key). In another process an admin suite's "purge test accounts" deletes
//! every `@example.com` user: that is what breaks a victim's last step.
//!
//! Ground truth: the purge's `DELETE … RETURNING tag`; a victim whose
//! profile row is gone `needs` that row's tag.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "failing-step",
    workers: |_| 3,
    schema,
    fixture: no_fixture,
    run,
};

fn schema(kind: DbKind) -> Vec<String> {
    vec![format!(
        "CREATE TABLE users (id {}, tag TEXT NOT NULL UNIQUE, email TEXT NOT NULL, name TEXT NOT NULL, written_by TEXT NOT NULL)",
        kind.serial()
    )]
}

/// The app's signing key (a process global).
static KEY: Mutex<String> = Mutex::new(String::new());

fn current_key() -> String {
    KEY.lock().expect("key lock").clone()
}

fn set_key(key: &str, rotate: bool) {
    *KEY.lock().expect("key lock") = key.to_owned();
    if rotate {
        state_tracer::jwt_rotate(key);
    } else {
        state_tracer::jwt_set(key);
    }
}

fn sign(key: &str, claims: &str) -> String {
    let mut h = DefaultHasher::new();
    (key, claims).hash(&mut h);
    format!("{claims}.{:016x}", h.finish())
}

/// Runs one step of the current scenario, recorded as a `step` span, failed
/// with the failure's message.
async fn step<T>(text: &str, body: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let step = state_tracer::step(text);
    let result = step.instrument(body).await;
    if let Err(f) = &result {
        step.fail(f.message());
    }
    result
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        set_key("app-signing-key", false);
        let mut jobs: Vec<BoxFut> = Vec::new();
        let count = ctx.rng(|r| r.range(8, 14)) as usize;
        for i in 0..count {
            let ctx = ctx.clone();
            let admin = ctx.worker == 1;
            let kind = ctx.rng(|r| r.range(0, 100));
            jobs.push(Box::pin(async move {
                ctx.sleep_ms(0, 80).await;
                let c = ctx.clone();
                match (admin, kind) {
                    (true, 0..=39) => {
                        let name = format!("purge test accounts #{i}");
                        ctx.scenario("admin", &name, |who| purge(c, who, i)).await
                    }
                    (true, _) => {
                        let name = format!("rename a user #{i}");
                        ctx.scenario("admin", &name, |who| rename(c, who, i)).await
                    }
                    (false, 0..=24) => {
                        let name = format!("signing key rotation #{i}");
                        ctx.scenario("accounts", &name, |who| rotate(c, who, i)).await
                    }
                    (false, k) => {
                        let domain = if k < 80 { "example.com" } else { "corp.test" };
                        let name = format!("user sees their profile #{i}");
                        ctx.scenario("accounts", &name, |who| profile(c, who, i, domain)).await
                    }
                };
            }));
        }
        // The accounts suites run two scenarios at a time.
        run_all(if ctx.worker == 1 { 1 } else { 2 }, jobs).await;
    })
}

async fn insert_user(ctx: &Ctx, who: &Who, tag: &str, domain: &str) -> Result<(), Failure> {
    sqlx::query("INSERT INTO users (tag, email, name, written_by) VALUES ($1, $2, $3, $4)")
        .bind(tag)
        .bind(format!("{tag}@{domain}"))
        .bind(format!("User {tag}"))
        .bind(db::who_tag(who))
        .execute(&ctx.pool)
        .await?;
    Ok(())
}

async fn delete_user(ctx: &Ctx, who: &Who, tag: &str) -> Result<(), Failure> {
    let rows = sqlx::query("DELETE FROM users WHERE tag = $1 RETURNING tag")
        .bind(tag)
        .fetch_all(&ctx.pool)
        .await?;
    truth::removed(who, "users", &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    Ok(())
}

/// The victim: three steps, the last one reading what the first wrote.
async fn profile(ctx: Arc<Ctx>, who: Who, i: usize, domain: &str) -> Result<(), Failure> {
    let tag = format!("member-{}-{i}", std::process::id());
    step("Given a registered user", insert_user(&ctx, &who, &tag, domain)).await?;
    step("When the user signs in", async {
        // Sign and verify with the key in effect: a rotation between two
        // logins changes nothing for this one.
        let key = current_key();
        let token = sign(&key, &format!("sub={tag}"));
        if sign(&key, &format!("sub={tag}")) != token {
            return Err(Failure::Genuine("token did not verify".into()));
        }
        ctx.sleep_ms(50, 250).await;
        Ok(())
    })
    .await?;
    let shown = step("Then the profile shows the user", async {
        let row = sqlx::query("SELECT name FROM users WHERE tag = $1")
            .bind(&tag)
            .fetch_optional(&ctx.pool)
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(Failure::Needs {
                tags: vec![tag.clone()],
                msg: format!("profile of {tag} not found (404)"),
            }),
        }
    })
    .await;
    // After hook: its own row.
    delete_user(&ctx, &who, &tag).await?;
    shown
}

/// Rotates the process's key, checks new tokens, and sometimes restores it.
async fn rotate(ctx: Arc<Ctx>, _who: Who, i: usize) -> Result<(), Failure> {
    let saved = current_key();
    step("Given the signing key is rotated", async {
        set_key(&format!("rotated-{}-{i}", std::process::id()), true);
        Ok(())
    })
    .await?;
    step("Then new tokens verify", async {
        ctx.sleep_ms(20, 120).await;
        Ok(())
    })
    .await?;
    if ctx.rng(|r| r.chance(50)) {
        set_key(&saved, false);
    }
    Ok(())
}

/// The admin suite's cleanup of "test" accounts: every `@example.com` user.
async fn purge(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let tag = format!("admin-{}-{i}", std::process::id());
    step("Given some test accounts", insert_user(&ctx, &who, &tag, "example.com")).await?;
    step("When the admin purges test accounts", async {
        ctx.sleep_ms(20, 100).await;
        let rows = sqlx::query("DELETE FROM users WHERE email LIKE '%@example.com' RETURNING tag")
            .fetch_all(&ctx.pool)
            .await?;
        truth::removed(&who, "users", &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
        Ok(())
    })
    .await?;
    ctx.sleep_ms(50, 200).await;
    Ok(())
}

/// An admin scenario that touches only its own user.
async fn rename(ctx: Arc<Ctx>, who: Who, i: usize) -> Result<(), Failure> {
    let tag = format!("renamed-{}-{i}", std::process::id());
    step("Given a user", insert_user(&ctx, &who, &tag, "corp.test")).await?;
    step("When the admin renames them", async {
        sqlx::query("UPDATE users SET name = $1 WHERE tag = $2")
            .bind("Renamed")
            .bind(&tag)
            .execute(&ctx.pool)
            .await?;
        ctx.sleep_ms(20, 150).await;
        Ok(())
    })
    .await?;
    delete_user(&ctx, &who, &tag).await
}
