//! What an input format provides, declared once by its reader.
//!
//! The later stages ask "does this file have a footer?", "does it name its
//! process?", not "is it v1?": each reader answers through its
//! [`TraceFormat`] impl, and [`Format::provides`] (in `read`, beside the
//! choice of parser) is the one place that maps a file's [`Format`] to it.
//! A new input format is a reader with its impl, a [`Format`] variant and
//! its arms there.
//!
//! [`Format`]: crate::discover::Format
//! [`Format::provides`]: crate::discover::Format::provides

use crate::input::read::options::LegacyTz;

/// What a trace format records, and the few format-specific questions
/// asked of a single line outside the readers.
pub trait TraceFormat: Sync {
    /// The name in reports (`processes[].format` in JSON): `v1`, `legacy`.
    fn name(&self) -> &'static str;
    /// What the format is called in messages to the user.
    fn title(&self) -> &'static str;
    /// A complete file ends with a footer, so one without it is a process
    /// that was killed or crashed.
    fn has_footer(&self) -> bool;
    /// The header names the process (a label several processes may share);
    /// otherwise a process is named by the first feature it ran.
    fn header_label(&self) -> bool;
    /// A file records its run's id; otherwise its run is its folder.
    fn records_run_id(&self) -> bool;
    /// A file records the command its process ran (argv, `rerun`), so one
    /// scenario can be replayed alone.
    fn records_command(&self) -> bool;
    /// Writes record how many rows they changed.
    fn records_rows(&self) -> bool;
    /// Files carry no database identity, and the format's model is one
    /// database they all share (so two such files do share its tables).
    fn one_shared_database(&self) -> bool;
    /// Whether `line`, which holds `SCENARIO_END` at byte `at`, records a
    /// failed scenario (a cheap check, without reading the whole file).
    fn failed_scenario_end(&self, line: &[u8], at: usize) -> bool;
    /// The time of one record line (a file's last, for `runs`), in
    /// microseconds since the epoch; `tz` reads zone-less times.
    fn line_time(&self, line: &str, tz: &LegacyTz) -> Option<i64>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::source::Format;

    /// One failed scenario end as each format writes it, at the same time.
    const V1_END: &str = r#"{"pid":101,"process":"auth","type":"event","seq":4,"ts":"2026-04-11T10:00:00.100000Z","mono_ns":0,"tid":1,"scenario_id":1,"feature":"auth","scenario":"Register","action":"SCENARIO_END","outcome":"FAILED"}"#;
    const LEGACY_END: &str = "2026-04-11T10:00:00.100000 | auth | Register | SCENARIO_END | FAILED";

    fn at(line: &str) -> usize {
        line.find("SCENARIO_END").unwrap()
    }

    #[test]
    fn both_formats_read_the_same_event_alike() {
        let utc: LegacyTz = "UTC".parse().unwrap();
        let v1 = Format::V1.provides();
        let legacy = Format::Legacy.provides();
        assert!(v1.failed_scenario_end(V1_END.as_bytes(), at(V1_END)));
        assert!(legacy.failed_scenario_end(LEGACY_END.as_bytes(), at(LEGACY_END)));
        let passed = LEGACY_END.replace("FAILED", "PASSED");
        assert!(!legacy.failed_scenario_end(passed.as_bytes(), at(&passed)));
        let t = v1.line_time(V1_END, &utc);
        assert!(t.is_some());
        assert_eq!(legacy.line_time(LEGACY_END, &utc), t);
        assert_eq!(v1.line_time("not a record", &utc), None);
    }

    #[test]
    fn names_are_the_report_names() {
        assert_eq!(Format::V1.as_str(), "v1");
        assert_eq!(Format::Legacy.as_str(), "legacy");
        // Only a format with a footer can tell a crash from a clean end.
        assert!(Format::V1.provides().has_footer());
        assert!(!Format::Legacy.provides().has_footer());
    }
}
