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
/// Nearly every string needs no escaping; that case is one pass that
/// checks and copies at once.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    string_checked::<false>(out, s);
}

/// Appends free text as a JSON string, like [`string`], in the same single
/// pass that makes sure it holds nothing [`crate::secret::scrub`] would
/// mask. Returns `false`, writing nothing, when it might: the caller then
/// scrubs it first.
#[inline]
pub fn string_unless_secret(out: &mut Vec<u8>, s: &str) -> bool {
    string_checked::<true>(out, s)
}

/// [`string`], and (if `SECRETS`) nothing written and `false` where a
/// secret may start.
#[inline(always)]
fn string_checked<const SECRETS: bool>(out: &mut Vec<u8>, s: &str) -> bool {
    let b = s.as_bytes();
    #[cfg(target_arch = "x86_64")]
    if b.len() >= 16 {
        // Copied while scanned, if clean.
        let found = sse2::scan::<SECRETS>(b, Some(out));
        if found.escape && !found.secret {
            escaped(out, b);
        }
        return !found.secret;
    }
    let found = scan::<SECRETS>(b);
    if found.secret {
        return false;
    }
    if !found.escape {
        quoted(out, b);
    } else {
        escaped(out, b);
    }
    true
}

/// What one pass over a string found.
#[derive(Debug, PartialEq)]
struct Scan {
    /// Some byte needs escaping.
    escape: bool,
    /// (Only looked for when asked.) Something [`crate::secret::scrub`]
    /// may mask starts here.
    secret: bool,
}

/// One pass over `b` for bytes that need escaping and (if `SECRETS`) for
/// the starts of secrets. Sixteen bytes at a time with SSE2 (always there
/// on x86-64) when there are that many, else eight at a time.
#[inline(always)]
fn scan<const SECRETS: bool>(b: &[u8]) -> Scan {
    #[cfg(target_arch = "x86_64")]
    if b.len() >= 16 {
        return sse2::scan::<SECRETS>(b, None);
    }
    if b.len() < 16 {
        // Short strings (names, most values): a table lookup per byte.
        let mut class = 0;
        for &c in b {
            class |= CLASS[c as usize];
        }
        let secret = SECRETS
            && class & TRIGGER != 0
            && (0..b.len()).any(|i| crate::secret::suspicious_at(b, i));
        return Scan {
            escape: class & NEEDS_ESCAPE != 0,
            secret,
        };
    }
    let mut escape = 0;
    for (at, w) in words(b) {
        escape |= escape_bytes(w);
        if SECRETS {
            let triggers = crate::secret::trigger_bytes(w);
            if triggers != 0 && crate::secret::suspicious_in_word(b, at, triggers) {
                return Scan {
                    escape: escape != 0,
                    secret: true,
                };
            }
        }
    }
    Scan {
        escape: escape != 0,
        secret: false,
    }
}

const NEEDS_ESCAPE: u8 = 1;
const TRIGGER: u8 = 2;

/// Per byte: [`NEEDS_ESCAPE`] (see [`ESCAPE`]) and [`TRIGGER`] (a byte
/// `crate::secret::trigger_bytes` marks).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        if ESCAPE[i] != 0 {
            t[i] |= NEEDS_ESCAPE;
        }
        if matches!(i as u8, b':' | b'=' | b'J' | b'b' | b'B') {
            t[i] |= TRIGGER;
        }
        i += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// [`super::scan`] for 16 bytes or more: sixteen-byte blocks, the last
    /// one overlapping its predecessor. With `out`, each block is also
    /// stored into `out`'s spare capacity as it is scanned, and if the
    /// string turns out clean (nothing to escape, no secret) it is appended
    /// quoted, so the usual case reads the string once and copies it with
    /// the same loads.
    #[inline(always)]
    pub(super) fn scan<const SECRETS: bool>(
        b: &[u8],
        mut out: Option<&mut Vec<u8>>,
    ) -> super::Scan {
        let n = b.len();
        // Room for `"`, the string and `"`; the blocks are stored at 1..n+1.
        let dst = out.as_deref_mut().map(|o| {
            o.reserve(n + 2);
            // SAFETY: within the allocation (capacity >= len + n + 2).
            unsafe { o.as_mut_ptr().add(o.len() + 1) }
        });
        let mut escape = 0u32;
        let mut at = 0;
        loop {
            let start = at.min(n - 16);
            let Some(block) = b.get(start..).and_then(|r| r.first_chunk::<16>()) else {
                break;
            };
            // SAFETY: SSE2 is part of x86-64; the load reads exactly the 16
            // bytes of `block` (unaligned loads are allowed).
            let v = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
            if let Some(dst) = dst {
                // SAFETY: `start + 16 <= n`, so the store stays inside the
                // `n + 2` bytes reserved after `out`'s length; spare
                // capacity may be written freely (it is not part of `out`
                // until `set_len` below).
                unsafe { _mm_storeu_si128(dst.add(start).cast(), v) };
            }
            let (esc, trig) = block_masks::<SECRETS>(v, start + 16 < n);
            escape |= esc;
            if SECRETS && trig != 0 && crate::secret::suspicious_in_mask(b, start, trig) {
                return super::Scan {
                    escape: escape != 0,
                    secret: true,
                };
            }
            if start + 16 >= n {
                break;
            }
            at = start + 16;
        }
        if let (Some(out), Some(dst), 0) = (out, dst, escape) {
            // SAFETY: the quotes go at the two reserved ends; bytes 1..=n
            // were all stored above (the blocks cover the whole string), so
            // the `n + 2` bytes after the old length are initialised.
            unsafe {
                *dst.sub(1) = b'"';
                *dst.add(n) = b'"';
                out.set_len(out.len() + n + 2);
            }
        }
        super::Scan {
            escape: escape != 0,
            secret: false,
        }
    }

    /// Bit `k` set in the first mask if byte `k` needs escaping, in the
    /// second if it may start something [`crate::secret::scrub`] masks:
    /// `:`, `=`, `J`, or `b`/`B` followed by `e`/`E` (the start of
    /// `bearer`; a `b` in the last lane counts if `more` blocks follow, as
    /// its next byte is in the next one).
    #[inline(always)]
    fn block_masks<const SECRETS: bool>(v: __m128i, more: bool) -> (u32, u32) {
        // SAFETY: SSE2 is part of x86-64; these only compute on registers.
        unsafe {
            let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            // Control characters: max(v, 0x1f) == 0x1f exactly when v <= 0x1f.
            let limit = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let escape = _mm_or_si128(control, _mm_or_si128(eq(b'"'), eq(b'\\')));
            let escape = _mm_movemask_epi8(escape) as u32;
            if !SECRETS {
                return (escape, 0);
            }
            let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let bees = _mm_movemask_epi8(_mm_cmpeq_epi8(folded, _mm_set1_epi8(b'b' as i8))) as u32;
            let ees = _mm_movemask_epi8(_mm_cmpeq_epi8(folded, _mm_set1_epi8(b'e' as i8))) as u32;
            let others =
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(eq(b':'), eq(b'=')), eq(b'J'))) as u32;
            let next_unseen = if more { 0x8000 } else { 0 };
            (escape, others | (bees & ((ees >> 1) | next_unseen)))
        }
    }
}

