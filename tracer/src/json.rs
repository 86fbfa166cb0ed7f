//! A minimal JSON encoder for the hot path.
//!
//! Event records are encoded by hand into a reused buffer: serde_json's
//! `Serialize` of [`crate::format::Event`] is fine for headers and footers
//! but several times slower per event. The output must parse with
//! [`crate::format::Record::parse`] to exactly what was written; the tests
//! here check that for awkward strings.

/// What each byte becomes inside a JSON string: 0 = itself, `u` = `\u00XX`,
/// anything else = a backslash and that letter (serde_json's table).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string (with quotes), escaping like serde_json.
///
/// Nearly every string needs no escaping. From 16 bytes on (x86-64), SSE2
/// checks sixteen bytes at a time and copies them with the same loads; the
/// A/B in `benches/json_ab.rs` against [`string_scalar`] keeps it (see
/// `docs/performance.md`, "SSE2 string scan").
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    #[cfg(target_arch = "x86_64")]
    if s.len() >= 16 {
        if sse2::copy_unless_escapes(s.as_bytes(), out) {
            escaped(out, s.as_bytes());
        }
        return;
    }
    string_scalar(out, s);
}

/// [`string`] with one table lookup per byte: short strings, other
/// targets, and the baseline of the A/B.
#[inline]
pub fn string_scalar(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.iter().any(|&c| ESCAPE[c as usize] != 0) {
        escaped(out, b);
    } else {
        quoted(out, b);
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// Scans `b` (16 bytes or more) in sixteen-byte blocks, the last one
    /// overlapping its predecessor, storing each block into `out`'s spare
    /// capacity as it is scanned. If no byte needs escaping, appends the
    /// string quoted and returns `false`; else appends nothing and returns
    /// `true`.
    #[inline(always)]
    pub(super) fn copy_unless_escapes(b: &[u8], out: &mut Vec<u8>) -> bool {
        let n = b.len();
        // Room for `"`, the string and `"`; the blocks go to 1..n+1.
        out.reserve(n + 2);
        // SAFETY: within the allocation (capacity >= len + n + 2).
        let dst = unsafe { out.as_mut_ptr().add(out.len() + 1) };
        let mut escape = 0i32;
        let mut at = 0;
        loop {
            let start = at.min(n - 16);
            let Some(block) = b.get(start..).and_then(|r| r.first_chunk::<16>()) else {
                break;
            };
            // SAFETY: SSE2 is part of x86-64; the load reads exactly the 16
            // bytes of `block`; the store stays inside the `n + 2` bytes
            // reserved after `out`'s length (spare capacity, not part of
            // `out` until `set_len` below).
            unsafe {
                let v = _mm_loadu_si128(block.as_ptr().cast());
                _mm_storeu_si128(dst.add(start).cast(), v);
                // Control characters: max(v, 0x1f) == 0x1f exactly when v <= 0x1f.
                let limit = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                escape |= _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash)));
            }
            if start + 16 >= n {
                break;
            }
            at = start + 16;
        }
        if escape == 0 {
            // SAFETY: the blocks covered bytes 1..=n; the quotes fill both
            // ends, so the `n + 2` bytes after the old length are set.
            unsafe {
                *dst.sub(1) = b'"';
                *dst.add(n) = b'"';
                out.set_len(out.len() + n + 2);
            }
        }
        escape != 0
    }
}

/// Appends free text as a JSON string, like [`string`], if it holds nothing
/// [`crate::secret::scrub`] would mask. Returns `false`, writing nothing,
/// when it might: the caller then scrubs it first.
#[inline]
pub fn string_unless_secret(out: &mut Vec<u8>, s: &str) -> bool {
    if crate::secret::might_hold_secret(s.as_bytes()) {
        return false;
    }
    string(out, s);
    true
}

#[inline]
fn quoted(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    out.extend_from_slice(b);
    out.push(b'"');
}

