//! Backup and restore benchmark, next to what they resemble: 1M records
//! (16-byte keys, 100-byte values), timing an online backup from memory
//! (`Db::backup_to`), loading it back into memory (`Db::open_in_memory_from`),
//! a checkpoint of a durable database holding the same records, and a
//! reopen of that database from its snapshot.
//!
//! `cargo run --release -p kvdb-bench --bin kvdb-backup-bench [-- --repeats 3]`
//! writes benches/BACKUP_RESULTS.md. The machine is shared: compare ratios
//! within one run; absolute figures move by 30-50% between runs.

#[path = "run_info.rs"]
mod run_info;
#[path = "sample.rs"]
#[allow(
    dead_code,
    reason = "this benchmark needs only the summaries, not the generator"
)]
mod sample;

use std::path::Path;
use std::time::Instant;

use kvdb::{Batch, Db, Options};

use sample::{median, min};

const RECORDS: u64 = 1_000_000;

/// Record `i`'s key: 16 bytes, spread so that insertion order is random.
fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn load(db: &Db) {
    let value = [0x5au8; 100];
    for start in (0..RECORDS).step_by(1000) {
        let mut b = Batch::new();
        for i in start..(start + 1000).min(RECORDS) {
            b.put(&key(i), &value).unwrap();
        }
        db.write(&b).unwrap();
    }
}

fn seconds(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// One round: [backup, load into memory, checkpoint, reopen] in seconds, and
/// the backup's size in bytes.
fn round(root: &Path, n: usize) -> ([f64; 4], u64) {
    let mem = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    load(&mem);
    let backup = root.join(format!("backup{n}"));
    let t_backup = seconds(|| {
        mem.backup_to(&backup).unwrap();
    });
    drop(mem);
    let bytes = dir_bytes(&backup);
    let mut loaded = None;
    let t_load = seconds(|| {
        loaded = Some(Db::open_in_memory_from(&backup, Options::manual_maintenance()).unwrap());
    });
    let (loaded, _) = loaded.unwrap();
    assert_eq!(loaded.stats().live_keys, RECORDS);
    drop(loaded);

    let data = root.join(format!("data{n}"));
    let durable = Db::open(&data, Options::manual_maintenance()).unwrap();
    load(&durable);
    let t_checkpoint = seconds(|| {
        durable.checkpoint().unwrap();
    });
    drop(durable);
    let mut reopened = None;
    let t_reopen = seconds(|| {
        reopened = Some(Db::open(&data, Options::manual_maintenance()).unwrap());
    });
    assert_eq!(reopened.unwrap().stats().live_keys, RECORDS);
    ([t_backup, t_load, t_checkpoint, t_reopen], bytes)
}

fn main() {
    let run = run_info::RunInfo::now();
    let repeats = run_info::parse_args("kvdb-backup-bench [--repeats N]", false).0;
    let root = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let mut bytes = 0;
    for n in 0..repeats {
        let (row, b) = round(root.path(), n);
        eprintln!(
            "backup {:.2} s, load into memory {:.2} s, checkpoint {:.2} s, reopen {:.2} s",
            row[0], row[1], row[2], row[3]
        );
        rows.push(row);
        bytes = b;
    }
    write_report(&run, repeats, &rows, bytes);
}

fn write_report(run: &run_info::RunInfo, repeats: usize, rows: &[[f64; 4]], bytes: u64) {
    use std::fmt::Write;
    let column = |c: usize| rows.iter().map(|r| r[c]).collect::<Vec<_>>();
    let med: Vec<f64> = (0..4).map(|c| median(column(c))).collect();
    let mins: Vec<f64> = (0..4).map(|c| min(&column(c))).collect();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Backup and restore, next to a checkpoint and a reopen\n"
    );
    let _ = writeln!(
        md,
        "{}. Medians of {repeats} runs (min in brackets). This machine is shared: absolute \
         figures move by 30-50% between runs, so read the ratios, taken within one run.\n",
        run.describe()
    );
    let _ = writeln!(
        md,
        "1,000,000 records, 16-byte keys in random order, 100-byte values. The backup is \
         taken from an in-memory database and holds one snapshot file of {:.1} MB; the \
         checkpoint and reopen use a durable database holding the same records, loaded \
         in batches of 1,000 with the default sync policy (always).\n",
        bytes as f64 / 1e6
    );
    let _ = writeln!(
        md,
        "| operation | seconds | records/s | ratio to checkpoint |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    let names = [
        "`backup_to` (online, from memory)",
        "`open_in_memory_from` (the backup)",
        "`checkpoint` (durable database)",
        "reopen (`Db::open`, snapshot, empty log)",
    ];
    for (c, name) in names.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {name} | {:.2} ({:.2}) | {:.2}M | {:.2}x |",
            med[c],
            mins[c],
            RECORDS as f64 / med[c] / 1e6,
            med[c] / med[2]
        );
    }
    let _ = writeln!(
        md,
        "\nA backup writes what a checkpoint writes (one streamed, synced snapshot file), so the \
         two should cost the same; loading into memory does what a reopen does without taking \
         over the directory's log.\n"
    );
    let _ = writeln!(
        md,
        "Reproduce: `cargo run --release -p kvdb-bench --bin kvdb-backup-bench -- --repeats {repeats}`."
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BACKUP_RESULTS.md");
    std::fs::write(&path, md).unwrap();
    eprintln!("wrote {}", path.display());
}
