//! The application under test: a small user service over real SQL.
//!
//! It is deliberately ordinary. The bugs the suite reproduces are not in this
//! code but in how the suite shares its database and in-memory secret between
//! scenarios and processes.

use sha2::{Digest, Sha256};
use sqlx::Row as _;

use crate::db::Db;
use crate::jwt::{Claims, JwtSecrets};
use crate::latency::Jitter;
use crate::Result;

/// The service: a database, the signing secret and its remote dependencies.
#[derive(Debug)]
pub struct App {
    pub db: Db,
    pub jwt: JwtSecrets,
    /// Latency of the template and identity services it calls.
    pub network: Jitter,
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub role: String,
}

fn password_hash(username: &str, password: &str) -> String {
    let digest = Sha256::new()
        .chain_update(username.as_bytes())
        .chain_update([0u8])
        .chain_update(password.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    pub fn new(db: Db, jwt: JwtSecrets, network: Jitter) -> App {
        App { db, jwt, network }
    }

    /// Creates a user; fails if the name is taken. `by` names the writer
    /// (kept in `written_by` for the accuracy harness).
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        role: &str,
        by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (username, password_hash, role, written_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(password_hash(username, password))
        .bind(role)
        .bind(by)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    pub async fn find_user(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT username, role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| User {
            username: r.get(0),
            role: r.get(1),
        }))
    }

    /// Checks the password against the stored hash and issues a token signed
    /// with the current secret.
    pub async fn login(&self, username: &str, password: &str) -> Result<String> {
        let row = sqlx::query("SELECT password_hash, role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.db.pool)
            .await?;
        let Some(row) = row else {
            return Err(format!("login refused: unknown user {username:?}").into());
        };
        let (hash, role): (String, String) = (row.get(0), row.get(1));
        if hash != password_hash(username, password) {
            return Err("login refused: wrong password".into());
        }
        Ok(self.jwt.issue(username, &role))
    }

    /// Verifies a bearer token with the current secret.
    pub fn authenticate(&self, token: &str) -> Result<Claims> {
        Ok(self.jwt.verify(token)?)
    }

    /// Greets a registered user and records the greeting.
    pub async fn greet(&self, username: &str, by: &str) -> Result<String> {
        if self.find_user(username).await?.is_none() {
            return Err(format!("cannot greet {username:?}: unknown user").into());
        }
        let message = format!("Hello, {username}!");
        sqlx::query("INSERT INTO greetings (username, message, written_by) VALUES ($1, $2, $3)")
            .bind(username)
            .bind(&message)
            .bind(by)
            .execute(&self.db.pool)
            .await?;
        Ok(message)
    }

    /// The welcome page: fetches its template from the template service (a
    /// network round trip), then looks the user up. That round trip is the
    /// window in which another process's cleanup can delete the user.
    pub async fn welcome_page(&self, username: &str) -> Result<String> {
        self.network
            .remote_call("GET", "/templates/welcome", 50, 150)
            .await;
        match self.find_user(username).await? {
            Some(user) => Ok(format!("Welcome, {}!", user.username)),
            None => Err(format!("welcome page for {username:?}: 404 user not found").into()),
        }
    }

    pub async fn greetings_for(&self, username: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM greetings WHERE username = $1")
            .bind(username)
            .fetch_one(&self.db.pool)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Lists every user; admins only.
    pub async fn list_users(&self, token: &str) -> Result<Vec<User>> {
        let claims = self.authenticate(token)?;
        if claims.role != "admin" {
            return Err(format!("403 forbidden: {} is not an admin", claims.sub).into());
        }
        let rows = sqlx::query("SELECT username, role FROM users ORDER BY username")
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| User {
                username: r.get(0),
                role: r.get(1),
            })
            .collect())
    }

    /// Makes a user an admin; admins only.
    pub async fn promote(&self, token: &str, username: &str, by: &str) -> Result<()> {
        let claims = self.authenticate(token)?;
        if claims.role != "admin" {
            return Err(format!("403 forbidden: {} is not an admin", claims.sub).into());
        }
        let done = sqlx::query("UPDATE users SET role = 'admin' WHERE username = $1")
            .bind(username)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(format!("no such user {username:?}").into());
        }
        sqlx::query("INSERT INTO audit_log (username, event, written_by) VALUES ($1, $2, $3)")
            .bind(&claims.sub)
            .bind(format!("promoted {username}"))
            .bind(by)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}
