//! Which of the layer's spans is current on this thread, without asking the
//! registry.
//!
//! For a contextual event, `Context::event_scope` looks the current span up
//! in the registry's slab, skips spans the layer's filter did not enable,
//! and walks the parents, each step a refcounted slab access: about 460
//! instructions per event, more than encoding the record. The layer is told
//! of every enter and exit of its own spans anyway (its per-layer filter
//! passes only those), so it mirrors the registry's per-thread span stack
//! for them here, each entry carrying the span's resolved [`Node`], and an
//! event reads the top entry ([`Current`]).
//!
//! The mirror follows the registry's rules (`SpanStack` in
//! tracing-subscriber): entering a span already on the stack pushes a
//! *duplicate* that never becomes current, and an exit removes the latest
//! entry of that span, so out-of-order exits behave the same. Entries are
//! keyed by layer instance, since several layers (dispatchers) can share a
//! thread, and their span ids are unrelated. If the mirror cannot be kept
//! (a callback re-entered while it was borrowed, thread teardown), the
//! thread falls back to the registry for good: slower, never wrong.
//!
//! Finding an entered span's node is itself a registry lookup; sqlx's
//! worker enters and exits the caller's span for every command, several
//! times per statement. So the thread remembers the entry it exited last
//! and reuses its node when that span is entered again, unless one of the
//! layer's spans closed in between ([`CLOSED`]: ids are reused only after
//! a close). The remembered entry keeps that one node (names and times, no
//! file or writer) alive until the thread's next exit.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Current, Node};

struct Entry {
    layer: u64,
    span: u64,
    duplicate: bool,
    node: Option<Arc<Node>>,
    /// [`CLOSED`] when `node` was looked up.
    closed: u64,
}

/// Counts closes of the layers' spans: after one, a span id may name
/// another span, and a remembered node is stale.
static CLOSED: AtomicU64 = AtomicU64::new(0);

struct Mirror {
    stack: RefCell<Vec<Entry>>,
    /// The entry exited last on this thread.
    last: RefCell<Option<Entry>>,
    /// Set once an enter or exit could not be mirrored on this thread.
    broken: Cell<bool>,
}

thread_local! {
    static MIRROR: Mirror = const {
        Mirror {
            stack: RefCell::new(Vec::new()),
            last: RefCell::new(None),
            broken: Cell::new(false),
        }
    };
}

/// One of the layers' spans closes (before the registry frees its id).
pub(crate) fn closed() {
    CLOSED.fetch_add(1, Ordering::Release);
}

/// Span `span` of layer `layer` was entered on this thread; `lookup`
/// finds its node when the thread does not remember it.
pub(crate) fn enter(layer: u64, span: u64, lookup: impl FnOnce() -> Option<Arc<Node>>) {
    // Loaded before the lookup: a close racing with it makes the entry
    // look stale, never the reverse.
    let closed = CLOSED.load(Ordering::Acquire);
    let remembered = MIRROR
        .try_with(|m| {
            let mut last = m.last.try_borrow_mut().ok()?;
            match last.take() {
                Some(e) if e.layer == layer && e.span == span && e.closed == closed => Some(e.node),
                other => {
                    *last = other;
                    None
                }
            }
        })
        .ok()
        .flatten();
    let node = match remembered {
        Some(node) => node,
        None => lookup(),
    };
    push(layer, span, node, closed);
}

fn push(layer: u64, span: u64, node: Option<Arc<Node>>, closed: u64) {
    let _ = MIRROR.try_with(|m| {
        let Ok(mut s) = m.stack.try_borrow_mut() else {
            m.broken.set(true);
            return;
        };
        let duplicate = s.iter().any(|e| e.layer == layer && e.span == span);
        s.push(Entry {
            layer,
            span,
            duplicate,
            node,
            closed,
        });
    });
}

/// Span `span` of layer `layer` was exited on this thread.
pub(crate) fn pop(layer: u64, span: u64) {
    let _ = MIRROR.try_with(|m| {
        let Ok(mut s) = m.stack.try_borrow_mut() else {
            m.broken.set(true);
            return;
        };
        if let Some(i) = s.iter().rposition(|e| e.layer == layer && e.span == span) {
            let e = s.remove(i);
            if let Ok(mut last) = m.last.try_borrow_mut() {
                *last = Some(e);
            }
        }
    });
}

/// Calls `f` with the current span of `layer`, or returns `None` without
/// calling it when the mirror is unreliable here (then ask the registry).
/// Nothing that can enter or exit a span may run inside `f` (it would find
/// the stack borrowed and break the mirror); the layer only encodes and
/// writes there.
#[inline(always)]
pub(crate) fn with_current<R>(layer: u64, f: impl FnOnce(Current<'_>) -> R) -> Option<R> {
    MIRROR
        .try_with(|m| {
            if m.broken.get() {
                return None;
            }
            let s = m.stack.try_borrow().ok()?;
            let current = match s.iter().rev().find(|e| e.layer == layer && !e.duplicate) {
                None => Current::None,
                Some(e) => Current::Node(e.node.as_deref()?),
            };
            Some(f(current))
        })
        .ok()
        .flatten()
}
