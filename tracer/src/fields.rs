//! An event's fields, collected by name into [`Slot`]s.
//!
//! The record encoder reads fields through [`FieldSource`], which two
//! types implement: [`Fields`], filled by `tracing`'s visitor from a plain
//! event or span, and [`HelperFields`], a typed helper's arguments,
//! borrowed. Both map a field name to its slot through the one table,
//! [`Slot::of`], so a field name means the same whichever way it arrives.

use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::json;
use crate::secret;

/// The text fields the format has a member for (or the sqlx statement
/// text). Each is stored at its index in the sources' arrays; its bit in
/// [`Common::has`] says whether the event carried it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Slot {
    Action,
    Details,
    Name,
    Table,
    Schema,
    Db,
    Message,
    Feature,
    Scenario,
    Outcome,
    Error,
    Text,
    Method,
    Path,
    /// sqlx's `summary` (the statement's first words).
    Summary,
    /// sqlx's `db.statement` (the whole statement).
    Statement,
}

impl Slot {
    const COUNT: usize = Slot::Statement as usize + 1;

    /// The one table: which slot a field name fills.
    #[inline(always)]
    pub(crate) fn of(name: &str) -> Option<Slot> {
        Some(match name {
            "action" => Slot::Action,
            "details" => Slot::Details,
            "name" => Slot::Name,
            "table" | "tables" => Slot::Table,
            "schema" => Slot::Schema,
            "db" => Slot::Db,
            "message" => Slot::Message,
            "feature" => Slot::Feature,
            "scenario" => Slot::Scenario,
            "outcome" => Slot::Outcome,
            "error" => Slot::Error,
            "text" => Slot::Text,
            "method" => Slot::Method,
            "path" => Slot::Path,
            "summary" => Slot::Summary,
            "db.statement" => Slot::Statement,
            _ => return None,
        })
    }

    /// This slot's bit in [`Common::has`].
    #[inline(always)]
    pub(crate) const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The bits of several slots, for [`FieldSource::has`].
    pub(crate) const fn bits<const N: usize>(slots: [Slot; N]) -> u32 {
        let mut mask = 0;
        let mut i = 0;
        while i < N {
            mask |= slots[i].bit();
            i += 1;
        }
        mask
    }
}

/// What the record encoder reads of an event's fields: the visitor's
/// [`Fields`], or a typed helper's [`HelperFields`] (borrowed, no copies).
pub(crate) trait FieldSource {
    /// What both sources keep alike.
    fn common(&self) -> &Common;
    /// The value in `slot`, whether or not it is present.
    fn raw(&self, slot: Slot) -> &str;
    /// Fields the format has no member for, pre-encoded (see [`Fields::extra`]).
    fn extra(&self) -> &[u8];

    /// The text field in `slot`, if present.
    #[inline(always)]
    fn get(&self, slot: Slot) -> Option<&str> {
        (self.common().has & slot.bit() != 0).then(|| self.raw(slot))
    }
    /// Whether any of the text fields in `mask` ([`Slot::bits`]) is present.
    #[inline(always)]
    fn has(&self, mask: u32) -> bool {
        self.common().has & mask != 0
    }
    #[inline(always)]
    fn rows(&self) -> Option<u64> {
        self.common().rows
    }
    #[inline(always)]
    fn status(&self) -> Option<u64> {
        self.common().status
    }
    #[inline(always)]
    fn duration_us(&self) -> Option<u64> {
        self.common().duration_us
    }
}

/// The presence flags and numbers of an event's fields, the same for both
/// [`FieldSource`]s.
#[derive(Default, Clone, Copy)]
pub(crate) struct Common {
    /// [`Slot::bit`]s of the text fields present.
    has: u32,
    rows: Option<u64>,
    status: Option<u64>,
    duration_us: Option<u64>,
}

/// Fields of one event or span, collected by name.
#[derive(Default)]
pub(crate) struct Fields {
    texts: [String; Slot::COUNT],
    // sqlx
    pub(crate) rows_affected: Option<u64>,
    pub(crate) rows_returned: Option<u64>,
    pub(crate) elapsed_secs: Option<f64>,
    /// Other fields, pre-encoded as `"k":v` pairs separated by commas.
    extra: Vec<u8>,
    /// Presence flags and the numbers the encoder reads.
    common: Common,
    /// The callsite whose field names `slots` caches: a typed helper's
    /// events come from the same few callsites, so each field's slot is
    /// looked up by name once per callsite change, not once per event.
    callsite: Option<tracing_core::callsite::Identifier>,
    /// [`Slot::of`] field `i` of `callsite`; `None` = not looked up yet.
    slots: [Option<Option<Slot>>; 8],
}