/// `(offset, word)` for words covering all of `b`: eight-byte words, the
/// last one overlapping its predecessor (so no byte is missed and no
/// partial word is assembled), or, for fewer than eight bytes, one word
/// padded with `a` (which no caller looks for). Bytes are little-endian:
/// byte `k` of the word is `b[offset + k]`.
#[inline(always)]
pub(crate) fn words(b: &[u8]) -> Words<'_> {
    Words { b, at: 0 }
}

pub(crate) struct Words<'a> {
    b: &'a [u8],
    at: usize,
}

impl Iterator for Words<'_> {
    type Item = (usize, u64);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, u64)> {
        let at = self.at;
        if let Some(w) = self.b.get(at..).and_then(|r| r.first_chunk::<8>()) {
            self.at = at + 8;
            return Some((at, u64::from_le_bytes(*w)));
        }
        let len = self.b.len();
        if at >= len {
            return None;
        }
        // A tail of 1..=7 bytes: covered now.
        self.at = len;
        if let Some(w) = len
            .checked_sub(8)
            .and_then(|s| self.b[s..].first_chunk::<8>())
        {
            return Some((len - 8, u64::from_le_bytes(*w)));
        }
        let mut w = [b'a'; 8];
        for (slot, &byte) in w.iter_mut().zip(self.b) {
            *slot = byte;
        }
        Some((0, u64::from_le_bytes(w)))
    }
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

pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `w` set (every zero byte is marked;
/// a byte just above a zero byte may be marked too, never one below the
/// lowest).
#[inline]
pub(crate) const fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// [`zero_bytes`] of the bytes equal to `b`.
#[inline]
pub(crate) const fn bytes_equal(w: u64, b: u8) -> u64 {
    zero_bytes(w ^ (ONES * b as u64))
}

/// Whether any byte of `w` is zero (exact, the classic bit trick).
#[cfg(test)]
const fn has_zero_byte(w: u64) -> bool {
    zero_bytes(w) != 0
}

/// Whether any byte of `w` equals `b`.
#[cfg(test)]
const fn has_byte(w: u64, b: u8) -> bool {
    has_zero_byte(w ^ (ONES * b as u64))
}

/// Non-zero when one of the eight bytes may be a control character, `"`
/// or `\\` (exact as a yes/no).
#[inline]
fn escape_bytes(w: u64) -> u64 {
    // Bytes below 0x20: subtracting 0x20 borrows into the high bit, and
    // `!w` keeps it only for bytes that were below 0x80.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    control | bytes_equal(w, b'"') | bytes_equal(w, b'\\')
}

/// Whether any of the eight bytes is a control character, `"` or `\\`.
#[cfg(test)]
fn word_needs_escape(w: u64) -> bool {
    escape_bytes(w) != 0
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
            "", ":", "=", "eyJ", "Bearer", "bEaReR", "J", "b", "\"", "\n", "ż",
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
    fn byte_tricks_find_exactly_the_bytes_asked_for() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                let w = u64::from_le_bytes(w);
                assert_eq!(has_byte(w, b'"'), b == b'"');
                assert_eq!(word_needs_escape(w), ESCAPE[b as usize] != 0, "{b:#x}");
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
