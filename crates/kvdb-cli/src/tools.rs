//! Tools on a database directory that is not open elsewhere: stats, dump,
//! load, backup and restore. Those that only read (stats, dump, backup)
//! load the directory into memory the way recovery reads it, so they write
//! and repair nothing there.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvdb::{Batch, Db, ManualClock, Options};
use serde_json::{Value, json};

use crate::bytes::{from_json, to_json};
use crate::output::{Format, Reply, print};

/// Records per batch when loading.
const LOAD_BATCH: usize = 1000;

/// A tool's failure: the message printed before exiting with status 1.
pub(crate) type ToolResult = Result<(), String>;

fn read_only(dir: &Path) -> Result<(Db, kvdb::RecoveryReport), String> {
    Db::open_in_memory_from(dir, Options::manual_maintenance())
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// `kvdb stats DIR`: what the directory holds and what loading it found.
pub(crate) fn stats(dir: &Path, format: Format) -> ToolResult {
    let (db, report) = read_only(dir)?;
    let s = db.stats();
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        files.push(json!({"name": entry.file_name().to_string_lossy(), "bytes": len}));
    }
    let fields = vec![
        ("live_keys".to_string(), json!(s.live_keys)),
        ("bytes_in_memory".into(), json!(s.bytes)),
        ("sequence".into(), json!(report.last_seq)),
        ("snapshot_seq".into(), json!(report.snapshot_seq)),
        ("snapshot_entries".into(), json!(report.snapshot_entries)),
        ("log_records".into(), json!(report.wal_records_applied)),
        (
            "log_records_in_snapshot".into(),
            json!(report.wal_records_skipped),
        ),
        (
            "log_segments_in_snapshot".into(),
            json!(report.wal_segments_skipped),
        ),
        ("files".into(), Value::Array(files)),
    ];
    print(
        &mut std::io::stdout().lock(),
        format,
        &Reply::Fields(fields),
    )
    .map_err(|e| e.to_string())
}

/// `kvdb dump DIR`: every live record as a JSON line `{"key", "value"[,
/// "expires_at_ms"]}`; keys and values are strings when UTF-8, otherwise
/// `{"hex": "..."}`; expiry is absolute, in Unix milliseconds.
pub(crate) fn dump(dir: &Path, out: &mut dyn Write) -> ToolResult {
    let (db, _) = read_only(dir)?;
    let mut cursor = db.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
        let mut line = json!({"key": to_json(key), "value": to_json(value)});
        if let Some(at) = cursor.expires_at() {
            line["expires_at_ms"] = json!(at);
        }
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        cursor.next();
    }
    out.flush().map_err(|e| e.to_string())
}

/// `kvdb load DIR FILE`: puts every record of a dump (FILE `-` is stdin)
/// into the database in DIR (created if missing), in batches; records whose
/// expiry has passed are skipped. Expiry stays exactly the dumped instant.
pub(crate) fn load(dir: &Path, input: Box<dyn BufRead>, size: Option<u64>) -> ToolResult {
    // A clock stopped at the start of the load: a record's TTL is taken
    // against it, so the store sets the exact expiry instant dumped.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let clock = Arc::new(ManualClock::new(now_ms));
    let mut options = Options::manual_maintenance();
    options.clock = clock;
    let db = Db::open(dir, options).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bar = progress(size);
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut batch = Batch::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("reading line {}: {e}", n + 1))?;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| format!("line {}: {what}", n + 1);
        let record: Value = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let key =
            from_json(record.get("key").ok_or_else(|| bad("no \"key\"".into()))?).map_err(bad)?;
        let value = from_json(
            record
                .get("value")
                .ok_or_else(|| bad("no \"value\"".into()))?,
        )
        .map_err(bad)?;
        let put = match record.get("expires_at_ms") {
            None | Some(Value::Null) => batch.put(&key, &value),
            Some(at) => {
                let at = at
                    .as_u64()
                    .ok_or_else(|| bad("\"expires_at_ms\" is not a number".into()))?;
                if at <= now_ms {
                    expired += 1;
                    continue;
                }
                batch.put_with_ttl(&key, &value, Duration::from_millis(at - now_ms))
            }
        };
        put.map_err(|e| bad(e.to_string()))?;
        loaded += 1;
        if batch.len() == LOAD_BATCH {
            db.write(&batch).map_err(|e| e.to_string())?;
            batch = Batch::new();
        }
    }
    if !batch.is_empty() {
        db.write(&batch).map_err(|e| e.to_string())?;
    }
    db.checkpoint().map_err(|e| e.to_string())?;
    db.close().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    eprintln!(
        "loaded {loaded} records into {} ({expired} already expired, skipped)",
        dir.display()
    );
    Ok(())
}

