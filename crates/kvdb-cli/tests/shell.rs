//! The `kvdb` shell driven through stdin and `-c`: every command, binary
//! data round trips, errors that stop a script (or not, with
//! --keep-going), output formats, transactions and indexes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kvdb(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvdb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a script in memory and returns stdout, asserting success.
fn script(lines: &str) -> String {
    let o = kvdb(&["shell"], lines);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn no_argument_is_an_in_memory_shell_with_a_notice() {
    let o = kvdb(&[], "put k v\nget k\n");
    assert!(o.status.success());
    assert_eq!(stdout(&o), "OK\nv\n");
    assert!(stderr(&o).contains("in-memory database"), "{}", stderr(&o));
}

#[test]
fn point_commands() {
    let out = script(
        "put k v\nget k\nexists k\nexists nope\nget nope\nputnx k other\nputnx n 1\n\
         cas k v w\ncas k v x\ncas nope a b\nget k\nincr counter\nincr counter 41\n\
         del k\ndel k\nget k\n",
    );
    assert_eq!(
        out,
        "OK\nv\ntrue\nfalse\n(absent)\nfalse\ntrue\nswapped\nmismatch\nabsent\nw\n1\n42\ntrue\nfalse\n(absent)\n"
    );
}

#[test]
fn mget_answers_each_key_in_order_in_every_format() {
    let out = script("put a 1\nput b 2\nmget a missing b\n");
    assert_eq!(out, "OK\nOK\na        1\nmissing  (absent)\nb        2\n");
    let json = kvdb(&["shell", "--format", "json"], "put a 1\nmget a missing\n");
    assert_eq!(
        stdout(&json),
        "{\"ok\":true}\n[{\"key\":\"a\",\"value\":\"1\"},{\"key\":\"missing\",\"value\":null}]\n"
    );
    let raw = kvdb(&["shell", "--format", "raw"], "put a 1\nmget missing a\n");
    assert_eq!(stdout(&raw), "\n1\n", "one line per key, empty if absent");
    let in_txn = script("put a 1\nbegin\nput a 2\nmget a b\nrollback\nmget a\n");
    assert!(in_txn.contains("a  2\nb  (absent)\n"), "{in_txn}");
    assert!(in_txn.ends_with("a  1\n"), "{in_txn}");
    let bare = kvdb(&["shell"], "mget\n");
    assert!(!bare.status.success());
    assert!(
        stderr(&bare).contains("usage: mget KEY..."),
        "{}",
        stderr(&bare)
    );
}

#[test]
fn ttl_commands() {
    let out = script(
        "put s v 1h\nttl s\npersist s\nttl s\nexpire s 10m\nttl s\nttl nope\nexpire nope 1s\nput gone v 50ms\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "OK");
    let ms = |l: &str| l.trim_end_matches(" ms").parse::<u64>().unwrap();
    assert!(
        ms(lines[1]) > 3_590_000 && ms(lines[1]) <= 3_600_000,
        "{out}"
    );
    assert_eq!(lines[2], "true");
    assert_eq!(lines[3], "persistent");
    assert_eq!(lines[4], "true");
    assert!(ms(lines[5]) > 590_000 && ms(lines[5]) <= 600_000, "{out}");
    assert_eq!(&lines[6..], ["(absent)", "false", "OK"]);
    let bad = kvdb(&["shell"], "put k v 0s\n");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("not positive"), "{}", stderr(&bad));
}

#[test]
fn binary_keys_and_values_round_trip_through_quoting() {
    // Every byte value, in a key and a value, written in each input form.
    let all: Vec<u8> = (0..=255u8).collect();
    let hex: String = all.iter().map(|b| format!("{b:02x}")).collect();
    let out = script(&format!(
        "put x'{hex}' x'{hex}'\nget x'{hex}'\nput \"tab\\there\" 'single \"quoted\"'\nscan\n"
    ));
    let lines: Vec<&str> = out.lines().collect();
    // What the shell prints reads back as the same bytes: feed it back.
    let printed_value = lines[1];
    let again = script(&format!(
        "put k {printed_value}\nget k\n.format raw\nget k\n"
    ));
    let again_lines: Vec<&str> = again.lines().collect();
    assert_eq!(again_lines[1], printed_value);
    let raw = kvdb(
        &["shell", "--format", "raw"],
        &format!("put x'{hex}' x'{hex}'\nget x'{hex}'\n"),
    );
    let mut expected = all.clone();
    expected.push(b'\n');
    assert_eq!(raw.stdout, expected);
    assert!(out.contains("\"tab\\there\""), "{out}");
    assert!(out.contains("\"single \\\"quoted\\\"\""), "{out}");
}

#[test]
fn json_format_is_machine_readable_and_binary_safe() {
    let out = script(".format json\nput k v\nget k\nput x'ff00' x'01'\nscan\nget nope\nstats\n");
    let values: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values[2], serde_json::json!("v"));
    assert_eq!(
        values[4],
        serde_json::json!([
            {"key": "k", "value": "v"},
            {"key": {"hex": "ff00"}, "value": "\u{1}"}
        ])
    );
    assert_eq!(values[5], serde_json::Value::Null);
    assert_eq!(values[6]["live_keys"], serde_json::json!(2));
    let flag = kvdb(&["shell", "--format", "json", "-c", "get nope"], "");
    assert_eq!(stdout(&flag), "null\n");
}

