//! Fixed words recognised in one step: a member name or a quoted action
//! name is compared with the next 16 bytes of the line as one `u128`, and
//! the action names sit in a small hash table keyed the same way.

use state_tracer_format::Action;

/// Up to 16 bytes of fixed text, compared with the next 16 bytes of a line
/// in one step (a `memcmp` call per member name cost more than the rest of
/// the member).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) word: u128,
    pub(super) mask: u128,
    pub(super) len: usize,
}

impl Token {
    /// A token for `text`; text over 16 bytes never matches.
    pub(super) const fn new(text: &[u8]) -> Token {
        let (mut word, mut mask, mut i) = (0u128, 0u128, 0);
        while i < text.len() && i < 16 {
            word |= (text[i] as u128) << (8 * i);
            mask |= 0xff << (8 * i);
            i += 1;
        }
        Token {
            word,
            mask,
            len: text.len(),
        }
    }

    /// Whether `next`, the following 16 bytes, start with the token. The
    /// zero padding at the end of a line never matches: tokens hold no NUL.
    pub(super) fn matches(&self, next: u128) -> bool {
        self.len <= 16 && (next ^ self.word) & self.mask == 0
    }
}

/// Every action's `"NAME"` (quotes included) in a small open-addressing
/// hash table: actions vary from line to line, and a linear search through
/// two dozen names cost more than the rest of the member.
#[derive(Debug)]
pub(super) struct Actions {
    /// (token word, token length, action); length 0 marks a free slot.
    pub(super) slots: [(u128, usize, Action); ACTION_SLOTS],
}

pub(super) const ACTION_SLOTS: usize = 64;

impl Actions {
    pub(super) fn new() -> Actions {
        let mut t = Actions {
            slots: [(0, 0, Action::Custom); ACTION_SLOTS],
        };
        for &a in Action::ALL {
            let token = Token::new(format!("\"{}\"", a.as_str()).as_bytes());
            // Longer names are left to serde (none is today).
            if token.len <= 16 {
                let mut h = Self::hash(token.word);
                while t.slots[h].1 != 0 {
                    h = (h + 1) % ACTION_SLOTS;
                }
                t.slots[h] = (token.word, token.len, a);
            }
        }
        t
    }

    pub(super) fn hash(word: u128) -> usize {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let x = (word as u64) ^ ((word >> 64) as u64).wrapping_mul(K);
        (x.wrapping_mul(K) >> 58) as usize % ACTION_SLOTS
    }

    /// The action whose quoted name starts `next` (the next 16 bytes of
    /// the line), and the name's length with quotes.
    pub(super) fn find(&self, next: u128) -> Option<(usize, Action)> {
        const LO: u128 = u128::from_ne_bytes([0x01; 16]);
        const HI: u128 = u128::from_ne_bytes([0x80; 16]);
        const QUOTES: u128 = u128::from_ne_bytes([b'"'; 16]);
        if next as u8 != b'"' {
            return None;
        }
        // The closing quote, by the SWAR zero-byte test (as in
        // `string_stop`); byte 0, the opening quote, is masked out first so
        // that it cannot borrow into the bytes after it.
        let q = (next ^ QUOTES) | 0xff;
        let hits = q.wrapping_sub(LO) & !q & HI;
        if hits == 0 {
            return None;
        }
        let len = (hits.trailing_zeros() / 8) as usize + 1;
        let key = if len == 16 {
            next
        } else {
            next & ((1u128 << (8 * len)) - 1)
        };
        let mut h = Self::hash(key);
        loop {
            let (word, n, action) = *self.slots.get(h)?;
            if n == 0 {
                return None;
            }
            if n == len && word == key {
                return Some((len, action));
            }
            h = (h + 1) % ACTION_SLOTS;
        }
    }
}
