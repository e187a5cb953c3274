//! The interactive shell on a pseudo-terminal, as a person uses it: the
//! prompt, replies, an error that does not end the session, completion of
//! command names with Tab, the transaction prompt, and history kept
//! across sessions and recalled with the Up arrow.

use std::path::Path;
use std::process::Command;

use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};

const UP: &str = "\x1b[A";

fn shell(history: &Path) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvdb"));
    cmd.arg("shell")
        .env("TERM", "xterm")
        .env("KVDB_HISTORY", history);
    let options = Options {
        timeout_ms: Some(10_000),
        strip_ansi_escape_codes: true,
    };
    let mut p = spawn_with_options(cmd, options).unwrap();
    p.exp_string("type .help").unwrap();
    p.exp_string("kvdb> ").unwrap();
    p
}

#[test]
fn a_session_with_errors_completion_transactions_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut p = shell(&history);

    p.send_line("put k \"two words\"").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line("get k").unwrap();
    p.exp_string("\"two words\"").unwrap();

    // An error is reported and the session goes on.
    p.send_line("frobnicate").unwrap();
    p.exp_string("unknown command \"frobnicate\"").unwrap();
    p.send_line("get \"unterminated").unwrap();
    p.exp_string("unterminated").unwrap();
    p.send_line("exists k").unwrap();
    p.exp_string("true").unwrap();

    // Tab completes a command name.
    p.send("sca\t").unwrap();
    p.send_line("prefix k").unwrap();
    p.exp_string("(1 pair)").unwrap();

    // The prompt shows an open transaction.
    p.send_line("begin").unwrap();
    p.exp_string("kvdb*> ").unwrap();
    p.send_line("put t 1").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line("commit").unwrap();
    p.exp_string("committed at sequence").unwrap();

    p.send_line("get x'00ff'").unwrap();
    p.exp_string("(absent)").unwrap();
    p.send_line(".exit").unwrap();
    p.exp_eof().unwrap();

    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("put k \"two words\""), "{saved}");
    assert!(saved.contains("get x'00ff'"), "{saved}");

    // A new session recalls the history: Up twice is `get x'00ff'`
    // (Up once is `.exit`).
    let mut p = shell(&history);
    for key in [UP, UP, "\r"] {
        p.send(key).unwrap();
        p.flush().unwrap();
        // Keys typed by a person arrive apart; an escape sequence must not
        // run into the next key.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    p.exp_string("(absent)").unwrap();
    p.send_line(".exit").unwrap();
    p.exp_eof().unwrap();
}
