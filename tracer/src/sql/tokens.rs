//! Lexing SQL for [`super`]: tokens, where statements end, and the text
//! with literals replaced by `?`.
//!
//! Kept apart from the keyword rules so that everything that must know
//! about string literals, quoted names, comments and dollar quotes (and so
//! about where a `;` really ends a statement) is in one place.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// Keyword or bare identifier, upper-cased for keywords checks; `raw` kept.
    Word(String),
    /// Quoted identifier (case kept) and its opening quote: `"`, `` ` `` or
    /// `[`. SQLite also reads `"text"` as a string literal when no column
    /// has that name, so a `"`-quoted token may be a value.
    Quoted(String, u8),
    /// A literal (string, number, blob) — replaced by `?` in the redacted text.
    Literal,
    /// `?`, `$1`, `:name`, `@p1`.
    Placeholder(String),
    Punct(char),
}

pub(super) fn tokenize(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // 'it''s' — doubled quotes stay inside; E'..' backslashes too.
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Literal);
            }
            b'$' if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Placeholder(sql[start..i].to_owned()));
            }
            b'$' => {
                // Dollar quoting: $tag$ ... $tag$
                let start = i;
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'$' {
                    let tag = &sql[start..=j];
                    match sql[j + 1..].find(tag) {
                        Some(end) => i = j + 1 + end + tag.len(),
                        None => i = b.len(),
                    }
                    out.push(Tok::Literal);
                } else {
                    out.push(Tok::Punct('$'));
                    i += 1;
                }
            }
            b'"' | b'`' | b'[' => {
                let close = match c {
                    b'[' => b']',
                    other => other,
                };
                let start = i + 1;
                let mut name = String::new();
                i += 1;
                let mut seg = start;
                while i < b.len() {
                    if b[i] == close {
                        if close != b']' && b.get(i + 1) == Some(&close) {
                            name.push_str(&sql[seg..=i]);
                            i += 2;
                            seg = i;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                name.push_str(&sql[seg..i.min(b.len())]);
                i += 1;
                out.push(Tok::Quoted(name, c));
            }
            b'?' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Placeholder(sql[start..i].to_owned()));
            }
            b':' | b'@' if b.get(i + 1).is_some_and(|d| d.is_ascii_alphabetic()) => {
                // `::type` casts are two colons; `:name`/`@name` are parameters.
                if c == b':' && i > 0 && b[i - 1] == b':' {
                    out.push(Tok::Punct(':'));
                    i += 1;
                    continue;
                }
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Placeholder(sql[start..i].to_owned()));
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                // Numbers, including 1e10, 0x1F, 3.14.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Tok::Literal);
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &sql[start..i];
                // X'..', E'..', B'..', N'..' prefixes belong to the literal.
                if i < b.len() && b[i] == b'\'' && word.len() == 1 {
                    continue;
                }
                out.push(Tok::Word(word.to_owned()));
            }
            _ => {
                // Multi-byte chars outside words are skipped as punctuation.
                let ch = sql[i..].chars().next().unwrap_or('?');
                out.push(Tok::Punct(ch));
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// The statement's text with every literal as `?`. A `"`-quoted token is
/// kept only when it names one of `names` (a table or schema the statement
/// touches): anywhere else SQLite may read it as a string literal, so it
/// could be an inlined value.
pub(super) fn redact(tokens: &[Tok], names: &[String]) -> String {
    let mut out = String::new();
    for t in tokens {
        let text: std::borrow::Cow<'_, str> = match t {
            Tok::Word(w) => w.as_str().into(),
            Tok::Quoted(q, b'"') if !names.iter().any(|n| n.split('.').any(|p| p == q)) => {
                "?".into()
            }
            Tok::Quoted(q, _) => format!("\"{}\"", q.replace('"', "\"\"")).into(),
            Tok::Literal => "?".into(),
            Tok::Placeholder(p) => p.as_str().into(),
            Tok::Punct(c) => c.to_string().into(),
        };
        let tight_before = matches!(t, Tok::Punct(',' | ')' | ';' | '.' | ':'));
        let tight_after_prev = out.ends_with('(') || out.ends_with('.') || out.ends_with(':');
        if !out.is_empty() && !tight_before && !tight_after_prev {
            out.push(' ');
        }
        out.push_str(&text);
    }
    out
}

pub(super) fn kw(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Word(w)) => Some(w.to_ascii_uppercase()),
        _ => None,
    }
}

pub(super) fn ident(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
        Some(Tok::Quoted(q, _)) => Some(q.clone()),
        _ => None,
    }
}

/// A possibly schema-qualified name starting at `i`; returns it and the index after it.
pub(super) fn qualified_name(toks: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut name = ident(toks.get(i))?;
    i += 1;
    while matches!(toks.get(i), Some(Tok::Punct('.'))) {
        match ident(toks.get(i + 1)) {
            Some(part) => {
                name.push('.');
                name.push_str(&part);
                i += 2;
            }
            None => break,
        }
    }
    Some((name, i))
}

/// The statements of a token list, split at top-level `;`. Inside `CREATE
/// TRIGGER`/`FUNCTION`/`PROCEDURE`, a `BEGIN ... END` body (with `CASE ...
/// END` nested in it) holds semicolons of its own and is not split.
pub(super) fn split_statements(all: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut depth = 0u32;
    let mut block_body = false;
    for (i, t) in all.iter().enumerate() {
        if i == start {
            block_body = defines_block(&all[start..]);
        }
        match t {
            Tok::Punct(';') if depth == 0 => {
                if i > start {
                    out.push(&all[start..i]);
                }
                start = i + 1;
            }
            Tok::Word(w) if block_body => {
                if w.eq_ignore_ascii_case("BEGIN") || w.eq_ignore_ascii_case("CASE") {
                    depth += 1;
                } else if w.eq_ignore_ascii_case("END") {
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
    if start < all.len() {
        out.push(&all[start..]);
    }
    out
}

/// Whether the statement starting here is `CREATE [OR REPLACE] [TEMP]
/// TRIGGER|FUNCTION|PROCEDURE`, whose body may hold `;`.
fn defines_block(toks: &[Tok]) -> bool {
    if kw(toks.first()).as_deref() != Some("CREATE") {
        return false;
    }
    toks.iter()
        .skip(1)
        .take(4)
        .filter_map(|t| kw(Some(t)))
        .any(|k| matches!(k.as_str(), "TRIGGER" | "FUNCTION" | "PROCEDURE"))
}
