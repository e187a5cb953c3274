//! The shell's commands: names (for completion), usage and help text.

/// Every command: name, arguments, what it does.
pub(crate) const COMMANDS: &[(&str, &str, &str)] = &[
    ("get", "KEY", "the value of KEY, or (absent)"),
    (
        "mget",
        "KEY...",
        "the value of each KEY, or (absent), all read at one moment",
    ),
    (
        "put",
        "KEY VALUE [TTL]",
        "store VALUE under KEY, expiring after TTL if given",
    ),
    (
        "putnx",
        "KEY VALUE [TTL]",
        "store only if KEY is absent; true if stored",
    ),
    ("del", "KEY", "delete KEY; true if it held a value"),
    ("exists", "KEY", "true if KEY holds a value"),
    (
        "ttl",
        "KEY",
        "time left before KEY expires, persistent, or (absent)",
    ),
    ("expire", "KEY TTL", "give KEY a TTL; false if absent"),
    ("persist", "KEY", "remove KEY's TTL; false if absent"),
    (
        "incr",
        "KEY [DELTA]",
        "add DELTA (default 1) to the decimal integer at KEY",
    ),
    (
        "cas",
        "KEY EXPECTED NEW",
        "replace the value if it equals EXPECTED: swapped, mismatch or absent",
    ),
    (
        "scan",
        "[prefix P] [from K] [to K] [limit N] [reverse]",
        "key/value pairs in key order (from included, to excluded)",
    ),
    (
        "count",
        "[prefix P] [from K] [to K]",
        "the number of keys a scan would list",
    ),
    (
        "begin",
        "",
        "start a transaction: later commands read and write through it",
    ),
    (
        "commit",
        "",
        "apply the transaction's writes atomically (or report a conflict)",
    ),
    (
        "rollback",
        "[to]",
        "discard the transaction; `rollback to`: undo to the last savepoint",
    ),
    (
        "savepoint",
        "",
        "mark a point in the transaction that `rollback to` returns to",
    ),
    (
        "checkpoint",
        "",
        "write a snapshot file and trim the log (durable databases)",
    ),
    ("sync", "", "make every acknowledged write durable now"),
    (
        "backup",
        "DIR",
        "write a consistent copy of the database into the new directory DIR",
    ),
    (
        "stats",
        "",
        "keys, versions, memory and operation counts; log and checkpoints",
    ),
    (
        "index",
        "list | create NAME (key DELIM FIELD | json FIELD | bytes OFFSET LEN | int OFFSET TYPE) [unique] | drop NAME | get NAME IKEY | scan NAME [equal K | prefix P | range LO HI] [limit N] [reverse]",
        "secondary indexes (kept for this session; TYPE is u32le, i64be, ...)",
    ),
    (".help", "", "this list"),
    (".format", "table|json|raw", "how replies are printed"),
    (".timer", "on|off", "print how long each command took"),
    (".exit", "", "leave the shell (also .quit, or end of input)"),
];

/// The help text: every command with its arguments, and how to write
/// keys, values and TTLs.
pub(crate) fn help() -> String {
    let mut text = String::new();
    for (name, args, what) in COMMANDS {
        let usage = if args.is_empty() {
            (*name).to_string()
        } else {
            format!("{name} {args}")
        };
        text.push_str(&format!("{usage}\n    {what}\n"));
    }
    text.push_str(
        "\nKeys and values: a bare word, \"text with \\n \\t \\\\ \\\" \\xHH escapes\", \
         'literal text', or x'hex'.\nTTL: a number with a unit (500ms, 10s, 5m, 2h, 1d); a bare \
         number is seconds.\n",
    );
    text
}