impl FieldSource for Fields {
    #[inline(always)]
    fn common(&self) -> &Common {
        &self.common
    }
    #[inline(always)]
    fn raw(&self, slot: Slot) -> &str {
        &self.texts[slot as usize]
    }
    #[inline(always)]
    fn extra(&self) -> &[u8] {
        &self.extra
    }
}

impl Fields {
    /// Forgets the last event's fields (keeping the allocations).
    pub(crate) fn clear(&mut self) {
        self.common = Common::default();
        self.rows_affected = None;
        self.rows_returned = None;
        self.elapsed_secs = None;
        self.extra.clear();
    }

    /// [`Slot::of`] `field`, cached per callsite (see `slots`).
    fn slot_of(&mut self, field: &Field) -> Option<Slot> {
        let i = field.index();
        if i >= self.slots.len() {
            return Slot::of(field.name());
        }
        let callsite = field.callsite();
        if self.callsite.as_ref() == Some(&callsite) {
            if let Some(slot) = self.slots[i] {
                return slot;
            }
        } else {
            self.callsite = Some(callsite);
            self.slots = [None; 8];
        }
        let slot = Slot::of(field.name());
        self.slots[i] = Some(slot);
        slot
    }

    #[inline(always)]
    fn set_str(&mut self, slot: Option<Slot>, name: &str, value: &str) {
        match slot {
            Some(slot) => {
                let text = &mut self.texts[slot as usize];
                text.clear();
                text.push_str(value);
                self.common.has |= slot.bit();
            }
            None => self.extra_pair(name, ExtraValue::Str(value)),
        }
    }

    #[inline]
    fn set_u64(&mut self, name: &str, v: u64) {
        match name {
            "rows" => self.common.rows = Some(v),
            "status" => self.common.status = Some(v),
            "duration_us" => self.common.duration_us = Some(v),
            "rows_affected" => self.rows_affected = Some(v),
            "rows_returned" => self.rows_returned = Some(v),
            _ => match Slot::of(name) {
                Some(slot) => self.set_str(Some(slot), name, &v.to_string()),
                None => self.extra_pair(name, ExtraValue::Num(v as i128)),
            },
        }
    }

    // Rare (fields the format has no member for): kept out of line so the
    // visitor's common path stays small.
    #[cold]
    #[inline(never)]
    fn extra_pair(&mut self, name: &str, v: ExtraValue<'_>) {
        if is_noise(name) {
            return;
        }
        if !self.extra.is_empty() {
            self.extra.push(b',');
        }
        json::string(&mut self.extra, name);
        self.extra.push(b':');
        if secret::is_secret_key(name) {
            json::string(&mut self.extra, "***");
            return;
        }
        match v {
            ExtraValue::Str(s) => json::string(&mut self.extra, &secret::scrub(s)),
            ExtraValue::Num(n) => self.extra.extend_from_slice(n.to_string().as_bytes()),
            ExtraValue::Bool(b) => self
                .extra
                .extend_from_slice(if b { b"true" } else { b"false" }),
        }
    }
}

/// sqlx's human-readable duration (its `elapsed_secs` is kept) and
/// tracing-log's metadata fields: not worth a member.
fn is_noise(name: &str) -> bool {
    name == "elapsed" || name.starts_with("log.")
}

