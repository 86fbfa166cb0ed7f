//! Keeping secrets out of trace files: the one place that knows what a
//! secret looks like.
//!
//! The trace must let someone see *that* a JWT secret changed and whether two
//! processes used the same one, without ever revealing it. So secrets are
//! recorded as a short SHA-256 fingerprint, database URLs lose their
//! credentials, field names that hold secrets ([`is_secret_key`]) have their
//! values replaced, and free text passes through [`scrub`].
//!
//! Every shape [`scrub`] masks starts at a *trigger*: a byte that
//! `might_hold_secret` (the fast check the encoder runs on every free-text
//! string) looks at. Both are driven by the same `trigger_at`, so a shape
//! added here is seen by both, and a string the fast check passes is one
//! the scrubber would leave alone (a proptest below pins that). The shapes:
//!
//! | trigger | shape | kept |
//! |---|---|---|
//! | `=` `:` | `key=value`, `key: value`, `"key":"value"`, `--key=value` with a secret key name; `Authorization: Basic/Bearer …`; `Cookie:`/`Set-Cookie:` (the rest of the line) | key and scheme word |
//! | `:` of `://` | `scheme://user:password@host` anywhere in text | user, host |
//! | `bearer` | `Bearer <token>` | the word Bearer |
//! | `eyJ` | JWTs (`eyJ….….…`) | nothing |
//! | `-----BEGIN` | PEM private key blocks, up to their `-----END …-----` | nothing |
//! | `AKIA` / `ASIA` | AWS access key IDs | nothing |

use std::borrow::Cow;
use std::ops::Range;

use sha2::{Digest, Sha256};

/// What a masked value becomes.
const MASK: &str = "***";

/// Short, non-reversible fingerprint of a secret: `sha256:` and the first 8
/// hex digits of its SHA-256. Enough to tell secrets apart, useless to
/// recover them.
pub fn fingerprint(secret: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(secret);
    let mut out = String::with_capacity(15);
    out.push_str("sha256:");
    for b in &digest[..4] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The URL with any password replaced by `***` (user kept), for display.
/// Text that is not a URL with credentials comes back unchanged.
pub fn mask_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    match url_password(url.as_bytes(), scheme_end) {
        Some(r) => Cow::Owned(format!("{}{MASK}{}", &url[..r.start], &url[r.end..])),
        None => Cow::Borrowed(url),
    }
}

/// Whether a field, parameter or option named `key` holds a secret:
/// `password`, `PGPASSWORD`, `api_key`, `--api-key`, `x-api-key`,
/// `client-secret`, `access_token`, `bearer`, `credentials`, `cookie`, ...
/// Case, leading dashes and `-`/`_`/`.` separators do not matter.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if key.is_empty() || key.len() > 64 {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    // Anywhere in the name: PGPASSWORD, MYSQL_PWD is a segment below.
    const CONTAINED: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "credential",
        "cookie",
        "authorization",
        "privatekey",
    ];
    let squashed: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if CONTAINED.iter().any(|k| squashed.contains(k)) {
        return true;
    }
    // As a whole segment: `key` in `api_key`, not in `monkey`.
    const SEGMENTS: &[&str] = &[
        "pwd",
        "pass",
        "key",
        "auth",
        "jwt",
        "bearer",
        "session",
        "sid",
        "signature",
    ];
    lower
        .split(['_', '-', '.'])
        .any(|seg| SEGMENTS.contains(&seg))
}

/// One pass over the text: whether anything [`scrub`] masks may start in
/// it. Looks closer only at the trigger bytes (see the module doc).
pub(crate) fn might_hold_secret(b: &[u8]) -> bool {
    b.iter()
        .enumerate()
        .any(|(i, &c)| TRIGGER[c as usize] && trigger_at(b, i))
}

