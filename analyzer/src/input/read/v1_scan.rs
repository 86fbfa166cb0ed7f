//! A hand-written scanner for v1 event lines in the shape writers produce.
//!
//! `serde_json` dominated `report` over v1 files: a generic parser pays for
//! generality (field visitors, escape handling, error positions) on every
//! line. Writers emit one plain shape: a flat object with known members,
//! strings without escapes, non-negative integers, a `resource` object and
//! a `fields` object of scalars. This scanner reads exactly that shape into a
//! borrowed [`Event`] (no string is copied) and declines everything else by
//! returning `None`: an escape or control character in a string, whitespace
//! between tokens, `null`, a number with a sign, fraction or exponent, an
//! unknown or duplicate member, trailing bytes. The caller then parses the
//! line with serde, so the result is the same as serde's by construction: the
//! scanner only accepts lines serde parses to an equal `Event`, and leaves
//! every error message to serde.
//!
//! The parts: `token` recognises member and action names, `cursor` reads
//! the values; this file reads the event object.

mod cursor;
mod token;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use state_tracer_format::{Action, Event, Outcome, WallTimeParser};

use cursor::Cursor;
use token::{Actions, Token};

/// How the tracer starts every event line (`type` first, compact).
pub const EVENT_PREFIX: &str = r#"{"type":"event","#;

/// Per-file scanner state: the format's wall-time parser, which remembers
/// the date of the last timestamp (it changes rarely within a file, so most
/// timestamps cost a few digit conversions), and the table of action names.
#[derive(Debug)]
pub struct Scanner {
    clock: WallTimeParser,
    actions: Actions,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            clock: WallTimeParser::default(),
            actions: Actions::new(),
        }
    }
}

impl Scanner {
    /// The event on `line` (without its `\n`), or `None` when the line is
    /// not in the plain shape and must go through serde.
    pub fn event<'a>(&mut self, line: &'a str) -> Option<Event<'a>> {
        let mut c = Cursor {
            s: line,
            b: line.as_bytes(),
            i: 0,
        };
        if !line.starts_with(EVENT_PREFIX) {
            return None;
        }
        c.i = EVENT_PREFIX.len();
        let mut seen = 0u32;
        let mut next = 0;
        let mut seq = None;
        let mut ts = None;
        let mut action = None;
        // `seq`, `ts` and `action` are required: set below once seen.
        let mut e = Event::new(0, DateTime::<Utc>::UNIX_EPOCH, Action::Custom);
        loop {
            // `type` again, an escaped name or a member this version does not
            // know: serde decides (it ignores unknown members but validates them).
            let member = c.token(EVENT_MEMBERS, &mut next)?;
            match member {
                M::Seq => seq = Some(c.uint()?),
                M::Ts => ts = Some(self.clock.parse(c.string()?)?),
                M::MonoNs => e.mono_ns = c.uint()?,
                M::Tid => e.tid = c.uint()?,
                M::ScenarioId => e.scenario_id = Some(c.uint()?),
                M::Feature => e.feature = Some(Cow::Borrowed(c.string()?)),
                M::Scenario => e.scenario = Some(Cow::Borrowed(c.string()?)),
                M::Step => e.step = Some(Cow::Borrowed(c.string()?)),
                // Exactly a known name between quotes, as serde requires.
                M::Action => action = Some(c.action(&self.actions)?),
                M::Name => e.name = Some(Cow::Borrowed(c.string()?)),
                M::Resource => e.resource = Some(c.resource()?),
                M::Details => e.details = Some(Cow::Borrowed(c.string()?)),
                M::Outcome => {
                    // serde accepts exactly the upper-case names.
                    e.outcome = Some(match c.string()? {
                        "PASSED" => Outcome::Passed,
                        "FAILED" => Outcome::Failed,
                        "SKIPPED" => Outcome::Skipped,
                        _ => return None,
                    });
                }
                M::Error => e.error = Some(Cow::Borrowed(c.string()?)),
                M::DurationUs => e.duration_us = Some(c.uint()?),
                M::Rows => e.rows = Some(c.uint()?),
                M::Fields => e.fields = c.fields()?,
            }
            let bit = 1u32 << member as u32;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if !c.list_continues(b'}')? {
                break;
            }
        }
        if c.i != c.b.len() {
            return None;
        }
        e.seq = seq?;
        e.ts = ts?;
        e.action = action?;
        Some(e)
    }
}

