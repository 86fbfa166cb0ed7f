//! The record encoder: one event record, from its head to its closing `}\n`.
//!
//! An [`Encoder`] owns a reused buffer. [`Encoder::begin`] leaves the
//! writer's headroom (the `seq`/`ts`/`mono_ns` prefix is only known under
//! the writer's lock) and writes the members every record starts with:
//! `tid`, the scenario's identification, `step`, `action`. Callers then
//! add members, and [`Encoder::write_to`] closes the record and hands it
//! to the [`Writer`] in one piece, so a record cannot be sent unclosed or
//! closed twice.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::Action;
use crate::json::{self, Key};
use crate::scenario::ScenarioData;
use crate::writer::{start_body, Writer};

/// One record being encoded (see the module docs).
#[derive(Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts a record: `,"tid":N` + the scenario's identification (if
    /// any) + `,"step":".."` (if in a step) + `,"action":"X"`.
    #[inline(always)]
    pub(crate) fn begin(&mut self, sc: Option<&ScenarioData>, step: Option<&str>, action: Action) {
        start_body(&mut self.buf);
        push_tid(&mut self.buf);
        if let Some(sc) = sc {
            self.buf.extend_from_slice(&sc.encoded);
        }
        self.step_and_action(step, action);
    }

    /// Starts a record that names its feature and scenario itself (events
    /// of a Go-style producer without spans) instead of a scenario's id.
    pub(crate) fn begin_named(
        &mut self,
        feature: Option<&str>,
        scenario: Option<&str>,
        step: Option<&str>,
        action: Action,
    ) {
        start_body(&mut self.buf);
        push_tid(&mut self.buf);
        if let Some(v) = feature {
            self.str(json::key!("feature"), v);
        }
        if let Some(v) = scenario {
            self.str(json::key!("scenario"), v);
        }
        self.step_and_action(step, action);
    }

    #[inline(always)]
    fn step_and_action(&mut self, step: Option<&str>, action: Action) {
        if let Some(step) = step {
            self.str(json::key!("step"), step);
        }
        self.buf.extend_from_slice(action.json_member().as_bytes());
    }

    /// `,"key":"value"`.
    #[inline(always)]
    pub(crate) fn str(&mut self, key: Key, value: &str) {
        json::field_str(&mut self.buf, key, value);
    }

    /// `,"key":N`.
    #[inline(always)]
    pub(crate) fn uint(&mut self, key: Key, value: u64) {
        json::field_uint(&mut self.buf, key, value);
    }

    /// The buffer, for member writers in other modules (a resource, free
    /// text checked for secrets): they append whole members only.
    #[inline(always)]
    pub(crate) fn members(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Closes the record and returns it, headroom first, as
    /// [`Writer::write_event`] and [`Writer::finish`] take it.
    #[inline(always)]
    pub(crate) fn close(&mut self) -> &mut [u8] {
        self.buf.extend_from_slice(b"}\n");
        &mut self.buf
    }

    /// Closes the record and writes it.
    #[inline(always)]
    pub(crate) fn write_to(&mut self, writer: &Writer) {
        writer.write_event(self.close());
    }
}

/// A scenario's identification as it appears in each of its records:
/// `,"scenario_id":N,"feature":"..","scenario":".."`.
pub(crate) fn scenario_members(id: u64, feature: &str, name: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(48 + feature.len() + name.len());
    json::field_uint(&mut out, json::key!("scenario_id"), id);
    json::field_str(&mut out, json::key!("feature"), feature);
    json::field_str(&mut out, json::key!("scenario"), name);
    out.into_boxed_slice()
}

/// `,"resource":{"scope":"process","name":".."}`.
pub(crate) fn process_resource(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"resource\":{\"scope\":\"process\",\"name\":");
    json::string(out, name);
    out.push(b'}');
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the
/// cut with `…`.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// `,"tid":N` of this thread.
#[inline(always)]
fn push_tid(out: &mut Vec<u8>) {
    let written = TID_MEMBER.try_with(|(tid, len)| {
        // A fixed-size copy and a cut are cheaper than a variable-size copy.
        out.extend_from_slice(tid);
        out.truncate(out.len() - (tid.len() - usize::from(*len).min(tid.len())));
    });
    if written.is_err() {
        // Thread teardown.
        json::field_uint(out, json::key!("tid"), thread_tid());
    }
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
    /// [`tid_member`], encoded once per thread.
    static TID_MEMBER: ([u8; 28], u8) = tid_member();
}

/// `,"tid":N` of this thread (padded to a fixed size) and its length.
fn tid_member() -> ([u8; 28], u8) {
    let mut v = Vec::with_capacity(28);
    json::field_uint(&mut v, json::key!("tid"), thread_tid());
    let mut member = [b' '; 28];
    member[..v.len()].copy_from_slice(&v);
    (member, v.len() as u8)
}

/// Small per-process thread number (1, 2, ...), stable for a thread's life.
fn thread_tid() -> u64 {
    TID.try_with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TID.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
    .unwrap_or(0)
}
