//! Trace-controlled names carrying terminal escapes, C1 controls, line
//! breaks, bidi overrides and HTML, through every text output: none may
//! reach the terminal (or a Markdown page) raw.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use state_tracer_format::{Action, Outcome};

/// One of each class: OSC title (BEL-terminated), CSI erase, OSC 8 link
/// (ST-terminated), C1 CSI, CR, LF, TAB, NUL, DEL, bidi override, line
/// separator, and HTML that would run or hide the rest of a page.
const H: &str = "x\x1b]0;pwned\x07\x1b[2J\x1b[2K\x1b[1A\x1b]8;;http://e.invalid\x1b\\link\x1b]8;;\x1b\\\u{9b}31m\r\n\t\0\x7f\u{202e}\u{2028}<script>alert(1)</script><img src=x onerror=alert(1)><!--&|y";

fn hostile(s: &str) -> String {
    format!("{s}{H}")
}

/// A failed victim and its polluter, every name hostile, plus one line with
/// a hostile unknown action (a warning quoting it).
fn run_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (feature, victim, polluter) = (hostile("f"), hostile("v"), hostile("p"));
    let users = table(None, &hostile("users"));
    let argv = ["sh", "-c", "exit 0", H];
    let mut v = Proc::new(1, &hostile("greet")).with_command(&argv, None);
    v.start(0, 1, &feature, &victim)
        .act(10, Some(1), Action::DbInsert, Some(users.clone()))
        .act(60, Some(1), Action::DbSelect, Some(users.clone()))
        .end(70, 1, &feature, &victim, Outcome::Failed);
    let mut p = Proc::new(2, &hostile("admin")).with_command(&argv, None);
    p.start(5, 1, &feature, &polluter)
        .act(30, Some(1), Action::DbDelete, Some(users))
        .end(40, 1, &feature, &polluter, Outcome::Passed);
    v.write(dir.path());
    let path = p.write(dir.path());
    // An event with an action no tracer writes: the warning quotes it.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut odd: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    odd["action"] = hostile("ACT").into();
    lines.insert(lines.len() - 1, odd.to_string());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    dir
}

