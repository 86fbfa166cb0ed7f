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
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
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
pub fn uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
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
    fn integers() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            uint(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string());
        }
    }
}
