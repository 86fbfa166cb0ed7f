//! Lines of at most the table's width: prose wrapped at spaces, and repro
//! commands continued with ` \` between shell words (never inside quotes),
//! so a wrapped command still runs when pasted.

use std::io::{self, Write};

/// Writes `text` wrapped at `width` characters: the first line after
/// `first`, the others after `rest` (an indent of the same width, usually).
/// Splits at spaces only; a word longer than a line gets a line of its own.
pub(super) fn wrapped(
    out: &mut dyn Write,
    width: u16,
    first: &str,
    rest: &str,
    text: &str,
) -> io::Result<()> {
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    fill(out, width, first, rest, "", &words)
}

/// Fills lines of at most `width` characters with `words`, the first line
/// after `first` and the others after `rest`; each line but the last ends
/// with `broken` (e.g. ` \` for a shell command), which counts in the width.
fn fill(
    out: &mut dyn Write,
    width: u16,
    first: &str,
    rest: &str,
    broken: &str,
    words: &[&str],
) -> io::Result<()> {
    let width = usize::from(width);
    let reserve = broken.chars().count();
    let mut line = String::from(first);
    let mut len = first.chars().count();
    let mut empty = true;
    for word in words {
        let n = word.chars().count();
        if !empty && len + 1 + n + reserve > width {
            writeln!(out, "{line}{broken}")?;
            line = String::from(rest);
            len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += n;
        empty = false;
    }
    writeln!(out, "{line}")
}

/// A shell command split into words at spaces outside quotes, so it can be
/// continued over lines with ` \` and still run when pasted.
fn shell_words(cmd: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let (mut start, mut quote) = (None, None::<char>);
    for (i, c) in cmd.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (None, ' ') => {
                if let Some(s) = start.take() {
                    words.push(&cmd[s..i]);
                }
            }
            (None, _) => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        words.push(&cmd[s..]);
    }
    words
}

/// A repro command: its `# comment` (what to expect) as wrapped prose
/// first, then the command, continued with ` \` where it is too long.
pub(super) fn write_command(
    out: &mut dyn Write,
    width: u16,
    indent: &str,
    cmd: &str,
) -> io::Result<()> {
    let words = shell_words(cmd);
    let comment_at = words.iter().position(|w| w.starts_with('#'));
    let (command, comment) = match comment_at {
        Some(i) => (&words[..i], Some(words[i..].join(" "))),
        None => (&words[..], None),
    };
    if let Some(c) = comment {
        let c = c.trim_start_matches('#').trim_start();
        wrapped(
            out,
            width,
            &format!("{indent}# "),
            &format!("{indent}# "),
            c,
        )?;
    }
    // Room on each broken line for a trailing ` \`.
    fill(out, width, indent, &format!("{indent}  "), " \\", command)
}
