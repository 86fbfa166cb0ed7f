//! The suite's configuration, read once from the environment so every
//! feature process of a run agrees (the runner passes the same variables to
//! each child).

use std::env;
use std::path::PathBuf;

/// Everything a feature process needs to know about the run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`; a SQLite file in the working directory by default.
    pub database_url: String,
    /// `BDD_SCHEMA_ISOLATION=true`: a schema (Postgres) or a database file
    /// (SQLite) per process instead of one shared database.
    pub schema_isolation: bool,
    /// `BDD_JWT_RESET` (default true): the after-scenario hook resets the
    /// JWT signing secret. `false` reproduces the leak.
    pub jwt_reset: bool,
    /// `BDD_SEED`: makes the simulated network latencies repeatable.
    pub seed: Option<u64>,
    /// `BDD_CONCURRENCY` (default 1, like godog): scenarios run at once
    /// inside one feature process.
    pub concurrency: usize,
    /// `BDD_FEATURES_DIR`: where the `.feature` files live.
    pub features_dir: PathBuf,
}

/// The default database when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_FILE: &str = "bdd-demo.sqlite";

impl Config {
    pub fn from_env() -> Config {
        Config {
            database_url: env::var("DATABASE_URL")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(default_database_url),
            schema_isolation: flag("BDD_SCHEMA_ISOLATION", false),
            jwt_reset: flag("BDD_JWT_RESET", true),
            seed: env::var("BDD_SEED")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            concurrency: env::var("BDD_CONCURRENCY")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(1),
            features_dir: env::var_os("BDD_FEATURES_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/features"))),
        }
    }
}

/// `sqlite://<cwd>/bdd-demo.sqlite`: absolute, so every process that starts
/// in the same directory names the same file.
pub fn default_database_url() -> String {
    let cwd = env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    format!("sqlite://{}", cwd.join(DEFAULT_SQLITE_FILE).display())
}

/// Reads a boolean variable: `1/true/yes/on` and `0/false/no/off`.
pub fn flag(name: &str, default: bool) -> bool {
    match env::var(name) {
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => default,
        },
        Err(_) => default,
    }
}