enum ExtraValue<'a> {
    Str(&'a str),
    Num(i128),
    Bool(bool),
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = self.slot_of(field);
        self.set_str(slot, field.name(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_u64(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if value >= 0 {
            self.set_u64(field.name(), value as u64);
        } else {
            match Slot::of(field.name()) {
                Some(slot) => self.set_str(Some(slot), field.name(), &value.to_string()),
                None => self.extra_pair(field.name(), ExtraValue::Num(value as i128)),
            }
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        match field.name() {
            "elapsed_secs" => self.elapsed_secs = Some(value),
            name => self.set_str(Slot::of(name), name, &value.to_string()),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        match Slot::of(field.name()) {
            Some(slot) => self.set_str(
                Some(slot),
                field.name(),
                if value { "true" } else { "false" },
            ),
            None => self.extra_pair(field.name(), ExtraValue::Bool(value)),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        let name = field.name();
        if is_noise(name) {
            return; // before formatting it: sqlx sends `?elapsed` with every statement
        }
        match Slot::of(name) {
            Some(slot) => {
                let text = &mut self.texts[slot as usize];
                text.clear();
                let _ = write!(text, "{value:?}");
                self.common.has |= slot.bit();
            }
            None => {
                let text = format!("{value:?}");
                self.extra_pair(name, ExtraValue::Str(&text));
            }
        }
    }
}

/// A typed helper's fields, borrowed from its arguments, in the same
/// slots the visitor fills for the same fields of a plain event.
#[derive(Default)]
pub(crate) struct HelperFields<'a> {
    common: Common,
    texts: [&'a str; Slot::COUNT],
}

impl<'a> HelperFields<'a> {
    /// Sets field `name`: a helper's field name, a literal, so the lookup
    /// below folds away.
    #[inline(always)]
    pub(crate) fn put(&mut self, name: &'static str, value: impl HelperValue<'a>) {
        value.put_into(self, name);
    }

    #[inline(always)]
    fn put_str(&mut self, name: &'static str, v: &'a str) {
        let slot = Slot::of(name);
        debug_assert!(slot.is_some(), "typed helper field {name} has no slot");
        if let Some(slot) = slot {
            self.texts[slot as usize] = v;
            self.common.has |= slot.bit();
        }
    }

    #[inline(always)]
    fn put_u64(&mut self, name: &'static str, v: u64) {
        match name {
            "status" => self.common.status = Some(v),
            "duration_us" => self.common.duration_us = Some(v),
            _ => debug_assert!(false, "typed helper field {name} has no slot"),
        }
    }
}

impl FieldSource for HelperFields<'_> {
    #[inline(always)]
    fn common(&self) -> &Common {
        &self.common
    }
    #[inline(always)]
    fn raw(&self, slot: Slot) -> &str {
        self.texts[slot as usize]
    }
    #[inline(always)]
    fn extra(&self) -> &[u8] {
        &[]
    }
}

/// A value a typed helper passes to [`HelperFields::put`].
pub(crate) trait HelperValue<'a> {
    fn put_into(self, fields: &mut HelperFields<'a>, name: &'static str);
}

impl<'a> HelperValue<'a> for &'a str {
    #[inline(always)]
    fn put_into(self, fields: &mut HelperFields<'a>, name: &'static str) {
        fields.put_str(name, self);
    }
}

impl HelperValue<'_> for u64 {
    #[inline(always)]
    fn put_into(self, fields: &mut HelperFields<'_>, name: &'static str) {
        fields.put_u64(name, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_has_its_own_bit_and_a_name_that_maps_back() {
        let names = [
            "action",
            "details",
            "name",
            "table",
            "schema",
            "db",
            "message",
            "feature",
            "scenario",
            "outcome",
            "error",
            "text",
            "method",
            "path",
            "summary",
            "db.statement",
        ];
        assert_eq!(names.len(), Slot::COUNT);
        let mut seen = 0u32;
        for (i, name) in names.iter().enumerate() {
            let slot = Slot::of(name).unwrap();
            assert_eq!(slot as usize, i, "{name}");
            assert_eq!(seen & slot.bit(), 0, "{name}");
            seen |= slot.bit();
        }
        assert_eq!(Slot::of("tables"), Some(Slot::Table));
        assert_eq!(Slot::of("rows"), None);
    }

    #[test]
    fn a_helper_field_reads_back_from_its_slot_only() {
        let mut f = HelperFields::default();
        f.put("path", "/login");
        f.put("status", 200u64);
        assert_eq!(f.get(Slot::Path), Some("/login"));
        assert_eq!(f.get(Slot::Name), None);
        assert_eq!(f.status(), Some(200));
        assert!(f.has(Slot::bits([Slot::Method, Slot::Path])));
        assert!(!f.has(Slot::bits([Slot::Method, Slot::Table])));
    }
}
