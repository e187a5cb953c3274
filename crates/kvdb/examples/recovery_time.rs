//! Measures reopening a database of N records (16-byte keys, 100-byte
//! values): once from the write-ahead log alone, once from a snapshot.
//!
//! `cargo run --release -p kvdb --example recovery_time [N] [DIR]`
//!
//! DIR defaults to a temporary directory (removed afterwards).

use std::time::Instant;

use kvdb::{Batch, Db, Options, SyncPolicy};

fn key(i: u64) -> [u8; 16] {
    // A bijective scramble of i: random-looking order, no duplicates.
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ 0xA5A5_5A5A_DEAD_BEEF;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&x.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn dir_size(dir: &std::path::Path, suffix: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn main() -> kvdb::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("N"));
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = std::env::args()
        .nth(2)
        .map_or_else(|| tmp.path().join("db"), Into::into);
    let mut options = Options::manual_maintenance();
    options.sync = SyncPolicy::Never;
    let value = [7u8; 100];

    let started = Instant::now();
    let db = Db::open(&dir, options.clone())?;
    let mut batch = Batch::new();
    for i in 0..n {
        batch.put(&key(i), &value)?;
        if batch.len() == 1000 {
            db.write(&batch)?;
            batch.clear();
        }
    }
    db.write(&batch)?;
    db.close()?;
    let load = started.elapsed();
    println!(
        "loaded {n} records in {load:.2?}; log on disk {:.1} MiB",
        dir_size(&dir, ".log") as f64 / 1048576.0
    );

    let started = Instant::now();
    let db = Db::open(&dir, options.clone())?;
    let from_log = started.elapsed();
    assert_eq!(db.stats().live_keys, n);
    let report = db.recovery_report().unwrap().clone();
    println!(
        "reopen from the log alone: {from_log:.3?} ({:.0} records/s, {} log records)",
        n as f64 / from_log.as_secs_f64(),
        report.wal_records_applied
    );
    let checkpoint = db.checkpoint()?;
    println!(
        "checkpoint: {:.3?}, snapshot {:.1} MiB, {} log segments removed",
        checkpoint.duration,
        checkpoint.snapshot_bytes as f64 / 1048576.0,
        checkpoint.wal_segments_removed
    );
    db.close()?;

    let started = Instant::now();
    let db = Db::open(&dir, options)?;
    let from_snapshot = started.elapsed();
    assert_eq!(db.stats().live_keys, n);
    assert_eq!(db.get(&key(n / 2))?, Some(value.to_vec()));
    println!(
        "reopen from the snapshot: {from_snapshot:.3?} ({:.0} records/s) — {:.1}x faster than the log",
        n as f64 / from_snapshot.as_secs_f64(),
        from_log.as_secs_f64() / from_snapshot.as_secs_f64()
    );
    Ok(())
}
