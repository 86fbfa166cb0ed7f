//! Shape 4, `value-state`: an auth service's suite whose state is in the
//! process, not the database. The app keeps its JWT signing key and its
//! pricing configuration in process globals; tests rotate or set the key
//! (`state_tracer::jwt_rotate` / `jwt_set`, as the app's key setter is
//! instrumented) and switch the currency (`config_reload`), some restoring
//! what they found, some not, some resetting to the configured key first.
//! Victims verify a token signed with the configured key, or format a price
//! in the configured currency, after a real wait. Worker 0 runs its tests
//! one after another, the others two or three at a time (libtest threads).
//!
//! Ground truth: every value carries who set it, and the unrestored setters
//! it was set on top of (a restore brings back the saved lineage, a reset
//! clears it). A victim that sees a foreign value names its last setter as
//! the culprit, the earlier unrestored ones as `also`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

use sqlx::Row as _;

use crate::ctx::{run_all, Ctx, Failure};
use crate::db::{self, DbKind};
use crate::shapes::{no_fixture, BoxFut, Shape};
use crate::truth::{self, Who};

pub const SHAPE: Shape = Shape {
    name: "value-state",
    workers: |seed| 2 + (seed % 2) as usize,
    schema,
    fixture: no_fixture,
    run,
};

/// The signing key the app is configured with (what tokens in fixtures use).
const CONFIGURED_KEY: &str = "configured-signing-key";
const CONFIGURED_CURRENCY: &str = "USD";

fn schema(kind: DbKind) -> Vec<String> {
    vec![format!(
        "CREATE TABLE sessions (id {}, tag TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, token TEXT NOT NULL, written_by TEXT NOT NULL)",
        kind.serial()
    )]
}

/// A process-global value and the setters whose changes it still carries,
/// oldest first (empty: the configured value).
#[derive(Clone)]
struct Held {
    value: String,
    setters: Vec<Who>,
}

/// The app's signing key and pricing currency (process globals, as an app's
/// `static` settings are).
static KEY: Mutex<Held> = Mutex::new(Held {
    value: String::new(),
    setters: Vec::new(),
});
static CURRENCY: Mutex<Held> = Mutex::new(Held {
    value: String::new(),
    setters: Vec::new(),
});

#[derive(Clone, Copy)]
enum Global {
    Key,
    Currency,
}

impl Global {
    fn cell(self) -> &'static Mutex<Held> {
        match self {
            Global::Key => &KEY,
            Global::Currency => &CURRENCY,
        }
    }

    fn configured(self) -> &'static str {
        match self {
            Global::Key => CONFIGURED_KEY,
            Global::Currency => CONFIGURED_CURRENCY,
        }
    }

    fn read(self) -> Held {
        self.cell().lock().expect("global lock").clone()
    }

    /// The app's setter (instrumented as users instrument theirs): `by`'s
    /// value on top of whatever was there.
    fn set(self, value: &str, by: &Who, rotate: bool) {
        let mut held = self.cell().lock().expect("global lock");
        held.value = value.to_owned();
        held.setters.retain(|w| w != by);
        held.setters.push(by.clone());
        self.trace(value, rotate);
    }

    /// Puts back a value saved earlier, with the setters it carried.
    fn restore(self, saved: &Held) {
        *self.cell().lock().expect("global lock") = saved.clone();
        self.trace(&saved.value, false);
    }

    /// Back to the configured value (a test's "reset" helper).
    fn reset(self) {
        *self.cell().lock().expect("global lock") = Held {
            value: self.configured().to_owned(),
            setters: Vec::new(),
        };
        match self {
            Global::Key => state_tracer::jwt_reset(CONFIGURED_KEY),
            Global::Currency => state_tracer::config_reload("pricing", &format!("currency={CONFIGURED_CURRENCY}")),
        }
    }

    fn trace(self, value: &str, rotate: bool) {
        match self {
            Global::Key if rotate => state_tracer::jwt_rotate(value),
            Global::Key => state_tracer::jwt_set(value),
            Global::Currency => state_tracer::config_reload("pricing", &format!("currency={value}")),
        }
    }
}

/// A toy HS256: enough to make a token fail under another key.
fn sign(key: &str, claims: &str) -> String {
    let mut h = DefaultHasher::new();
    (key, claims).hash(&mut h);
    format!("{claims}.{:016x}", h.finish())
}

fn verify(key: &str, token: &str) -> bool {
    token.rsplit_once('.').is_some_and(|(claims, _)| sign(key, claims) == token)
}

fn format_price(cents: i64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        _ => "£",
    };
    format!("{symbol}{}.{:02}", cents / 100, cents % 100)
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Verifies a token signed with the configured key after a wait.
    VerifyToken,
    /// Resets the key in its before-hook, then verifies after a wait.
    ResetThenVerify,
    /// Rotates the key, checks old tokens are rejected, restores it.
    RotateRestore,
    /// Rotates (or sets a partner key) and leaves it.
    RotateLeak,
    /// Formats a price, expecting the configured currency.
    PriceInDollars,
    /// Switches the currency, checks, and restores it or not.
    SwitchCurrency { restore: bool },
}

