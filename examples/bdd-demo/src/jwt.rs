//! HS256 JSON Web Tokens and the in-memory signing-secret manager.
//!
//! The secret lives in process memory, like the test server this demo is
//! modelled on: rotating it is process-scoped state that every later scenario
//! of the process sees until someone resets it. Every change is reported to
//! state-tracer, which records only a fingerprint of the secret.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The secret every process starts with, shared with the suite's fake
/// identity provider (which signs tokens the service must accept).
pub const INITIAL_SECRET: &[u8] = b"bdd-demo-initial-signing-secret-do-not-use-in-prod";

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadSignature => "invalid token signature",
            TokenError::Expired => "token expired",
        })
    }
}

impl std::error::Error for TokenError {}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// Signs `claims` with `secret` as a compact HS256 JWT.
pub fn sign(secret: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = serde_json::json!({ "sub": claims.sub, "role": claims.role, "exp": claims.exp });
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Checks signature (constant time) and expiry, then returns the claims.
pub fn verify(secret: &[u8], token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| TokenError::Malformed)?;
    let v: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    let claims = Claims {
        sub: v["sub"].as_str().ok_or(TokenError::Malformed)?.to_owned(),
        role: v["role"].as_str().unwrap_or("user").to_owned(),
        exp: v["exp"].as_u64().ok_or(TokenError::Malformed)?,
    };
    if claims.exp < now() {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Claims for `sub` valid for an hour.
pub fn claims_for(sub: &str, role: &str) -> Claims {
    Claims {
        sub: sub.to_owned(),
        role: role.to_owned(),
        exp: now() + 3600,
    }
}

/// The process's current signing secret, with rotation and reset.
#[derive(Debug)]
pub struct JwtSecrets {
    initial: Vec<u8>,
    current: Mutex<(Vec<u8>, u64)>,
}

impl JwtSecrets {
    pub fn new(initial: &[u8]) -> JwtSecrets {
        state_tracer::jwt_set(initial);
        JwtSecrets {
            initial: initial.to_vec(),
            current: Mutex::new((initial.to_vec(), 0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<u8>, u64)> {
        // A poisoned lock still holds a valid secret.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn issue(&self, sub: &str, role: &str) -> String {
        sign(&self.lock().0, &claims_for(sub, role))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        verify(&self.lock().0, token)
    }

    /// Replaces the secret with a fresh one derived from the old one; tokens
    /// signed before stop verifying.
    pub fn rotate(&self) {
        let mut cur = self.lock();
        cur.1 += 1;
        let mut h = Sha256::new();
        h.update(&cur.0);
        h.update(cur.1.to_le_bytes());
        h.update(now().to_le_bytes());
        cur.0 = h.finalize().to_vec();
        state_tracer::jwt_rotate(&cur.0);
    }

    /// Back to the initial secret (what the suite's after hook does).
    pub fn reset(&self) {
        let mut cur = self.lock();
        cur.0 = self.initial.clone();
        state_tracer::jwt_reset(&self.initial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_with_the_same_secret_only() {
        let token = sign(b"k1", &claims_for("alice", "user"));
        assert_eq!(verify(b"k1", &token).unwrap().sub, "alice");
        assert_eq!(verify(b"k2", &token), Err(TokenError::BadSignature));
        assert_eq!(verify(b"k1", "a.b"), Err(TokenError::Malformed));
    }

    #[test]
    fn rotation_invalidates_and_reset_restores() {
        let secrets = JwtSecrets::new(INITIAL_SECRET);
        let idp_token = sign(INITIAL_SECRET, &claims_for("alice", "user"));
        secrets.rotate();
        assert_eq!(secrets.verify(&idp_token), Err(TokenError::BadSignature));
        secrets.reset();
        assert!(secrets.verify(&idp_token).is_ok());
    }

    #[test]
    fn matches_the_rfc_4231_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        let mut m = mac(b"Jefe");
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
