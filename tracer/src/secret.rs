//! Keeping secrets out of trace files.
//!
//! The trace must let someone see *that* a JWT secret changed and whether two
//! processes used the same one, without ever revealing it. So secrets are
//! recorded as a short SHA-256 fingerprint, database URLs lose their
//! credentials, and free text passes through [`scrub`], which masks the usual
//! shapes of tokens and passwords.
//!
//! SHA-256 is implemented here (FIPS 180-4, ~60 lines, tested against the
//! standard vectors) to keep the dependency list short.

use std::borrow::Cow;

/// Short, non-reversible fingerprint of a secret: `sha256:` and the first 8
/// hex digits of its SHA-256. Enough to tell secrets apart, useless to
/// recover them.
pub fn fingerprint(secret: &[u8]) -> String {
    let digest = sha256(secret);
    let mut out = String::with_capacity(15);
    out.push_str("sha256:");
    for b in &digest[..4] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(v);
        }
    }
    let mut out = [0u8; 32];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// The URL with any password replaced by `***` (user kept), for display.
/// Text that is not a URL with credentials comes back unchanged.
pub fn mask_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return Cow::Borrowed(url);
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => Cow::Owned(format!(
            "{}{}:***{}",
            &url[..rest_start],
            &userinfo[..colon],
            &url[rest_start + at..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// The identity of a database, the same string in every process that uses it
/// and free of credentials: `postgres://host:port/dbname`,
/// `sqlite:/absolute/path.db`. User, password and query parameters are
/// dropped; a relative SQLite path is made absolute.
pub fn db_identity(url: &str) -> String {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() || path == ":memory:" || path.starts_with(":memory:") {
            return "sqlite::memory:".to_owned();
        }
        let p = std::path::Path::new(path);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
        return format!("sqlite:{}", abs.display());
    }
    let Some(scheme_end) = url.find("://") else {
        return mask_url(url).into_owned();
    };
    let scheme = match &url[..scheme_end] {
        "postgresql" => "postgres",
        other => other,
    };
    let rest = &url[scheme_end + 3..];
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = if scheme == "postgres" && !host.is_empty() && !host.contains(':') {
        format!("{host}:5432")
    } else {
        host.to_owned()
    };
    format!("{scheme}://{host}{path}")
}

/// Masks tokens and passwords in free text: `Bearer <token>`,
/// `password=…`/`token=…`/`secret=…`/`api_key=…`, JWT-shaped strings and URL
/// passwords. Text without any of those comes back borrowed.
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !might_hold_secret(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for word in text.split_inclusive(char::is_whitespace) {
        let (core, tail) = split_trailing_ws(word);
        let masked = scrub_word(core, out.trim_end().ends_with_ci("bearer"));
        if masked != core {
            changed = true;
        }
        out.push_str(&masked);
        out.push_str(tail);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// One pass over the text: only `:`/`=` (URLs, key=value), `eyJ` (JWTs)
/// and the word `bearer` (Bearer tokens) can start something to mask. Eight
/// bytes are tested at a time ([`trigger_bytes`]); only the bytes marked
/// there are looked at more closely. Errs on the side of a full scan.
pub(crate) fn might_hold_secret(b: &[u8]) -> bool {
    crate::json::words(b).any(|(at, w)| {
        let triggers = trigger_bytes(w);
        triggers != 0 && suspicious_in_word(b, at, triggers)
    })
}

/// The high bit of each byte of `w` that may start something to mask:
/// `:`, `=`, `J` (of `eyJ`) or `b`/`B` (of `bearer`). Never misses one.
#[inline]
pub(crate) fn trigger_bytes(w: u64) -> u64 {
    use crate::json::{bytes_equal, ONES};
    let folded = w | (ONES * 0x20); // 'B' -> 'b'
    bytes_equal(w, b':') | bytes_equal(w, b'=') | bytes_equal(w, b'J') | bytes_equal(folded, b'b')
}

/// Whether one of the bytes marked in `triggers` (from [`trigger_bytes`] of
/// the word at `b[at..]`) really starts something to mask.
#[inline]
pub(crate) fn suspicious_in_word(b: &[u8], at: usize, mut triggers: u64) -> bool {
    while triggers != 0 {
        let i = at + (triggers.trailing_zeros() / 8) as usize;
        triggers &= triggers - 1;
        if suspicious_at(b, i) {
            return true;
        }
    }
    false
}

/// The same for a mask with bit `k` standing for `b[at + k]`.
#[inline]
pub(crate) fn suspicious_in_mask(b: &[u8], at: usize, mut mask: u32) -> bool {
    while mask != 0 {
        let i = at + mask.trailing_zeros() as usize;
        mask &= mask - 1;
        if suspicious_at(b, i) {
            return true;
        }
    }
    false
}

/// Whether `b[i]` starts something to mask (or ends `eyJ`).
#[inline]
pub(crate) fn suspicious_at(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(b':' | b'=') => true,
        Some(b'J') => i >= 2 && &b[i - 2..i] == b"ey",
        Some(b'b' | b'B') => b.len() - i >= 6 && b[i..i + 6].eq_ignore_ascii_case(b"bearer"),
        _ => false,
    }
}

trait EndsWithCi {
    fn ends_with_ci(&self, suffix: &str) -> bool;
}

impl EndsWithCi for str {
    fn ends_with_ci(&self, suffix: &str) -> bool {
        self.len() >= suffix.len()
            && self.is_char_boundary(self.len() - suffix.len())
            && self[self.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    }
}

fn split_trailing_ws(word: &str) -> (&str, &str) {
    let core = word.trim_end();
    (core, &word[core.len()..])
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "auth",
    "authorization",
    "jwt",
    "jwt_secret",
    "session",
];

fn scrub_word(word: &str, after_bearer: bool) -> Cow<'_, str> {
    if word.is_empty() {
        return Cow::Borrowed(word);
    }
    if after_bearer {
        return Cow::Borrowed("***");
    }
    if word.contains("://") {
        let masked = mask_url(word);
        if let Cow::Owned(s) = masked {
            return Cow::Owned(s);
        }
    }
    if looks_like_jwt(word) {
        return Cow::Borrowed("***");
    }
    // key=value or key:value pairs, possibly several joined by & or ;.
    if word.contains('=') || word.contains(':') {
        let mut out = String::with_capacity(word.len());
        let mut changed = false;
        let mut rest = word;
        loop {
            let end = rest.find(['&', ';', ',']).unwrap_or(rest.len());
            let part = &rest[..end];
            match part.find(['=', ':']) {
                Some(i) if is_secret_key(&part[..i]) && i + 1 < part.len() => {
                    out.push_str(&part[..=i]);
                    out.push_str("***");
                    changed = true;
                }
                _ => out.push_str(part),
            }
            if end == rest.len() {
                break;
            }
            out.push_str(&rest[end..end + 1]);
            rest = &rest[end + 1..];
        }
        if changed {
            return Cow::Owned(out);
        }
    }
    Cow::Borrowed(word)
}

/// Whether a field or parameter named `key` holds a secret (`password`,
/// `api_key`, `db_token`, ...).
pub fn is_secret_key(key: &str) -> bool {
    let key = key
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_ascii_lowercase();
    SECRET_KEYS
        .iter()
        .any(|k| key == *k || key.ends_with(&format!("_{k}")))
}

fn looks_like_jwt(word: &str) -> bool {
    let word = word.trim_matches(|c: char| c == '"' || c == '\'' || c == ',');
    let mut parts = word.split('.');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'=')
    };
    a.starts_with("eyJ") && b64(a) && b64(b) && b64(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 1000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn fingerprints_are_short_and_distinguish_secrets() {
        let a = fingerprint(b"super-secret-1");
        assert_eq!(a.len(), "sha256:".len() + 8);
        assert_ne!(a, fingerprint(b"super-secret-2"));
        assert!(!a.contains("super"));
    }

    #[test]
    fn url_passwords_are_masked_and_identities_drop_credentials() {
        assert_eq!(
            mask_url("postgres://app:hunter2@db:5432/x?sslmode=disable"),
            "postgres://app:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(mask_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(
            db_identity("postgresql://app:hunter2@db/x?sslmode=disable"),
            "postgres://db:5432/x"
        );
        assert_eq!(
            db_identity("postgres://u@127.0.0.1:5433/app"),
            "postgres://127.0.0.1:5433/app"
        );
        assert_eq!(
            db_identity("sqlite:///tmp/a.db?mode=rwc"),
            "sqlite:/tmp/a.db"
        );
        assert_eq!(db_identity("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn the_quick_check_sees_every_trigger_at_every_offset() {
        let pad = "plain words here, nothing to see";
        for trigger in [":", "=", "eyJ", "Bearer", "bearer", "BEARER"] {
            for pos in 0..=pad.len() {
                let text = format!("{}{trigger}{}", &pad[..pos], &pad[pos..]);
                assert!(might_hold_secret(text.as_bytes()), "{text:?}");
            }
        }
        assert!(!might_hold_secret(pad.as_bytes()));
        assert!(!might_hold_secret(b"bear with me, J. Doe; by the way"));
    }

    #[test]
    fn free_text_loses_tokens_and_passwords() {
        let text = "login with Authorization: Bearer abc.def-123 and password=hunter2&user=bob \
                    via postgres://u:pw1@h/db token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x";
        let out = scrub(text);
        for secret in ["abc.def-123", "hunter2", "pw1", "eyJhbGciOiJIUzI1NiJ9"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("user=bob"), "{out}");
        assert!(matches!(scrub("plain words only"), Cow::Borrowed(_)));
        assert_eq!(
            scrub("sent Authorization: Bearer tok-1"),
            "sent Authorization: Bearer ***"
        );
        // Any whitespace after Bearer, not only a space.
        assert_eq!(scrub("use bearer\tabc123"), "use bearer\t***");
        assert_eq!(scrub("x BEARER\nabc123"), "x BEARER\n***");
        assert!(is_secret_key("api_key") && is_secret_key("DB_PASSWORD") && !is_secret_key("name"));
    }
}
