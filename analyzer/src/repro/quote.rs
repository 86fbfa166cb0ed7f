//! Quoting for the two languages a hint is written in: the POSIX shell
//! (the line the user pastes) and regular expressions (the name selecting
//! a scenario), so a scenario name or path is never read as syntax.

/// Quotes for a POSIX shell, only when needed.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+".contains(&b))
    {
        s.to_owned()
    } else if s.chars().any(crate::escape::needs_escape) {
        ansi_c_quote(s)
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Bash's `$'…'` quoting for a word holding control characters: they show
/// as escapes (a trace cannot rewrite the terminal through a command we
/// print), and the line still pastes back into bash as the same word.
fn ansi_c_quote(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if crate::escape::needs_escape(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if crate::escape::needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Escapes regular-expression metacharacters (Rust `regex` and Go RE2).
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
