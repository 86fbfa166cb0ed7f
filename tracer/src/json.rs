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
/// Runs of bytes that need no escaping (nearly all of them) are found eight
/// at a time and copied in one go.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let esc = ESCAPE[b as usize];
        if esc != 0 {
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
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is zero (exact, the classic bit trick).
#[inline]
pub(crate) const fn has_zero_byte(w: u64) -> bool {
    w.wrapping_sub(ONES) & !w & HIGHS != 0
}

/// Whether any byte of `w` equals `b`.
#[inline]
pub(crate) const fn has_byte(w: u64, b: u8) -> bool {
    has_zero_byte(w ^ (ONES * b as u64))
}

/// Whether any of the eight bytes is a control character, `"` or `\\`.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    // Bytes below 0x20: subtracting 0x20 borrows into the high bit, and
    // `!w` keeps it only for bytes that were below 0x80.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0;
    control || has_byte(w, b'"') || has_byte(w, b'\\')
}

/// Appends an unsigned integer in decimal.
#[inline]
pub fn uint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let i = decimal(v, &mut buf);
    out.extend_from_slice(&buf[i..]);
}

/// Writes `v` in decimal at the end of `buf`, two digits per step, and
/// returns where the digits start.
#[inline]
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> usize {
    static PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    i
}

/// Appends `,"key":` — `key` must not need escaping (our own field names).
#[inline]
pub fn key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `,"key":"value"`.
#[inline]
pub fn field_str(out: &mut Vec<u8>, k: &str, v: &str) {
    key(out, k);
    string(out, v);
}

/// Appends `,"key":123`.
#[inline]
pub fn field_uint(out: &mut Vec<u8>, k: &str, v: u64) {
    key(out, k);
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
            u64::MAX,
        ] {
            let mut out = Vec::new();
            uint(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string());
        }
    }
}