/// A byte-count progress bar on stderr, hidden when stderr is not a terminal.
fn progress(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(size, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// `kvdb backup DIR DEST`: a copy of the database in DIR into the new
/// directory DEST, reading DIR as recovery would and writing nothing there.
pub(crate) fn backup(dir: &Path, dest: &Path) -> ToolResult {
    let (db, _) = read_only(dir)?;
    let r = db
        .backup_to(dest)
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    eprintln!(
        "backed up {} entries at sequence {} to {} ({} bytes)",
        r.entries,
        r.seq,
        dest.display(),
        r.bytes
    );
    Ok(())
}

/// `kvdb restore BACKUP DIR`: the backup's contents into the new directory
/// DIR, which then opens as the database.
pub(crate) fn restore(backup: &Path, dir: &Path) -> ToolResult {
    let (db, _) = read_only(backup)?;
    let r = db
        .backup_to(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "restored {} entries at sequence {} into {}",
        r.entries,
        r.seq,
        dir.display()
    );
    Ok(())
}

/// `kvdb verify DIR`: checks every snapshot file and log record and that
/// the directory opens; prints each problem as `FILE:OFFSET: what` and
/// nothing for a sound directory. Writes nothing. The exit status is 0 when
/// the directory is sound (non-fatal notes aside), 1 otherwise.
pub(crate) fn verify(dir: &Path) -> Result<bool, String> {
    let found = kvdb::inspect::inspect(dir).map_err(|e| e.to_string())?;
    for p in &found.problems {
        let kind = if p.fatal { "error" } else { "note" };
        println!("{}:{}: {kind}: {}", p.file.display(), p.offset, p.what);
    }
    Ok(found.sound())
}

/// `kvdb wal DIR`: every intact log record: segment, offset, sequence
/// number, operations and bytes.
pub(crate) fn wal(dir: &Path, format: Format) -> ToolResult {
    let found = kvdb::inspect::inspect(dir).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let w = |e: std::io::Error| e.to_string();
    match format {
        Format::Json => {
            for r in &found.records {
                let line = json!({
                    "segment": r.segment.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "offset": r.offset,
                    "seq": r.seq,
                    "puts": r.puts,
                    "puts_expiring": r.puts_expiring,
                    "deletes": r.deletes,
                    "bytes": r.bytes,
                });
                writeln!(out, "{line}").map_err(w)?;
            }
        }
        Format::Table | Format::Raw => {
            writeln!(out, "segment                          offset        seq  puts  ttl-puts  deletes   bytes").map_err(w)?;
            for r in &found.records {
                let name = r
                    .segment
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{name}  {:>8}  {:>9}  {:>4}  {:>8}  {:>7}  {:>6}",
                    r.offset, r.seq, r.puts, r.puts_expiring, r.deletes, r.bytes
                )
                .map_err(w)?;
            }
            writeln!(out, "({} records)", found.records.len()).map_err(w)?;
        }
    }
    for p in &found.problems {
        eprintln!("{}:{}: {}", p.file.display(), p.offset, p.what);
    }
    Ok(())
}