fn analyzer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(args)
        .env_remove("BDD_TRACE_DIR")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The first raw control character (other than the line feeds that end
/// lines) or bidi control in `out`, if any.
fn raw_control(out: &str) -> Option<(usize, char)> {
    out.char_indices().find(|&(_, c)| {
        c != '\n'
            && (c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'))
    })
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    if let Some((i, c)) = raw_control(&s) {
        let from = s[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
        panic!("{what}: raw {c:?} at byte {i}: …{:?}", &s[from..i]);
    }
}

#[test]
fn every_text_output_escapes_control_characters() {
    let dir = run_dir();
    let d = dir.path().to_str().unwrap();
    // A file of our own: never a device (export replaces its output file).
    let out_dir = tempfile::tempdir().unwrap();
    let chrome = out_dir.path().join("trace.json");
    let chrome = chrome.to_str().unwrap();
    let runs: &[(&str, &[&str])] = &[
        ("report table", &["report", d, "--color", "never"]),
        (
            "report table, verbose",
            &["report", d, "--color", "never", "--verbose"],
        ),
        ("report markdown", &["report", d, "--format", "markdown"]),
        ("report csv", &["report", d, "--format", "csv"]),
        ("report json (stderr)", &["report", d, "--format", "json"]),
        ("merge text", &["merge", d]),
        ("merge csv", &["merge", d, "--format", "csv"]),
        ("runs", &["runs", d]),
        ("export (stderr)", &["export", d, "-o", chrome]),
    ];
    for (what, args) in runs {
        let out = analyzer(args);
        assert!(
            out.status.code().is_some_and(|c| c <= 2),
            "{what}: {:?}",
            out.status
        );
        if !what.contains("stderr") {
            assert!(!out.stdout.is_empty(), "{what}: no output");
            assert_clean(&format!("{what} stdout"), &out.stdout);
        }
        assert_clean(&format!("{what} stderr"), &out.stderr);
    }
    // The names are still there, visibly escaped.
    let table = analyzer(&["report", d, "--color", "never"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(r"\x1b]0;pwned\x07"), "{table}");
    assert!(
        table.contains(r"\u{9b}31m\r\n\t\x00\x7f\u{202e}"),
        "{table}"
    );
    // The warning on stderr quotes the action, escaped, with its place.
    let json = analyzer(&["report", d, "--format", "json"]);
    let err = String::from_utf8_lossy(&json.stderr);
    assert!(err.contains(r"ACTx\x1b]0;pwned"), "{err}");
}

#[test]
fn markdown_passes_no_html_and_keeps_one_row_per_line() {
    let dir = run_dir();
    let out = analyzer(&[
        "report",
        dir.path().to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    let md = String::from_utf8_lossy(&out.stdout);
    // Fenced blocks show their one line literally (a command stays
    // copyable): check they hold exactly one line, then look outside them.
    let lines: Vec<&str> = md.lines().collect();
    let mut outside = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start() == "```sh" {
            assert_eq!(
                lines.get(i + 2).map(|l| l.trim_start()),
                Some("```"),
                "{md}"
            );
            i += 3;
        } else {
            outside.push(lines[i]);
            i += 1;
        }
    }
    for line in &outside {
        for tag in ["<script", "<img", "<!--", "</script"] {
            assert!(!line.contains(tag), "raw {tag} in:\n{line}");
        }
    }
    assert!(md.contains("&lt;script&gt;"), "{md}");
    // A table row starts and ends with a pipe on the same line; a CR or LF
    // in a name would split it.
    let mut rows = 0;
    for line in md.lines().filter(|l| l.starts_with('|')) {
        rows += 1;
        assert!(line.ends_with('|'), "row split: {line:?}");
        // Cells: the pipe in the names is escaped, so every row of a table
        // has as many unescaped pipes as its header.
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells >= 5, "{line:?}");
    }
    assert!(rows > 3, "{md}");
}

#[test]
fn the_consent_prompt_shows_escapes_not_terminal_commands() {
    let dir = run_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_trace-analyzer"))
        .args(["confirm", dir.path().to_str().unwrap(), "--finding", "1"])
        .arg("--dir")
        .arg(dir.path().join("confirm"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing run"), "{err}");
    assert!(
        err.contains(r"$'x\x1b]0;pwned\x07\x1b[2J\x1b[2K\x1b[1A"),
        "the argument is shown $'…'-quoted: {err}"
    );
    assert_clean("confirm stderr", &out.stderr);
    assert!(!Path::new(&dir.path().join("confirm")).exists() || out.status.code() == Some(2));
}

/// Sets the header's `cwd` of a written trace file.
fn set_cwd(path: &Path, cwd: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let mut h: serde_json::Value = serde_json::from_str(first).unwrap();
    h["cwd"] = cwd.into();
    std::fs::write(path, format!("{h}\n{rest}")).unwrap();
}

#[test]
fn the_consent_prompt_warns_about_world_writable_programs_and_missing_folders() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let prog = open.path().join("suite");
    std::fs::write(&prog, "#!/bin/sh\n").unwrap();
    let prog = prog.to_str().unwrap();
    let rerun = |prog: &str| {
        Some(state_tracer_format::Rerun {
            framework: "other".into(),
            argv: vec![prog.to_owned().into(), "{scenario}".into()],
        })
    };
    let mut v = Proc::new(1, "greet").with_command(&[prog], rerun(prog));
    v.start(0, 1, "f", "v")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "f", "v", Outcome::Failed);
    let mut p = Proc::new(2, "admin").with_command(&["./admin-suite"], rerun("./admin-suite"));
    p.start(5, 1, "f", "p")
        .act(30, Some(1), Action::DbDelete, Some(table(None, "users")))
        .end(40, 1, "f", "p", Outcome::Passed);
    v.write(dir.path());
    let gone = dir.path().join("no-such-folder");
    set_cwd(&p.write(dir.path()), gone.to_str().unwrap());
    let out = analyzer(&[
        "confirm",
        dir.path().to_str().unwrap(),
        "--finding",
        "1",
        "--dir",
        dir.path().join("confirm").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("warning: {prog} is in "))
            && err.contains("a folder any user on this machine can write to"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}, does not exist here", gone.display())),
        "{err}"
    );
}

#[test]
fn history_outputs_escape_stored_names() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("h.sqlite");
    let db = db.to_str().unwrap();
    // The same hostile scenario failing in one run and passing in another.
    for (run, outcome) in [("run-a", Outcome::Failed), ("run-b", Outcome::Passed)] {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Proc::in_run(1, &hostile("greet"), run);
        v.start(0, 1, &hostile("f"), &hostile("v"))
            .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
            .end(70, 1, &hostile("f"), &hostile("v"), outcome);
        v.write(dir.path());
        let out = analyzer(&["history", "add", dir.path().to_str().unwrap(), "--db", db]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for format in ["table", "markdown", "csv"] {
        for what in ["flaky", "runs", "pairs"] {
            let out = analyzer(&[
                "history", what, "--db", db, "--since", "all", "--format", format,
            ]);
            assert_eq!(out.status.code(), Some(0), "{what} {format}");
            assert_clean(&format!("history {what} {format}"), &out.stdout);
            assert_clean(&format!("history {what} {format} stderr"), &out.stderr);
        }
    }
    let md = analyzer(&[
        "history", "flaky", "--db", db, "--since", "all", "--format", "markdown",
    ]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains(r"\x1b]0;pwned") && md.contains("&lt;script&gt;"),
        "{md}"
    );
    assert!(!md.contains("<script"), "{md}");
}

#[test]
fn a_missing_working_folder_is_named_as_why_nothing_ran() {
    let dir = tempfile::tempdir().unwrap();
    let rerun = Some(state_tracer_format::Rerun {
        framework: "other".into(),
        argv: vec!["true".into(), "{scenario}".into()],
    });
    let mut v = Proc::new(1, "greet").with_command(&["true"], rerun.clone());
    v.start(0, 1, "f", "v")
        .act(10, Some(1), Action::DbInsert, Some(table(None, "users")))
        .act(60, Some(1), Action::DbSelect, Some(table(None, "users")))
        .end(70, 1, "f", "v", Outcome::Failed);
    let mut p = Proc::new(2, "admin").with_command(&["true"], rerun);
    p.start(5, 1, "f", "p")
        .act(30, Some(1), Action::DbDelete, Some(table(None, "users")))
        .end(40, 1, "f", "p", Outcome::Passed);
    let gone = dir.path().join("gone");
    set_cwd(&v.write(dir.path()), gone.to_str().unwrap());
    p.write(dir.path());
    let out = analyzer(&[
        "confirm",
        dir.path().to_str().unwrap(),
        "--finding",
        "1",
        "--yes",
        "--alone",
        "1",
        "--attempts",
        "1",
        "--dir",
        dir.path().join("confirm").to_str().unwrap(),
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("could not be started: its working folder")
            && !all.contains("did not select it"),
        "{all}"
    );
}
