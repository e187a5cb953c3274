//! Secondary index benchmark: put throughput with 0, 1 and 3 indexes on
//! fields of fixed-layout struct values; an equality lookup and a 100-entry
//! index range next to a primary-key get and a 100-key scan; and the time
//! to build an index over 1M records.
//!
//! `cargo run --release -p kvdb-bench --bin kvdb-index-bench [-- --repeats 3]`
//! writes benches/INDEX_RESULTS.md. The machine is shared: compare ratios
//! within one run; absolute figures move by 30-50% between runs.

#[path = "run_info.rs"]
mod run_info;
#[path = "sample.rs"]
mod sample;

use std::ops::Bound;
use std::time::Instant;

use kvdb::{Batch, Db, Endian, IndexDef, IndexQuery, IntType, Options};

use sample::{Rng, median, min};

/// The value: a C struct of 100 bytes — `u32 id` at 0, `u64 score` at 4,
/// `char dept[8]` at 12, padding after.
const VALUE_LEN: usize = 100;

fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    v[..4].copy_from_slice(&(i as u32).to_le_bytes());
    v[4..12].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20).to_le_bytes());
    v[12..20].copy_from_slice(format!("dept{:04}", i % 1000).as_bytes());
    v
}

/// Record `i`'s key: 16 bytes, spread so that insertion order is random.
fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn by_id() -> IndexDef {
    IndexDef::value_int("by_id", 0, IntType::U32(Endian::Little)).unwrap()
}

fn indexes(n: usize) -> Vec<IndexDef> {
    let all = [
        by_id(),
        IndexDef::value_int("by_score", 4, IntType::U64(Endian::Little)).unwrap(),
        IndexDef::value_bytes("by_dept", 12, 8).unwrap(),
    ];
    all.into_iter().take(n).collect()
}

fn db_with(n_indexes: usize) -> Db {
    let mut options = Options::default();
    options.indexes = indexes(n_indexes);
    Db::in_memory_with(options).unwrap()
}