/// Members of an event; the discriminant is the member's bit in the
/// duplicate check.
#[derive(Debug, Clone, Copy)]
enum M {
    Seq,
    Ts,
    MonoNs,
    Tid,
    ScenarioId,
    Feature,
    Scenario,
    Step,
    Action,
    Name,
    Resource,
    Details,
    Outcome,
    Error,
    DurationUs,
    Rows,
    Fields,
}

/// `"name":` of each event member, in the order writers usually put them.
const EVENT_MEMBERS: &[(Token, M)] = &[
    (Token::new(b"\"seq\":"), M::Seq),
    (Token::new(b"\"ts\":"), M::Ts),
    (Token::new(b"\"mono_ns\":"), M::MonoNs),
    (Token::new(b"\"tid\":"), M::Tid),
    (Token::new(b"\"scenario_id\":"), M::ScenarioId),
    (Token::new(b"\"feature\":"), M::Feature),
    (Token::new(b"\"scenario\":"), M::Scenario),
    (Token::new(b"\"step\":"), M::Step),
    (Token::new(b"\"action\":"), M::Action),
    (Token::new(b"\"name\":"), M::Name),
    (Token::new(b"\"resource\":"), M::Resource),
    (Token::new(b"\"details\":"), M::Details),
    (Token::new(b"\"outcome\":"), M::Outcome),
    (Token::new(b"\"error\":"), M::Error),
    (Token::new(b"\"duration_us\":"), M::DurationUs),
    (Token::new(b"\"rows\":"), M::Rows),
    (Token::new(b"\"fields\":"), M::Fields),
];

#[cfg(test)]
mod tests {
    use super::cursor::string_stop;
    use super::*;
    use crate::input::read::options::{Problems, ReadOptions};
    use crate::input::read::v1;
    use crate::input::record::{Interner, Rec};
    use crate::tools::gen::{generate, GenArgs, GenFormat};

