//! Running a session: interactively with a line editor (history in
//! `$KVDB_HISTORY` or `~/.kvdb_history`, completion of command names), or
//! from a script (stdin or `-c`), stopping at the first error unless told
//! to keep going.

use std::borrow::Cow;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::commands::COMMANDS;
use crate::output::print;
use crate::session::{Flow, Session};

/// Prints one line's outcome; false if it failed.
fn report(session: &mut Session, line: &str) -> (bool, Flow) {
    match session.run_line(line) {
        Ok(None) => (true, Flow::Continue),
        Ok(Some((_, Flow::Exit, _))) => (true, Flow::Exit),
        Ok(Some((reply, flow, took))) => {
            let mut out = std::io::stdout().lock();
            let printed = print(&mut out, session.format, &reply).and_then(|()| out.flush());
            if let Err(e) = printed {
                eprintln!("error: writing the reply: {e}");
                return (false, Flow::Exit);
            }
            if session.timer {
                eprintln!("time: {:.3} ms", took.as_secs_f64() * 1000.0);
            }
            (true, flow)
        }
        Err(message) => {
            eprintln!("error: {message}");
            (false, Flow::Continue)
        }
    }
}

/// Runs the lines of `input`; the exit status: 0, or 1 after the first
/// failure (or after any failure with `keep_going`).
pub(crate) fn run_script(session: &mut Session, input: impl BufRead, keep_going: bool) -> i32 {
    let mut status = 0;
    for line in input.lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("error: reading input: {e}");
                return 1;
            }
        };
        let (ok, flow) = report(session, &line);
        if !ok {
            status = 1;
            if !keep_going {
                break;
            }
        }
        if flow == Flow::Exit {
            break;
        }
    }
    warn_open_transaction(session);
    status
}

fn warn_open_transaction(session: &Session) {
    if session.in_transaction() {
        eprintln!("note: the open transaction was rolled back (no commit)");
    }
}

/// Completes the command name at the start of the line.
struct CommandNames;

impl Completer for CommandNames {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        if head.contains(char::is_whitespace) {
            return Ok((pos, Vec::new()));
        }
        let matches = COMMANDS
            .iter()
            .filter(|(name, _, _)| name.starts_with(head))
            .map(|(name, _, _)| Pair {
                display: (*name).to_string(),
                replacement: format!("{name} "),
            })
            .collect();
        Ok((0, matches))
    }
}

impl Hinter for CommandNames {
    type Hint = String;
}
impl Highlighter for CommandNames {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _: bool) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for CommandNames {}
impl Helper for CommandNames {}

fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KVDB_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kvdb_history"))
}

/// The interactive shell; returns the exit status.
pub(crate) fn run_interactive(session: &mut Session) -> i32 {
    let mut editor: Editor<CommandNames, DefaultHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: starting the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(CommandNames));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the first session: nothing to load.
        let _ = editor.load_history(path);
    }
    println!(
        "kvdb {}; type .help for the commands, .exit to leave",
        kvdb_version()
    );
    loop {
        let prompt = if session.in_transaction() {
            "kvdb*> "
        } else {
            "kvdb> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if report(session, &line).1 == Flow::Exit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: reading input: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!(
            "note: could not save the history to {}: {e}",
            path.display()
        );
    }
    warn_open_transaction(session);
    0
}

fn kvdb_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