fn run(ctx: Arc<Ctx>) -> BoxFut {
    Box::pin(async move {
        // App start-up: the configured key and currency.
        Global::Key.reset();
        Global::Currency.reset();
        let feature = ["auth tokens", "session api", "billing"][ctx.worker % 3];
        let count = ctx.rng(|r| r.range(10, 16)) as usize;
        let mut jobs = Vec::new();
        for i in 0..count {
            let kind = ctx.rng(|r| match r.range(0, 100) {
                0..=29 => Kind::VerifyToken,
                30..=41 => Kind::ResetThenVerify,
                42..=59 => Kind::RotateRestore,
                60..=69 => Kind::RotateLeak,
                70..=84 => Kind::PriceInDollars,
                _ => Kind::SwitchCurrency { restore: r.chance(50) },
            });
            let ctx = ctx.clone();
            jobs.push(async move {
                ctx.sleep_ms(0, 40).await;
                let name = match kind {
                    Kind::VerifyToken => format!("fixture token is accepted #{i}"),
                    Kind::ResetThenVerify => format!("login issues a valid token #{i}"),
                    Kind::RotateRestore => format!("rotated key rejects old tokens #{i}"),
                    Kind::RotateLeak => format!("admin rotates the signing key #{i}"),
                    Kind::PriceInDollars => format!("invoice shows the price #{i}"),
                    Kind::SwitchCurrency { .. } => format!("prices in euros #{i}"),
                };
                let c = ctx.clone();
                ctx.scenario(feature, &name, |who| scenario(c, who, i, kind)).await;
            });
        }
        run_all(1 + ctx.worker, jobs).await;
    })
}

async fn scenario(ctx: Arc<Ctx>, who: Who, i: usize, kind: Kind) -> Result<(), Failure> {
    let owner = format!("user-{}-{i}", std::process::id());
    match kind {
        Kind::VerifyToken | Kind::ResetThenVerify => {
            if let Kind::ResetThenVerify = kind {
                Global::Key.reset();
            }
            // A token as the fixtures hold it: signed with the configured key.
            let token = sign(CONFIGURED_KEY, &format!("sub={owner}"));
            let session = store_session(&ctx, &who, &owner, &token).await?;
            ctx.sleep_ms(20, 200).await;
            let held = Global::Key.read();
            let verdict = if verify(&held.value, &token) {
                Ok(())
            } else {
                Err(foreign_value(&who, held, "token signature is invalid under the current signing key"))
            };
            drop_session(&ctx, &who, &session).await?;
            verdict
        }
        Kind::RotateRestore => {
            let saved = Global::Key.read();
            let old = sign(&saved.value, &format!("sub={owner}"));
            let new_key = format!("rotated-{}-{i}", std::process::id());
            Global::Key.set(&new_key, &who, true);
            let token = sign(&new_key, &format!("sub={owner}"));
            let session = store_session(&ctx, &who, &owner, &token).await?;
            ctx.sleep_ms(20, 150).await;
            let ok = !verify(&new_key, &old);
            drop_session(&ctx, &who, &session).await?;
            Global::Key.restore(&saved);
            ok.then_some(()).ok_or(Failure::Genuine("old token still accepted".into()))
        }
        Kind::RotateLeak => {
            let new_key = if ctx.rng(|r| r.chance(50)) {
                format!("rotated-{}-{i}", std::process::id())
            } else {
                "partner-signing-key".to_owned()
            };
            Global::Key.set(&new_key, &who, new_key.starts_with("rotated"));
            let token = sign(&new_key, &format!("sub={owner}"));
            let session = store_session(&ctx, &who, &owner, &token).await?;
            ctx.sleep_ms(10, 100).await;
            drop_session(&ctx, &who, &session).await?;
            Ok(())
        }
        Kind::PriceInDollars => {
            ctx.sleep_ms(10, 150).await;
            let held = Global::Currency.read();
            let shown = format_price(1250, &held.value);
            if shown == "$12.50" {
                Ok(())
            } else {
                Err(foreign_value(&who, held, &format!("expected \"$12.50\", got {shown:?}")))
            }
        }
        Kind::SwitchCurrency { restore } => {
            let saved = Global::Currency.read();
            Global::Currency.set("EUR", &who, false);
            ctx.sleep_ms(10, 120).await;
            let shown = format_price(1250, &Global::Currency.read().value);
            if restore {
                Global::Currency.restore(&saved);
            }
            if shown.starts_with('€') || shown.starts_with('$') {
                Ok(())
            } else {
                Err(Failure::Unexplained(format!("unexpected price {shown}")))
            }
        }
    }
}

/// The failure of a victim that found `held` instead of the configured
/// value: its last setter is the culprit, the earlier ones also polluted.
fn foreign_value(who: &Who, held: Held, msg: &str) -> Failure {
    let mut setters: Vec<Who> = held.setters.into_iter().filter(|w| w != who).collect();
    match setters.pop() {
        Some(last) => {
            setters.reverse();
            Failure::Culprits {
                culprits: vec![last],
                also: setters,
                msg: msg.to_owned(),
            }
        }
        None => Failure::Unexplained(format!("{msg} (no setter on record)")),
    }
}

async fn store_session(ctx: &Ctx, who: &Who, owner: &str, token: &str) -> Result<String, Failure> {
    let tag = format!("{owner}-session");
    sqlx::query("INSERT INTO sessions (tag, owner, token, written_by) VALUES ($1, $2, $3, $4)")
        .bind(&tag)
        .bind(owner)
        .bind(token)
        .bind(db::who_tag(who))
        .execute(&ctx.pool)
        .await?;
    Ok(tag)
}

async fn drop_session(ctx: &Ctx, who: &Who, tag: &str) -> Result<(), Failure> {
    let rows = sqlx::query("DELETE FROM sessions WHERE tag = $1 RETURNING tag")
        .bind(tag)
        .fetch_all(&ctx.pool)
        .await?;
    truth::removed(who, "sessions", &rows.iter().map(|r| r.get(0)).collect::<Vec<String>>());
    Ok(())
}
