//! Classified SQL statements, remembered per thread by their text.
//!
//! Classifying a statement ([`crate::sql::classify_all`]: tokenize, redact,
//! find the tables) costs about 12,000 instructions, more than everything
//! else the layer does for it together, and a suite runs the same few
//! statement texts (sqlx's prepared statements, with binds) again and
//! again. The result depends on the text alone, so each thread keeps the
//! results for the texts it saw last.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::sql::{self, Statement};

/// Texts remembered per thread; the cache starts over when it is full.
const CAPACITY: usize = 256;
/// Longer texts (setup scripts) are classified every time: rare, and not
/// worth keeping.
const MAX_TEXT: usize = 4096;

thread_local! {
    static CACHE: RefCell<HashMap<Box<str>, Rc<[Statement]>>> = RefCell::new(HashMap::new());
}

/// [`sql::classify_all`] of `text` (every statement of it), from this
/// thread's cache when it is there.
pub(crate) fn classify_all(text: &str) -> Rc<[Statement]> {
    if text.len() > MAX_TEXT {
        return sql::classify_all(text).into();
    }
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(st) = cache.get(text) {
            return Some(st.clone());
        }
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        let st: Rc<[Statement]> = sql::classify_all(text).into();
        cache.insert(text.into(), st.clone());
        Some(st)
    });
    match cached {
        Ok(Some(st)) => st,
        // Thread teardown, or re-entered: classify without the cache.
        _ => sql::classify_all(text).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_statement_is_the_one_classify_returns() {
        let texts = [
            "SELECT id FROM users WHERE id = ?",
            "INSERT INTO orders (user_id) VALUES (?)",
            "DELETE FROM sessions",
            "SET search_path TO tenant_1",
            "DELETE FROM orders; DELETE FROM users",
        ];
        for _ in 0..2 {
            for t in texts {
                assert_eq!(*classify_all(t), *sql::classify_all(t), "{t}");
            }
        }
        let again = classify_all(texts[0]);
        assert!(
            Rc::ptr_eq(&again, &classify_all(texts[0])),
            "served from the cache"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        for i in 0..(3 * CAPACITY) {
            classify_all(&format!("SELECT {i} FROM t{i}"));
        }
        CACHE.with(|c| assert!(c.borrow().len() <= CAPACITY));
    }
}