/// The general case of [`string`]: byte by byte, copying clean runs whole.
#[cold]
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 8);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an unsigned integer in decimal.
#[inline]
pub fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `,"key":` — `key` must not need escaping (our own field names).
#[inline(always)]
pub fn push_key(out: &mut Vec<u8>, key: Key) {
    out.extend_from_slice(key.0.as_bytes());
}

/// `,"name":`, the start of an object member, spelled out at compile time
/// by [`key!`] so appending it is one fixed-size copy.
#[derive(Clone, Copy)]
pub struct Key(pub(crate) &'static str);

/// The [`Key`] of a member named by a literal: `key!("rows")` is `,"rows":`.
macro_rules! key {
    ($name:literal) => {
        $crate::json::Key(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use key;

/// Appends `,"key":"value"`.
#[inline(always)]
pub fn field_str(out: &mut Vec<u8>, k: Key, v: &str) {
    push_key(out, k);
    string(out, v);
}

/// Appends `,"key":123`.
#[inline]
pub fn field_uint(out: &mut Vec<u8>, k: Key, v: u64) {
    push_key(out, k);
    uint(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_serde_json() {
        let tricky = [
            "",
            "plain",
            "quote \" and backslash \\ and slash /",
            "newline\n tab\t cr\r bell\u{7} nul\0 esc\u{1b} del\u{7f}",
            "unicode: żółć ✓ 🚀 \u{2028}\u{2029}",
            "\u{1f}\u{0}\u{8}\u{c}",
        ];
        for s in tricky {
            let mut out = Vec::new();
            string(&mut out, s);
            let text = std::str::from_utf8(&out).unwrap();
            let back: String = serde_json::from_str(text).unwrap();
            assert_eq!(back, s);
            assert_eq!(
                text,
                serde_json::to_string(s).unwrap(),
                "same bytes as serde_json"
            );
        }
    }

    #[test]
    fn escapes_at_every_offset_match_serde_json() {
        // Each escapable byte at each position of a long string, so both the
        // eight-at-a-time scan and the byte-by-byte tail are exercised.
        let specials = ['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'ż', '🚀'];
        for special in specials {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 40] {
                for pos in 0..=len {
                    let mut s: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"[..len].into();
                    s.insert(pos, special);
                    let mut out = Vec::new();
                    string(&mut out, &s);
                    assert_eq!(
                        std::str::from_utf8(&out).unwrap(),
                        serde_json::to_string(&s).unwrap(),
                        "{s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn free_text_is_written_as_is_only_when_the_scrubber_would_not_look() {
        // Every length around the 8- and 16-byte blocks, every trigger and
        // escapable byte at every offset: `string_unless_secret` writes the
        // text (exactly as `string` would) iff the scrubber's own check
        // finds nothing.
        let pad = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
        for special in [
            "",
            ":",
            "=",
            "eyJ",
            "Bearer",
            "bEaReR",
            "J",
            "b",
            "\"",
            "\n",
            "ż",
            "AKIA",
            "-----BEGIN",
        ] {
            for len in [0usize, 1, 5, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 40] {
                for pos in 0..=len {
                    let s = format!("{}{special}{}", &pad[..pos], &pad[pos..len]);
                    let mut out = Vec::new();
                    let written = string_unless_secret(&mut out, &s);
                    let risky = crate::secret::might_hold_secret(s.as_bytes());
                    assert_eq!(written, !risky, "{s:?}");
                    if written {
                        assert_eq!(
                            std::str::from_utf8(&out).unwrap(),
                            serde_json::to_string(&s).unwrap(),
                            "{s:?}"
                        );
                    } else {
                        assert!(out.is_empty(), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn integers() {
        for v in [
            0u64,
            7,
            9,
            10,
            99,
            100,
            101,
            12345,
            999_999,
            1_000_000,
            99_999_999,
            100_000_000,
            100_000_001,
            12_345_678_901_234,
            10_000_000_000_000_000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            uint(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string());
        }
    }
}