    fn scan(line: &str) -> Option<Event<'_>> {
        Scanner::default().event(line)
    }

    fn serde(line: &str) -> Option<Event<'_>> {
        serde_json::from_str(line).ok()
    }

    /// The scanner either declines or agrees with serde.
    fn agrees(line: &str) -> bool {
        match scan(line) {
            Some(e) => serde(line).as_ref() == Some(&e),
            None => true,
        }
    }

    const SAMPLE: &str = r#"{"type":"event","seq":3,"ts":"2026-04-11T10:00:00.000200Z","mono_ns":300000,"tid":1,"scenario_id":1,"feature":"feature-0","scenario":"Scenario 0 of process 0","step":"When the user does something","action":"DB_SELECT","resource":{"scope":"shared","db":"postgres://localhost:5432/bench","tables":["users"]},"details":"SELECT id, name, email FROM users WHERE id = $1","duration_us":120,"rows":1}"#;

    #[test]
    fn the_writers_shape_is_scanned_like_serde_reads_it() {
        let e = scan(SAMPLE).expect("plain line is handled");
        assert_eq!(Some(e), serde(SAMPLE));
        let with_more = r#"{"type":"event","seq":9,"ts":"2026-04-11T23:59:59.999999Z","action":"SCENARIO_END","outcome":"FAILED","error":"boom","name":"n","resource":{"name":"jwt_secret","scope":"process"},"fields":{"method":"GET","status":200,"ok":true,"no":false,"gone":null,"k":"v","k":"w"}}"#;
        let e = scan(with_more).expect("handled");
        assert_eq!(e.fields.len(), 7);
        assert_eq!(Some(e), serde(with_more));
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        let declined = [
            // escapes, control characters, whitespace, null
            SAMPLE.replace("feature-0", r"feature\u0041"),
            SAMPLE.replace("feature-0", r#"fe\"ature"#),
            SAMPLE.replace("feature-0", "fea\tture"),
            SAMPLE.replace(r#""tid":1"#, r#""tid": 1"#),
            SAMPLE.replace(r#""tid":1"#, r#""tid":null"#),
            format!("{SAMPLE} "),
            // numbers serde would reject or read differently
            SAMPLE.replace(r#""rows":1"#, r#""rows":01"#),
            SAMPLE.replace(r#""rows":1"#, r#""rows":1.0"#),
            SAMPLE.replace(r#""rows":1"#, r#""rows":1e2"#),
            SAMPLE.replace(r#""rows":1"#, r#""rows":-1"#),
            SAMPLE.replace(r#""rows":1"#, r#""rows":18446744073709551616"#),
            // unknown, duplicate, missing members; other shapes
            SAMPLE.replace(r#""tid":1"#, r#""extra":[1,2]"#),
            SAMPLE.replace(r#""tid":1"#, r#""seq":4"#),
            SAMPLE.replace(r#""tid":1"#, r#""type":"event""#),
            SAMPLE.replace(r#""seq":3,"#, ""),
            SAMPLE.replace(r#""scope":"shared","#, ""),
            SAMPLE.replace(r#""scope":"shared""#, r#""scope":"Shared""#),
            SAMPLE.replace("DB_SELECT", "DB_EXPLODE"),
            SAMPLE.replace(r#""rows":1}"#, r#""rows":1,}"#),
            SAMPLE.replace(r#""rows":1}"#, r#""rows":1}}"#),
            SAMPLE.replace(r#""rows":1}"#, r#""rows":1,"outcome":"passed"}"#),
            SAMPLE.replace(r#""rows":1}"#, r#""rows":1,"fields":{"f":1.5}}"#),
            SAMPLE[..SAMPLE.len() - 1].to_owned(),
        ];
        for line in &declined {
            assert!(scan(line).is_none(), "should decline: {line}");
        }
    }

    #[test]
    fn other_valid_times_take_the_general_parser() {
        for ts in [
            "2026-04-11T10:00:00.5Z",
            "2026-04-11t10:00:00.000200Z",
            "2026-04-11T12:00:00.000200+02:00",
            "2026-04-11T10:00:00Z",
        ] {
            let line = SAMPLE.replace("2026-04-11T10:00:00.000200Z", ts);
            assert!(scan(&line).is_some(), "{line}");
            assert!(agrees(&line), "{line}");
        }
        for ts in [
            "2026-02-30T10:00:00.000200Z",
            "2026-04-11T24:00:00.000200Z",
            "2026-04-11T10:60:00.000200Z",
            "2026-04-11T10:00:60.000200Z",
            "2026-04-11T10:00:00.00020xZ",
            "2026-04-11 10:00:00.000200Z",
        ] {
            let line = SAMPLE.replace("2026-04-11T10:00:00.000200Z", ts);
            assert_eq!(scan(&line).is_some(), serde(&line).is_some(), "{line}");
            assert!(agrees(&line), "{line}");
        }
    }

    /// Records read through `v1::read` (scanner and serde fallback) and
    /// records from serde alone, line by line.
    fn both_ways(text: &str, full: bool) -> (Vec<Rec>, Vec<Rec>) {
        let opts = ReadOptions {
            full,
            ..ReadOptions::default()
        };
        let mut problems = Problems::new("t".into());
        let mut read = Vec::new();
        v1::read(text.as_bytes(), 0, &opts, &mut problems, &mut |r| {
            read.push(r)
        });
        let mut interner = Interner::default();
        let reference = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(EVENT_PREFIX))
            .filter_map(|(i, l)| {
                let e = serde_json::from_str::<Event<'_>>(l).ok()?;
                Some(v1::to_rec(e, 0, i as u64 + 1, full, &mut interner))
            })
            .collect();
        (read, reference)
    }

    #[test]
    fn a_generated_run_reads_the_same_as_with_serde_alone() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(&GenArgs {
            dir: dir.path().to_owned(),
            processes: 2,
            records: 3000,
            scenario_len: 50,
            pollutions: 2,
            format: GenFormat::V1,
            run_id: "scan".into(),
            sharing: 1,
            concurrency: 0,
        })
        .unwrap();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut scanner = Scanner::default();
            for line in text.lines().filter(|l| l.starts_with(EVENT_PREFIX)) {
                let fast = scanner.event(line);
                assert!(fast.is_some(), "the writer's shape is handled: {line}");
                assert_eq!(fast, serde(line), "{line}");
            }
            for full in [false, true] {
                let (read, reference) = both_ways(&text, full);
                assert!(read.len() > 3000);
                assert_eq!(read.len(), reference.len() + 1, "events + footer");
                assert_eq!(read[..reference.len()], reference[..]);
            }
        }
    }

    #[test]
    fn declined_lines_still_parse_and_bad_ones_are_reported() {
        let text = [
            SAMPLE.to_owned(),
            SAMPLE
                .replace("seq\":3", "seq\":4")
                .replace("feature-0", r"feature\u0041"),
            SAMPLE
                .replace("seq\":3", "seq\":5")
                .replace(r#""tid":1"#, r#""tid" : 1"#),
            SAMPLE
                .replace("seq\":3", "seq\":6")
                .replace("DB_SELECT", "DB_EXPLODE"),
            SAMPLE
                .replace("seq\":3", "seq\":7")
                .replace("\"rows\":1}", "\"rows\":1,\"x\":[{}]}"),
        ]
        .join("\n");
        for full in [false, true] {
            let (read, reference) = both_ways(&text, full);
            assert_eq!(read, reference);
            assert_eq!(read.len(), 4, "the unknown action is the one skipped");
            assert_eq!(read[1].feature().map(|s| &**s), full.then_some("featureA"));
        }
        let mut problems = Problems::new("t".into());
        v1::read(
            text.as_bytes(),
            0,
            &ReadOptions::default(),
            &mut problems,
            &mut |_| {},
        );
        let warnings = problems.into_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(warnings[0].line, 4);
        assert!(warnings[0].message.contains("DB_EXPLODE"), "{warnings:?}");
        // Numbers 1-2 (before the sample's 3) and 6 (the skipped line).
        assert!(
            warnings[1].message.contains("records 3 lost"),
            "{warnings:?}"
        );
    }

    #[test]
    fn every_action_name_is_found_exactly() {
        let actions = Actions::new();
        let word = |s: &str| {
            let mut b = [0u8; 16];
            let n = s.len().min(16);
            b[..n].copy_from_slice(&s.as_bytes()[..n]);
            u128::from_le_bytes(b)
        };
        for &a in Action::ALL {
            let quoted = format!("\"{a}\"");
            assert_eq!(actions.find(word(&quoted)), Some((quoted.len(), a)));
            assert_eq!(
                actions.find(word(&format!("{quoted},\"x\""))),
                Some((quoted.len(), a))
            );
            let longer = format!("\"{a}X\"");
            assert_eq!(actions.find(word(&longer)), None, "{longer}");
            let lower = quoted.to_lowercase();
            assert_eq!(actions.find(word(&lower)), None, "{lower}");
        }
        for other in [
            "\"DB_\\u0053ELECT\"",
            "DB_SELECT",
            "\"DB_SELECT",
            "\"\"",
            "\"#DB_DDL\"",
        ] {
            assert_eq!(actions.find(word(other)), None, "{other}");
        }
    }

    #[test]
    fn the_day_cache_follows_the_date() {
        let mut s = Scanner::default();
        let days = ["2026-04-11", "2026-04-11", "2026-04-12", "2025-12-31"];
        for day in days {
            let line = SAMPLE.replace("2026-04-11", day);
            let fast = s.event(&line).expect("handled");
            assert_eq!(Some(fast), serde(&line), "{line}");
        }
    }

    mod generated {
        //! Generated lines: every member in random order, strings with
        //! quotes, backslashes, unicode escapes and control characters, raw
        //! or escaped, numbers serde rejects, duplicate and unknown members.
        use super::*;
        use proptest::prelude::*;

        fn chars(hostile: bool) -> BoxedStrategy<String> {
            let plain = prop_oneof![
                6 => prop::char::range('a', 'z'),
                1 => Just(' '),
                1 => Just('/'),
                1 => Just('{'),
                1 => Just(','),
                1 => Just(':'),
                1 => Just('\u{7f}'),
                1 => Just('é'),
                1 => Just('\u{2028}'),
                1 => Just('😀'),
            ];
            let nasty = prop_oneof![
                4 => plain.clone(),
                1 => Just('"'),
                1 => Just('\\'),
                1 => Just('\n'),
                1 => Just('\u{0}'),
                1 => Just('\u{1f}'),
            ];
            let plain = prop::collection::vec(plain, 0..10).prop_map(String::from_iter);
            if !hostile {
                return plain.boxed();
            }
            // Most strings plain, so that many lines are still in the scanner's shape.
            prop_oneof![
                8 => plain,
                1 => prop::collection::vec(nasty, 1..10).prop_map(String::from_iter),
            ]
            .boxed()
        }

        /// A JSON string: raw (possibly invalid JSON), escaped by serde,
        /// or every non-alphanumeric character as a `\uXXXX` escape.
        fn text(hostile: bool) -> BoxedStrategy<String> {
            let how = if hostile {
                prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)].boxed()
            } else {
                Just(0u8).boxed()
            };
            (chars(hostile), how)
                .prop_map(|(s, how)| match how {
                    0 => format!("\"{s}\""),
                    1 => serde_json::to_string(&s).unwrap(),
                    _ => {
                        let mut out = String::from("\"");
                        for c in s.chars() {
                            if c.is_ascii_alphanumeric() {
                                out.push(c);
                            } else {
                                for u in c.encode_utf16(&mut [0; 2]) {
                                    out.push_str(&format!("\\u{u:04x}"));
                                }
                            }
                        }
                        out + "\""
                    }
                })
                .boxed()
        }

        fn uint(hostile: bool) -> BoxedStrategy<String> {
            let ok = any::<u64>().prop_map(|n| (n >> (n % 64)).to_string());
            if !hostile {
                return ok.boxed();
            }
            prop_oneof![
                20 => ok,
                1 => prop_oneof![
                    Just("01"), Just("-1"), Just("-0"), Just("1.5"), Just("2e3"), Just("1E+2"),
                    Just("null"), Just("18446744073709551616"), Just("\"7\""), Just("true"),
                ]
                .prop_map(str::to_owned),
            ]
            .boxed()
        }

        fn time(hostile: bool) -> BoxedStrategy<String> {
            // 1970 to 2100, microseconds.
            let ok = (0i64..4_102_444_800_000_000).prop_map(|us| {
                let t = DateTime::from_timestamp_micros(us).unwrap();
                format!("\"{}\"", state_tracer_format::wall_time_string(t))
            });
            if !hostile {
                return ok.boxed();
            }
            prop_oneof![
                10 => ok,
                1 => prop_oneof![
                    Just("2026-04-11T10:00:00.5Z"),
                    Just("2026-04-11t10:00:00.000200Z"),
                    Just("2026-04-11T12:00:00.000200+02:00"),
                    Just("2026-04-11 10:00:00.000200Z"),
                    Just("2026-02-29T10:00:00.000200Z"),
                    Just("2024-02-29T23:59:59.999999Z"),
                    Just("2026-04-11T24:00:00.000000Z"),
                    Just("2026-04-11T10:00:60.000000Z"),
                    Just("2026-04-11T10:00:00.000000"),
                    Just("2026-04-11T10:00:00.0000001Z"),
                    Just("yesterday"),
                ]
                .prop_map(|t| format!("\"{t}\"")),
            ]
            .boxed()
        }

        fn one_of(names: &'static [&'static str]) -> BoxedStrategy<String> {
            prop::sample::select(names)
                .prop_map(|n| format!("\"{n}\""))
                .boxed()
        }

        fn object(members: Vec<(String, String)>) -> BoxedStrategy<String> {
            Just(members)
                .prop_shuffle()
                .prop_map(|m| {
                    let inner: Vec<String> =
                        m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", inner.join(","))
                })
                .boxed()
        }

        /// Optional members, then shuffled into an object.
        fn members(
            opts: Vec<(&'static str, BoxedStrategy<String>)>,
            extra: BoxedStrategy<Vec<(String, String)>>,
        ) -> BoxedStrategy<String> {
            let picked: Vec<_> = opts
                .into_iter()
                .map(|(k, v)| {
                    prop::option::weighted(0.6, v).prop_map(move |v| v.map(|v| (k.to_owned(), v)))
                })
                .collect();
            (picked, extra)
                .prop_flat_map(|(m, extra)| object(m.into_iter().flatten().chain(extra).collect()))
                .boxed()
        }

        fn resource(h: bool) -> BoxedStrategy<String> {
            let scopes: &'static [&'static str] = if h {
                &["shared", "process", "Shared"]
            } else {
                &["shared", "process"]
            };
            let tables =
                prop::collection::vec(text(h), 0..3).prop_map(|t| format!("[{}]", t.join(",")));
            let required = one_of(scopes).prop_map(|s| vec![("scope".to_owned(), s)]);
            members(
                vec![
                    ("db", text(h)),
                    ("schema", text(h)),
                    ("tables", tables.boxed()),
                    ("name", text(h)),
                ],
                required.boxed(),
            )
        }

        fn fields(h: bool) -> BoxedStrategy<String> {
            let scalar = prop_oneof![
                4 => text(h),
                2 => uint(h),
                1 => prop_oneof![Just("true"), Just("false"), Just("null")].prop_map(str::to_owned),
            ];
            prop::collection::vec((chars(false), scalar), 0..4)
                .prop_map(|kv| {
                    let inner: Vec<String> =
                        kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", inner.join(","))
                })
                .boxed()
        }

        fn event_line(h: bool) -> BoxedStrategy<String> {
            let actions: Vec<&'static str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            let actions: &'static [&'static str] = Box::leak(actions.into_boxed_slice());
            let mut required = vec![
                ("seq".to_owned(), uint(h)),
                ("ts".to_owned(), time(h)),
                ("action".to_owned(), one_of(actions)),
            ];
            if h {
                // Unknown, duplicate and escaped-name members.
                required.push((
                    "extra".to_owned(),
                    Just("[1,{\"a\":null}]".to_owned()).boxed(),
                ));
                required.push(("seq".to_owned(), uint(h)));
                required.push(("se\\u0071".to_owned(), uint(h)));
                required.push(("action".to_owned(), one_of(&["DB_EXPLODE", "CUSTOM"])));
            }
            // The required members always; the odd ones rarely.
            let required = required
                .into_iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let v = v.prop_map(move |v| (k.clone(), v));
                    if i < 3 {
                        v.prop_map(Some).boxed()
                    } else {
                        prop::option::weighted(0.03, v).boxed()
                    }
                })
                .collect::<Vec<_>>()
                .prop_map(|m| m.into_iter().flatten().collect::<Vec<_>>());
            let outcomes: &'static [&'static str] = if h {
                &["PASSED", "FAILED", "SKIPPED", "passed"]
            } else {
                &["PASSED", "FAILED", "SKIPPED"]
            };
            members(
                vec![
                    ("mono_ns", uint(h)),
                    ("tid", uint(h)),
                    ("scenario_id", uint(h)),
                    ("feature", text(h)),
                    ("scenario", text(h)),
                    ("step", text(h)),
                    ("name", text(h)),
                    ("resource", resource(h)),
                    ("details", text(h)),
                    ("outcome", one_of(outcomes)),
                    ("error", text(h)),
                    ("duration_us", uint(h)),
                    ("rows", uint(h)),
                    ("fields", fields(h)),
                ],
                required.boxed(),
            )
            .prop_map(|obj| format!("{{\"type\":\"event\",{}", &obj[1..]))
            .boxed()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn the_scanner_declines_or_agrees_with_serde(line in event_line(true)) {
                if let Some(fast) = scan(&line) {
                    prop_assert_eq!(Some(fast), serde(&line), "{}", line);
                }
            }

            #[test]
            fn plain_lines_in_any_member_order_are_handled(line in event_line(false)) {
                let fast = scan(&line);
                prop_assert!(fast.is_some(), "{}", line);
                prop_assert_eq!(fast, serde(&line), "{}", line);
            }

            #[test]
            fn string_ends_are_found_eight_bytes_at_a_time(
                bytes in prop::collection::vec(prop_oneof![
                    4 => Just(b'a'), 1 => Just(b'"'), 1 => Just(b'\\'), 1 => Just(0x1f), 1 => Just(0x20),
                    1 => Just(0x00), 1 => Just(0x7f), 1 => Just(0x80), 1 => Just(0xff), 1 => any::<u8>(),
                ], 0..40)
            ) {
                let naive = bytes.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                prop_assert_eq!(string_stop(&bytes), naive);
            }
        }
    }
}
