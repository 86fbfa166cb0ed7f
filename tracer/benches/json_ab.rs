//! A/B of the string encoder on the strings of a realistic record, both
//! sides in one run, both from `src/json.rs`: `A_table_per_byte` is
//! `string_scalar` (one table lookup per byte, then one copy), `B_sse2` is
//! `string` as the crate uses it (SSE2 from 16 bytes). The project's rule:
//! a hand-written fast path stays only if it saves at least 5 % on a
//! realistic record.
//!
//! Run: `cargo bench -p state-tracer --bench json_ab -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../src/json.rs"]
mod json;

/// `json.rs` asks the secret scanner in one function this bench does not use.
#[allow(dead_code)]
mod secret {
    pub fn might_hold_secret(_: &[u8]) -> bool {
        false
    }
}

/// The strings an sqlx statement's record encodes (feature, scenario,
/// step, db, schema, table, details), as the demo suite writes them.
const RECORD: &[&str] = &[
    "Orders checkout",
    "Customer pays with a saved card",
    "When the customer pays 42 EUR with the saved card",
    "sqlite:/home/dev/project/target/bdd-demo/demo.db",
    "main",
    "orders",
    "INSERT INTO orders (user_id, total, currency) VALUES (?, ?, ?)",
];

fn encode(c: &mut Criterion) {
    let mut out = Vec::with_capacity(4096);
    c.bench_function("json_string/A_table_per_byte", |b| {
        b.iter(|| {
            out.clear();
            for s in RECORD {
                json::string_scalar(&mut out, black_box(s));
            }
            black_box(out.len())
        })
    });
    #[cfg(target_arch = "x86_64")]
    c.bench_function("json_string/B_sse2", |b| {
        b.iter(|| {
            out.clear();
            for s in RECORD {
                json::string(&mut out, black_box(s));
            }
            black_box(out.len())
        })
    });
}

criterion_group!(benches, encode);
criterion_main!(benches);