#[test]
fn scan_and_count_options() {
    let setup = "put a:1 1\nput a:2 2\nput a:3 3\nput b:1 4\nput \"a\\xff\" 5\n";
    let out = script(&format!(
        ".format raw\n{setup}scan prefix a:\nscan prefix a: reverse limit 2\nscan from a:2 to b:\ncount\ncount prefix a\ncount from a:3\n"
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["a:1\t1", "a:2\t2", "a:3\t3"]);
    assert_eq!(&lines[3..5], ["a:3\t3", "a:2\t2"]);
    // from a:2 to b: also holds "a\xff", which sorts after "a:3" (raw
    // output prints the byte as it is; read lossily here).
    assert_eq!(&lines[5..8], ["a:2\t2", "a:3\t3", "a\u{fffd}\t5"]);
    assert_eq!(&lines[8..], ["5", "4", "3"]);
}

#[test]
fn transactions_savepoints_and_conflicts() {
    let out = script(
        "put acct 10\nbegin\nput acct 5\nget acct\nsavepoint\nput acct 0\nrollback to\nget acct\ncommit\nget acct\n\
         begin\nput temp 1\nrollback\nget temp\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[2], "OK");
    assert_eq!(lines[3], "5");
    assert_eq!(lines[7], "5");
    assert!(lines[8].starts_with("committed at sequence"), "{out}");
    assert_eq!(lines[9], "5");
    assert_eq!(lines[12], "rolled back");
    assert_eq!(lines[13], "(absent)");
    // Inside a transaction, commands with no transactional form refuse.
    let o = kvdb(&["shell"], "begin\nincr n\n");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("does not run inside a transaction"),
        "{}",
        stderr(&o)
    );
    let o = kvdb(
        &["shell", "--keep-going"],
        "commit\nbegin\nbegin\nput k v\n",
    );
    assert!(stderr(&o).contains("no transaction is open"));
    assert!(stderr(&o).contains("already open"));
    assert!(
        stderr(&o).contains("rolled back (no commit)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn index_commands() {
    let out = script(
        ".format raw\nindex create by_city key : 1\nindex create by_age json age\n\
         index create badge int 0 u32le unique\nindex drop badge\nindex create badge int 0 u32le\nindex list\n\
         put user:paris:1 '{\"age\": 30}'\nput user:rome:2 '{\"age\": 41}'\nput user:paris:3 '{\"age\": 30}'\n\
         index scan by_city equal paris\nindex scan by_age range 30 40\nindex scan by_city prefix r\n\
         index scan by_city reverse limit 1\nindex get by_city rome\nindex drop by_age\nindex list\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["by_city", "by_age", "badge"]);
    assert_eq!(lines[3], "paris\tuser:paris:1\t{\"age\": 30}");
    assert_eq!(lines[4], "paris\tuser:paris:3\t{\"age\": 30}");
    assert!(lines[5].ends_with("\tuser:paris:1\t{\"age\": 30}"), "{out}");
    assert!(lines[6].ends_with("\tuser:paris:3\t{\"age\": 30}"), "{out}");
    assert_eq!(lines[7], "rome\tuser:rome:2\t{\"age\": 41}");
    assert_eq!(lines[8], "rome\tuser:rome:2\t{\"age\": 41}");
    assert_eq!(lines[9], "user:rome:2");
    assert_eq!(&lines[10..], ["by_city", "badge"]);

    // A unique index refuses a second record with the same index key.
    let o = kvdb(
        &["shell"],
        "index create badge int 0 u32le unique\nput a x'07000000'\nput b x'07000000'\n",
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("constraint violated"), "{}", stderr(&o));
}

#[test]
fn errors_stop_a_script_unless_told_to_keep_going() {
    let o = kvdb(&["shell"], "put a 1\nbogus\nput b 2\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown command \"bogus\""),
        "{}",
        stderr(&o)
    );
    let o = kvdb(&["shell", "--keep-going"], "put a 1\nget \"open\nget a\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unterminated"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "OK\n1\n");
    let o = kvdb(&["shell", "-c", "put a 1", "-c", "get a"], "");
    assert_eq!(stdout(&o), "OK\n1\n");
    let o = kvdb(&["shell", "-c", "get"], "");
    assert!(stderr(&o).contains("usage: get KEY"), "{}", stderr(&o));
}

#[test]
fn dot_commands_help_timer_and_exit() {
    let o = kvdb(
        &["shell"],
        ".help\n.timer on\nput k v\n.timer off\n.exit\nput never 1\n",
    );
    assert!(o.status.success());
    let out = stdout(&o);
    for name in [
        "get KEY",
        "scan [prefix P]",
        "index list",
        ".format table|json|raw",
    ] {
        assert!(out.contains(name), "help lacks {name}");
    }
    // `.timer on` and `put` are timed; `.timer off` is not.
    assert_eq!(stderr(&o).matches("time: ").count(), 2, "{}", stderr(&o));
}

#[test]
fn a_durable_shell_keeps_data_and_backs_up() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let d = dir.to_str().unwrap();
    let o = kvdb(&["shell", d], "put k v\ncheckpoint\nput k2 v2\nsync\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("snapshot at sequence 1"),
        "{}",
        stdout(&o)
    );
    let backup = root.path().join("copy");
    let o = kvdb(
        &["shell", d],
        &format!("get k2\nbackup {}\n", backup.display()),
    );
    assert!(
        stdout(&o).starts_with("v2\nbacked up 2 entries"),
        "{}",
        stdout(&o)
    );
    let o = kvdb(&["shell", backup.to_str().unwrap()], "get k\n");
    assert_eq!(stdout(&o), "v\n");
}

#[test]
fn a_shell_opened_with_a_memory_limit_evicts_by_its_policy() {
    // An operator opens a cache as the application does, with its limit:
    // writes from the shell evict instead of growing past it, and the
    // limit shows in `stats`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let mut lines = String::from(".format json\n");
    for i in 0..2_000 {
        lines.push_str(&format!("put key-{i:05} {}\n", "v".repeat(100)));
    }
    lines.push_str("stats\n");
    let o = kvdb(
        &[
            "shell",
            path,
            "--memory-limit",
            "100K",
            "--eviction",
            "allkeys-lru",
        ],
        &lines,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let stats: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(stats["memory_limit"], serde_json::json!(100 * 1024));
    assert_eq!(stats["eviction"], serde_json::json!("allkeys-lru"));
    let used = stats["memory_used"].as_u64().unwrap();
    let live = stats["live_keys"].as_u64().unwrap();
    let evicted = stats["evicted_keys"].as_u64().unwrap();
    assert!(used <= 100 * 1024, "{used} bytes used");
    assert!(
        evicted > 0 && live + evicted >= 2_000,
        "{live} live, {evicted} evicted"
    );
}

#[test]
fn a_bad_memory_limit_or_policy_is_refused_naming_it() {
    for (args, says) in [
        (
            ["shell", "--memory-limit", "12Q"],
            "\"12Q\" is not a byte count",
        ),
        (
            ["shell", "--eviction", "allkeys-mru"],
            "\"allkeys-mru\" is not one of noeviction, allkeys-lru",
        ),
    ] {
        let o = kvdb(&args, "");
        assert!(!o.status.success(), "{args:?} refused");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}
