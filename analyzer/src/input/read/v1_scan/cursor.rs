//! Reading the values of the plain shape at a position in the line:
//! strings without escapes (eight bytes at a time), non-negative integers,
//! the `resource` object and the `fields` object. Anything else is `None`,
//! and the caller leaves the line to serde.

use std::borrow::Cow;

use state_tracer_format::{Action, Resource, Scope};

use super::token::{Actions, Token};

/// Members of a resource, as [`super::M`] for events.
#[derive(Debug, Clone, Copy)]
pub(super) enum R {
    Scope,
    Db,
    Schema,
    Tables,
    Name,
}

pub(super) const RESOURCE_MEMBERS: &[(Token, R)] = &[
    (Token::new(b"\"scope\":"), R::Scope),
    (Token::new(b"\"db\":"), R::Db),
    (Token::new(b"\"schema\":"), R::Schema),
    (Token::new(b"\"tables\":"), R::Tables),
    (Token::new(b"\"name\":"), R::Name),
];

/// Bytes that end the fast scan of a string: the closing quote, an escape,
/// or a control character (which JSON forbids raw inside strings).
pub(super) static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first [`STRING_STOP`] byte, eight bytes at a time (strings
/// are most of a line, so this loop is most of the scan).
pub(super) fn string_stop(b: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTE: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASH: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACE: u64 = u64::from_ne_bytes([0x20; 8]);
    let mut chunks = b.chunks_exact(8);
    for (n, chunk) in chunks.by_ref().enumerate() {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(bytes);
        // Classic SWAR tests: a byte's high bit is set where it equals the
        // quote, the backslash, or is below 0x20. Each test is exact up to
        // its first hit (borrows only disturb higher bytes), so the lowest
        // flagged byte is the first stop byte.
        let (q, s) = (x ^ QUOTE, x ^ BACKSLASH);
        let hits =
            ((q.wrapping_sub(LO) & !q) | (s.wrapping_sub(LO) & !s) | (x.wrapping_sub(SPACE) & !x))
                & HI;
        if hits != 0 {
            return Some(n * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    let at = tail.iter().position(|&c| STRING_STOP[usize::from(c)])?;
    Some(b.len() - tail.len() + at)
}

/// A position in the line being scanned.
pub(super) struct Cursor<'a> {
    pub(super) s: &'a str,
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `c` if it is next.
    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// The next 16 bytes (zero-padded at the end of the line) as one word.
    pub(super) fn next16(&self) -> u128 {
        let rest = self.b.get(self.i..).unwrap_or_default();
        match rest.first_chunk::<16>() {
            Some(bytes) => u128::from_le_bytes(*bytes),
            None => {
                let mut bytes = [0; 16];
                bytes[..rest.len()].copy_from_slice(rest);
                u128::from_le_bytes(bytes)
            }
        }
    }

    /// Consumes a quoted action name.
    pub(super) fn action(&mut self, actions: &Actions) -> Option<Action> {
        let (len, action) = actions.find(self.next16())?;
        self.i += len;
        Some(action)
    }

    /// Consumes the token of `table` that comes next (a member's `"name":`,
    /// an action's `"NAME"`): tokens are compared as written, so an escaped
    /// or unknown name is not found. The search starts at `next`, the entry
    /// after the previous find, since writers keep one order.
    pub(super) fn token<T: Copy>(&mut self, table: &[(Token, T)], next: &mut usize) -> Option<T> {
        let word = self.next16();
        let at = (*next..table.len())
            .chain(0..*next)
            .find(|&k| table.get(k).is_some_and(|(t, _)| t.matches(word)))?;
        let &(token, value) = table.get(at)?;
        self.i += token.len;
        *next = at + 1;
        Some(value)
    }

    /// After a member or element: true on `,`, false on `close`.
    pub(super) fn list_continues(&mut self, close: u8) -> Option<bool> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// A string without escapes or control characters, borrowed from the line.
    pub(super) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = string_stop(&self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // The quotes are ASCII, so both ends are character boundaries.
        self.s.get(start..start + len)
    }

    /// A non-negative integer that fits in a `u64`, in JSON's syntax (no
    /// leading zeros). A fraction or exponent after it fails the caller's
    /// check for `,` or `}`.
    pub(super) fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v = 0u64;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        (n == 1 || (n > 1 && self.b[start] != b'0')).then_some(v)
    }

    /// `{"scope":…,"db":…,"schema":…,"tables":[…],"name":…}`, any order,
    /// `scope` required.
    pub(super) fn resource(&mut self) -> Option<Resource<'a>> {
        self.eat(b'{')?;
        let mut seen = 0u8;
        let mut next = 0;
        let mut r = Resource {
            scope: Scope::Shared,
            db: None,
            schema: None,
            tables: Vec::new(),
            name: None,
        };
        loop {
            let member = self.token(RESOURCE_MEMBERS, &mut next)?;
            match member {
                R::Scope => {
                    r.scope = match self.string()? {
                        "shared" => Scope::Shared,
                        "process" => Scope::Process,
                        _ => return None,
                    };
                }
                R::Db => r.db = Some(Cow::Borrowed(self.string()?)),
                R::Schema => r.schema = Some(Cow::Borrowed(self.string()?)),
                R::Tables => {
                    self.eat(b'[')?;
                    if self.eat(b']').is_none() {
                        loop {
                            r.tables.push(Cow::Borrowed(self.string()?));
                            if !self.list_continues(b']')? {
                                break;
                            }
                        }
                    }
                }
                R::Name => r.name = Some(Cow::Borrowed(self.string()?)),
            }
            let bit = 1u8 << member as u8;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if !self.list_continues(b'}')? {
                break;
            }
        }
        (seen & 1 << R::Scope as u8 != 0).then_some(r)
    }

    /// `fields`: an object of scalars kept as text, in order, duplicates
    /// included (as serde's `scalar_pairs` reads them). Strings, unsigned
    /// integers (whose text is what serde would print), booleans and `null`
    /// (empty text).
    #[allow(clippy::type_complexity)]
    pub(super) fn fields(&mut self) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
        self.eat(b'{')?;
        let mut out = Vec::new();
        if self.eat(b'}').is_some() {
            return Some(out);
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            let value = match *self.b.get(self.i)? {
                b'"' => self.string()?,
                b'0'..=b'9' => {
                    let start = self.i;
                    self.uint()?;
                    self.s.get(start..self.i)?
                }
                _ => self.word()?,
            };
            out.push((Cow::Borrowed(key), Cow::Borrowed(value)));
            if !self.list_continues(b'}')? {
                break;
            }
        }
        Some(out)
    }

    /// `true`, `false` or `null` (as the text `Scalar` gives them).
    pub(super) fn word(&mut self) -> Option<&'static str> {
        let rest = &self.b[self.i..];
        let (len, text) = if rest.starts_with(b"true") {
            (4, "true")
        } else if rest.starts_with(b"false") {
            (5, "false")
        } else if rest.starts_with(b"null") {
            (4, "")
        } else {
            return None;
        };
        self.i += len;
        Some(text)
    }
}