/// Bytes that may start a secret shape: `:`, `=`, `J` (of `eyJ`), `b`/`B`
/// (of `bearer`), `-` (of `-----BEGIN`), `A` (of `AKIA`/`ASIA`).
static TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    let bytes = b":=JbB-A";
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `b[i]` really starts a shape worth a closer look: the cheap
/// part of each rule of [`mask_at`], shared by the fast check and the
/// scrubber.
#[inline]
fn trigger_at(b: &[u8], i: usize) -> bool {
    let rest = &b[i..];
    match b[i] {
        b':' | b'=' => true,
        b'J' => i >= 2 && &b[i - 2..i] == b"ey",
        b'b' | b'B' => starts_with_ci(rest, b"bearer"),
        b'-' => rest.starts_with(b"-----BEGIN"),
        b'A' => rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"),
        _ => false,
    }
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Masks tokens, passwords and keys in free text (see the module doc for
/// the shapes). Text without any comes back borrowed.
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !might_hold_secret(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    mask_all(text)
}

/// [`scrub`] without the fast check in front.
fn mask_all(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut masks: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !(TRIGGER[b[i] as usize] && trigger_at(b, i)) {
            i += 1;
            continue;
        }
        match mask_at(b, i) {
            Some(r) if !r.is_empty() => {
                // Ranges come in order and never overlap: scanning resumes
                // after the masked value.
                let start = r.start.max(masks.last().map_or(0, |m| m.end));
                i = r.end.max(i + 1);
                if start < r.end {
                    masks.push(start..r.end);
                }
            }
            _ => i += 1,
        }
    }
    if masks.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in masks {
        // Ranges end on ASCII bytes or the end, so they are char boundaries;
        // widen to be safe if not.
        let (s, e) = (floor_char(text, r.start), ceil_char(text, r.end));
        if s < at {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(MASK);
        at = e;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

/// The bytes to mask for the shape triggered at `b[i]`, if any.
fn mask_at(b: &[u8], i: usize) -> Option<Range<usize>> {
    match b[i] {
        b':' if b[i..].starts_with(b"://") => url_password(b, i),
        b':' | b'=' => key_value(b, i),
        b'J' => jwt(b, i - 2),
        b'b' | b'B' => bearer(b, i),
        b'-' => private_key(b, i),
        b'A' => aws_key_id(b, i),
        _ => None,
    }
}

/// A byte that may belong to a key name.
fn key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// A byte that ends an unquoted value.
fn value_end(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'&' | b';' | b',' | b'"' | b'\'' | b'}' | b')' | b']')
}

/// `key=value`, `key: value`, `"key": "value"` with a secret key name, at
/// the separator `b[sep]`.
fn key_value(b: &[u8], sep: usize) -> Option<Range<usize>> {
    // The key: back over spaces and a closing quote, then the name.
    let mut k_end = sep;
    while k_end > 0 && b[k_end - 1] == b' ' {
        k_end -= 1;
    }
    if k_end > 0 && matches!(b[k_end - 1], b'"' | b'\'') {
        k_end -= 1;
    }
    let mut k_start = k_end;
    while k_start > 0 && key_byte(b[k_start - 1]) {
        k_start -= 1;
    }
    let key = std::str::from_utf8(&b[k_start..k_end]).ok()?;
    if !is_secret_key(key) {
        return None;
    }
    let lower = key.to_ascii_lowercase();
    // The value: after spaces and an opening quote.
    let mut v = sep + 1;
    while v < b.len() && b[v] == b' ' {
        v += 1;
    }
    if let Some(&q @ (b'"' | b'\'')) = b.get(v) {
        let start = v + 1;
        let mut e = start;
        while e < b.len() && b[e] != q {
            e += if b[e] == b'\\' { 2 } else { 1 };
        }
        return Some(start..e.min(b.len()));
    }
    // Cookie headers: every pair on the line is a secret.
    if lower.ends_with("cookie") {
        let e = b[v..]
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .map_or(b.len(), |p| v + p);
        return Some(v..e);
    }
    // Authorization: <scheme> <credential>: keep the scheme word.
    let word_end = |from: usize| {
        b[from..]
            .iter()
            .position(|&c| value_end(c))
            .map_or(b.len(), |p| from + p)
    };
    let first = word_end(v);
    let scheme = &b[v..first];
    if [&b"basic"[..], b"bearer", b"token", b"digest", b"negotiate"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
        && b.get(first) == Some(&b' ')
    {
        let mut c = first;
        while c < b.len() && b[c] == b' ' {
            c += 1;
        }
        return Some(c..word_end(c));
    }
    Some(v..first)
}

/// The password of `scheme://user:password@host`, with `b[i..]` at `://`.
fn url_password(b: &[u8], i: usize) -> Option<Range<usize>> {
    let start = i + 3;
    let end = b[start..]
        .iter()
        .position(|&c| c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\''))
        .map_or(b.len(), |p| start + p);
    let authority = &b[start..end];
    let at = authority.iter().rposition(|&c| c == b'@')?;
    let colon = authority[..at].iter().position(|&c| c == b':')?;
    Some(start + colon + 1..start + at)
}

/// A JWT (`eyJ<b64>.<b64>.<b64>`) starting at `b[s]`.
fn jwt(b: &[u8], s: usize) -> Option<Range<usize>> {
    if s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') {
        return None;
    }
    let b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=');
    let mut e = s;
    let mut dots = 0;
    while e < b.len() && (b64(b[e]) || (b[e] == b'.' && dots < 2)) {
        if b[e] == b'.' {
            dots += 1;
        }
        e += 1;
    }
    (dots == 2 && b[e - 1] != b'.').then_some(s..e)
}

/// The token after the word `Bearer` at `b[i]`.
fn bearer(b: &[u8], i: usize) -> Option<Range<usize>> {
    if i > 0 && b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut s = i + 6;
    if !b
        .get(s)
        .is_some_and(|c| c.is_ascii_whitespace() || *c == b':')
    {
        return None;
    }
    while s < b.len() && (b[s].is_ascii_whitespace() || b[s] == b':') {
        s += 1;
    }
    let e = b[s..]
        .iter()
        .position(|&c| value_end(c))
        .map_or(b.len(), |p| s + p);
    Some(s..e)
}

/// A PEM private key block from `-----BEGIN … PRIVATE KEY-----` to its
/// `-----END …-----` (or the end of the text when cut short).
fn private_key(b: &[u8], i: usize) -> Option<Range<usize>> {
    let head_end = i + 10 + find(&b[i + 10..], b"-----")? + 5;
    find(&b[i..head_end], b"PRIVATE KEY")?;
    let end = match find(&b[head_end..], b"-----END") {
        Some(p) => {
            let tail = head_end + p + 8;
            find(&b[tail..], b"-----").map_or(b.len(), |q| tail + q + 5)
        }
        None => b.len(),
    };
    Some(i..end)
}

/// An AWS access key ID: `AKIA`/`ASIA` and 16 more capitals or digits.
fn aws_key_id(b: &[u8], i: usize) -> Option<Range<usize>> {
    let id = b.get(i..i + 20)?;
    let boundary = |c: Option<&u8>| !c.is_some_and(|c| c.is_ascii_alphanumeric());
    (id.iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && (i == 0 || boundary(b.get(i - 1)))
        && boundary(b.get(i + 20)))
    .then_some(i..i + 20)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fingerprints_are_sha256_short_and_distinguish_secrets() {
        // SHA-256("abc") starts ba7816bf.
        assert_eq!(fingerprint(b"abc"), "sha256:ba7816bf");
        let a = fingerprint(b"super-secret-1");
        assert_eq!(a.len(), "sha256:".len() + 8);
        assert_ne!(a, fingerprint(b"super-secret-2"));
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://app:hunter2@db:5432/x?sslmode=disable"),
            "postgres://app:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(mask_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(
            scrub("retrying mysql://root:pw1@10.0.0.1/app and redis://:pw2@cache:6379"),
            "retrying mysql://root:***@10.0.0.1/app and redis://:***@cache:6379"
        );
    }

    /// Each shape of the issue and the security review, and what must be
    /// left of it.
    const SHAPES: &[(&str, &str)] = &[
        ("--api-key=S1", "--api-key=***"),
        ("--client-secret=S1", "--client-secret=***"),
        ("--access-token=S1", "--access-token=***"),
        ("--private-key=S1", "--private-key=***"),
        ("--jwt-secret=S1", "--jwt-secret=***"),
        ("PGPASSWORD=S1 psql", "PGPASSWORD=*** psql"),
        (
            "--header=Authorization: Basic dXNlcjpwYXNz",
            "--header=Authorization: Basic ***",
        ),
        (
            r#"{"password":"S1","token":"S2","user":"bob"}"#,
            r#"{"password":"***","token":"***","user":"bob"}"#,
        ),
        (
            r#"{"password" : "S1 with space"}"#,
            r#"{"password" : "***"}"#,
        ),
        ("password: S1", "password: ***"),
        ("Authorization: Bearer S1", "Authorization: Bearer ***"),
        ("sent bearer\tS1 now", "sent bearer\t*** now"),
        ("Cookie: sid=S1; theme=dark", "Cookie: ***"),
        (
            "Set-Cookie: session=S1; Path=/; HttpOnly\nnext line",
            "Set-Cookie: ***\nnext line",
        ),
        (
            "/cb#access_token=S1&state=x",
            "/cb#access_token=***&state=x",
        ),
        ("/api?api_key=S1&page=2", "/api?api_key=***&page=2"),
        ("aws_secret_access_key = S1", "aws_secret_access_key = ***"),
        ("key id AKIAIOSFODNN7EXAMPLE used", "key id *** used"),
        ("temp ASIAIOSFODNN7EXAMPLE", "temp ***"),
        (
            "k: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
            "k: *** done",
        ),
        (
            "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x end",
            "got *** end",
        ),
        (
            "Server=db;User Id=sa;Password=S1;",
            "Server=db;User Id=sa;Password=***;",
        ),
    ];

    #[test]
    fn every_known_shape_is_masked_and_the_rest_kept() {
        for (text, want) in SHAPES {
            assert_eq!(scrub(text), *want, "{text}");
            assert!(might_hold_secret(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "plain words only",
            "status: ok, table=users, rows=3",
            "bear with me, J. Doe; AKIA is short; -----BEGIN PUBLIC KEY-----",
            "the monkey=banana",
        ] {
            assert!(matches!(scrub(text), Cow::Borrowed(_)), "{text}");
        }
        assert!(!might_hold_secret(b"plain words, nothing to see"));
    }

    #[test]
    fn secret_key_names() {
        for k in [
            "password",
            "DB_PASSWORD",
            "PGPASSWORD",
            "api-key",
            "x-api-key",
            "client-secret",
            "bearer",
            "credentials",
            "cookie",
            "Set-Cookie",
            "--jwt-secret",
            "private_key",
            "access_token",
            "api_key",
            "apikey",
            "session_id",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["name", "table", "monkey", "status", "path", "rows"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    proptest! {
        /// The fast check never lets through what the scrubber would change.
        #[test]
        fn whatever_scrub_changes_the_fast_check_flags(
            text in "([a-zA-Z0-9 :=\"'{}&;,./#@_\\-]|Bearer |eyJ|AKIA|-----BEGIN |PRIVATE KEY-----|password|token|://|\n){0,40}"
        ) {
            if matches!(mask_all(&text), Cow::Owned(_)) {
                prop_assert!(might_hold_secret(text.as_bytes()), "{:?}", text);
            }
        }

        #[test]
        fn scrub_never_panics_on_any_text(text in "\\PC{0,80}") {
            if matches!(mask_all(&text), Cow::Owned(_)) {
                prop_assert!(might_hold_secret(text.as_bytes()), "{:?}", text);
            }
        }
    }
}