/// Puts per second inserting `n` new records one put at a time.
fn put_rate(n_indexes: usize, n: u64) -> f64 {
    let db = db_with(n_indexes);
    let started = Instant::now();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn load(db: &Db, records: u64) {
    for start in (0..records).step_by(1000) {
        let mut b = Batch::new();
        for i in start..(start + 1000).min(records) {
            b.put(&key(i), &value(i)).unwrap();
        }
        db.write(&b).unwrap();
    }
}

/// Nanoseconds per operation of `op` over `ops` random record numbers.
fn time_per_op(records: u64, ops: u64, seed: u64, mut op: impl FnMut(u64) -> usize) -> f64 {
    let mut rng = Rng(seed);
    let mut found = 0;
    let started = Instant::now();
    for _ in 0..ops {
        found += op(rng.below(records));
    }
    let ns = started.elapsed().as_nanos() as f64 / ops as f64;
    assert!(found > 0);
    ns
}

/// Reads over `records` records with the `by_id` index: (primary get,
/// index equality lookup, 100-key primary scan, 100-entry index range,
/// primary seek), in nanoseconds per operation, interleaved in chunks.
fn reads(db: &Db, records: u64, ops: u64) -> [f64; 5] {
    let mut total = [0.0f64; 5];
    let chunks = 10;
    for c in 0..chunks {
        let seed = 0x1234_5678 + c;
        total[0] += time_per_op(records, ops / chunks, seed, |i| {
            db.get_with(&key(i), |v| v.map_or(0, <[u8]>::len)).unwrap()
        });
        total[1] += time_per_op(records, ops / chunks, seed, |i| {
            let id = (i as u32).to_le_bytes();
            db.index("by_id", IndexQuery::Equal(&id))
                .unwrap()
                .map(|e| e.value.len())
                .sum()
        });
        total[4] += time_per_op(records, ops / chunks, seed, |i| {
            let mut cursor = db.cursor(key(i)..);
            cursor.seek_to_first();
            cursor.value().map_or(0, <[u8]>::len)
        });
        let scans = ops / chunks / 20;
        total[2] += time_per_op(records, scans, seed, |i| {
            db.range(key(i)..).take(100).map(|(_, v)| v.len()).sum()
        });
        total[3] += time_per_op(records - 100, scans, seed, |i| {
            let (lo, hi) = ((i as u32).to_le_bytes(), (i as u32 + 100).to_le_bytes());
            db.index(
                "by_id",
                IndexQuery::Range(Bound::Included(&lo), Bound::Excluded(&hi)),
            )
            .unwrap()
            .map(|e| e.value.len())
            .sum()
        });
    }
    total.map(|t| t / chunks as f64)
}

fn main() {
    let run = run_info::RunInfo::now();
    let repeats = run_info::parse_args("kvdb-index-bench [--repeats N]", false).0;
    const PUTS: u64 = 300_000;
    let configs = [0usize, 1, 3];
    let mut puts: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for repeat in 0..repeats {
        // Rotate which configuration goes first.
        for j in 0..configs.len() {
            let c = (j + repeat) % configs.len();
            let rate = put_rate(configs[c], PUTS);
            eprintln!("puts with {} index(es): {rate:.0}/s", configs[c]);
            puts[c].push(rate);
        }
    }

    const RECORDS: u64 = 1_000_000;
    let db = db_with(0);
    load(&db, RECORDS);
    let mut builds = Vec::new();
    let mut read_rows: Vec<[f64; 5]> = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        db.create_index(by_id()).unwrap();
        let build = started.elapsed();
        eprintln!("build over 1M records: {:.2} s", build.as_secs_f64());
        builds.push(build.as_secs_f64());
        let r = reads(&db, RECORDS, 1_000_000);
        eprintln!(
            "get {:.0} ns, seek {:.0} ns, index equal {:.0} ns, scan-100 {:.0} ns, index range-100 {:.0} ns",
            r[0], r[4], r[1], r[2], r[3]
        );
        read_rows.push(r);
        let started = Instant::now();
        db.drop_index("by_id").unwrap();
        db.collect_garbage(usize::MAX);
        eprintln!(
            "drop over 1M records: {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    write_report(&run, repeats, &configs, &puts, &builds, &read_rows);
}

fn write_report(
    run: &run_info::RunInfo,
    repeats: usize,
    configs: &[usize],
    puts: &[Vec<f64>],
    builds: &[f64],
    reads: &[[f64; 5]],
) {
    use std::fmt::Write;
    let mut md = String::new();
    let _ = writeln!(md, "# Secondary indexes: write cost, lookups, builds\n");
    let _ = writeln!(
        md,
        "{}. Medians of {repeats} runs (min or max in brackets, the better end). This machine \
         is shared: absolute figures move by 30-50% between runs, so read the ratios, which \
         are taken within one run. One thread, in memory.\n",
        run.describe()
    );
    let _ = writeln!(
        md,
        "Records: 16-byte keys in random order, 100-byte values laid out as a C struct \
         (`u32 id` at 0, `u64 score` at 4, `char dept[8]` at 12). Indexes: `by_id` (u32 \
         little-endian), then `by_score` (u64 little-endian) and `by_dept` (8 bytes).\n"
    );
    let _ = writeln!(md, "## Put throughput (300,000 new keys, one put each)\n");
    let _ = writeln!(md, "| indexes | puts/s | time per put against no index |");
    let _ = writeln!(md, "|---:|---:|---:|");
    let base = median(puts[0].clone());
    for (c, rates) in configs.iter().zip(puts) {
        let m = median(rates.clone());
        let best = rates.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(md, "| {c} | {m:.0} [{best:.0}] | **{:.2}x** |", base / m);
    }
    let get = median(reads.iter().map(|r| r[0]).collect());
    let equal = median(reads.iter().map(|r| r[1]).collect());
    let scan = median(reads.iter().map(|r| r[2]).collect());
    let range = median(reads.iter().map(|r| r[3]).collect());
    let seek = median(reads.iter().map(|r| r[4]).collect());
    let _ = writeln!(
        md,
        "\n## Reads over 1M records (one thread, random start points, the five interleaved)\n"
    );
    let _ = writeln!(
        md,
        "| read | ns per operation | against its primary-key twin |"
    );
    let _ = writeln!(md, "|---|---:|---:|");
    let _ = writeln!(
        md,
        "| primary-key get | {get:.0} [{:.0}] | |",
        min(&reads.iter().map(|r| r[0]).collect::<Vec<_>>())
    );
    let _ = writeln!(
        md,
        "| primary-key seek (first key at or after a key) | {seek:.0} [{:.0}] | |",
        min(&reads.iter().map(|r| r[4]).collect::<Vec<_>>())
    );
    let _ = writeln!(
        md,
        "| index equality lookup (1 record) | {equal:.0} [{:.0}] | **{:.2}x** the get, **{:.2}x** the seek |",
        min(&reads.iter().map(|r| r[1]).collect::<Vec<_>>()),
        equal / get,
        equal / seek
    );
    let _ = writeln!(
        md,
        "| primary-key scan of 100 | {scan:.0} [{:.0}] | |",
        min(&reads.iter().map(|r| r[2]).collect::<Vec<_>>())
    );
    let _ = writeln!(
        md,
        "| index range of 100 entries | {range:.0} [{:.0}] | **{:.2}x** the scan |",
        min(&reads.iter().map(|r| r[3]).collect::<Vec<_>>()),
        range / scan
    );
    let _ = writeln!(
        md,
        "\n## Build\n\n`create_index` over 1M records (the same as declaring the index at open, \
         which builds it the same way): **{:.2} s** median [{:.2} s min].\n",
        median(builds.to_vec()),
        min(builds)
    );
    let _ = writeln!(md, "Target: one index costs at most 2x a plain put.");
    std::fs::write("benches/INDEX_RESULTS.md", &md).expect("write benches/INDEX_RESULTS.md");
    print!("{md}");
}
