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
    // Thread numbers, counts: mostly one or two digits.
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    if v < 100 {
        out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
        return;
    }
    let mut buf = [0u8; 20];
    let i = decimal(v, &mut buf);
    out.extend_from_slice(&buf[i..]);
}

/// Writes `v` in decimal at the end of `buf` and returns where the digits
/// start. Eight digits at a time ([`eight_digits`]), at fixed places.
#[inline]
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> usize {
    // The lowest eight and the next eight digits, while there are more.
    for end in [20, 12] {
        if v < 100_000_000 {
            return last_digits(v as u32, buf, end);
        }
        let low = (v % 100_000_000) as u32;
        v /= 100_000_000;
        if let Some(dst) = buf.get_mut(end - 8..end) {
            dst.copy_from_slice(&eight_digits(low));
        }
    }
    // v >= 10^16: at most four digits left, in front of the sixteen.
    last_digits(v as u32, buf, 4)
}

/// Writes `v` (< 10^8, and < 10^4 when `end` is 4) without leading zeros
/// so it ends at `end`; returns where it starts.
#[inline(always)]
fn last_digits(v: u32, buf: &mut [u8; 20], end: usize) -> usize {
    let digits = eight_digits(v);
    // Leading zeros are the low bytes equal to '0' (little-endian order);
    // keep at least one digit.
    let zeros = (u64::from_le_bytes(digits) ^ 0x3030_3030_3030_3030).trailing_zeros() / 8;
    let len = 8 - (zeros as usize).min(7);
    if end >= 8 {
        // All eight at a fixed place (one move); the zeros in front of
        // `start` are not part of the result.
        if let Some(dst) = buf.get_mut(end - 8..end) {
            dst.copy_from_slice(&digits);
        }
    } else if let Some(dst) = buf.get_mut(..end) {
        dst.copy_from_slice(&digits[8 - end..]);
    }
    end.saturating_sub(len)
}

/// `v` (< 100,000,000) as exactly eight ASCII digits, computed in all lanes
/// of one 64-bit word at once: two four-digit halves, each split into two
/// pairs, each pair into two digits, by multiply-and-shift divisions that
/// are exact in these ranges (n * 5243 >> 19 = n / 100 for n < 10^4,
/// n * 103 >> 10 = n / 10 for n < 100). Little-endian lane order puts the
/// most significant digit first in memory.
#[inline(always)]
pub(crate) fn eight_digits(v: u32) -> [u8; 8] {
    let v = u64::from(v);
    let halves = (v / 10_000) | ((v % 10_000) << 32);
    let hundreds = ((halves * 5243) >> 19) & 0x0000_007F_0000_007F;
    let pairs = hundreds | ((halves - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let digits = tens | ((pairs - tens * 10) << 8);
    (digits | 0x3030_3030_3030_3030).to_le_bytes()
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
    fn decimal_matches_to_string() {
        let mut values: Vec<u64> = vec![0, 9, 10, 99, 100, u64::MAX, u64::MAX - 1];
        for p in 0..20 {
            let t = 10u64.pow(p);
            values.extend([t - 1, t, t + 1, t.wrapping_mul(7) / 3]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let mut buf = [b'#'; 20];
            let start = decimal(v, &mut buf);
            assert_eq!(&buf[start..], v.to_string().as_bytes(), "{v}");
        }
    }

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
