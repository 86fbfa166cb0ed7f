//! Escaping trace-controlled text for terminals, CSV and Markdown.
//!
//! Names, details and headers come from trace files, which anyone who can
//! write to the trace folder controls. Printed raw, `ESC ]0;…BEL` retitles
//! the terminal, `ESC [2K` erases what the user was about to read, a CR
//! splits a Markdown row, `<script>` runs in a rendered job summary. So text
//! outputs show control and bidirectional-override characters as visible
//! escapes (`\x1b`, `\u{9b}`, `\r`, `\n`) and Markdown also escapes `<`, `>`
//! and `&`. JSON, JSONL and HTML have their own encoders and carry values
//! unchanged.

use std::borrow::Cow;

use crate::model::Report;

/// Characters that must never reach a terminal raw: C0, DEL, C1, and the
/// line/paragraph separators and bidi controls that reorder what is shown.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character shown as a visible escape; borrowed
/// when there is none (the common case costs one scan).
pub fn text(s: &str) -> Cow<'_, str> {
    // Printable ASCII (nearly every name) is decided byte by byte.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if needs_escape(c) && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// [`text`], then `&`, `<` and `>` as HTML entities: Markdown renderers
/// pass raw HTML through, so a name must not open a tag or a comment.
pub fn markdown(s: &str) -> Cow<'_, str> {
    let t = text(s);
    if !t.contains(['&', '<', '>']) {
        return t;
    }
    let mut out = String::with_capacity(t.len() + 16);
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A copy of the report with every string passed through `f`: the text
/// renderers then cannot forget a field, including explanations and
/// evidence that quote trace values. Goes through the report's own serde
/// form, so a new field is covered without touching this function.
pub fn report(r: &Report, f: fn(&str) -> Cow<'_, str>) -> Report {
    fn walk(v: &mut serde_json::Value, f: fn(&str) -> Cow<'_, str>) {
        match v {
            serde_json::Value::String(s) => {
                if let Cow::Owned(e) = f(s) {
                    *s = e;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, f)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|v| walk(v, f)),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(r) else {
        return r.clone();
    };
    walk(&mut v, f);
    // Only string contents changed, so the shape still deserializes; fall
    // back to the original rather than lose the report.
    serde_json::from_value(v).unwrap_or_else(|_| r.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(text("plain ü"), "plain ü");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            text("a\x1b]0;x\x07b\r\n\t\u{9b}2J\u{7f}\0"),
            "a\\x1b]0;x\\x07b\\r\\n\\t\\u{9b}2J\\x7f\\x00"
        );
        assert_eq!(text("\u{202e}evil\u{2028}"), "\\u{202e}evil\\u{2028}");
    }

    #[test]
    fn markdown_also_escapes_html() {
        assert_eq!(
            markdown("<script>&\x1b</script><!--"),
            "&lt;script&gt;&amp;\\x1b&lt;/script&gt;&lt;!--"
        );
    }
}
