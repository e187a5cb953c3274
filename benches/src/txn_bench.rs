//! Transaction benchmark: commit throughput of small transactions next to
//! plain batches of the same size, in memory and durable, at 1 and 8
//! threads, without contention (each thread on its own keys) and with it (a
//! few hot keys, with the abort rate); the cost of a get in a read-only
//! transaction next to a snapshot get; and, with `--features rocksdb`,
//! RocksDB's OptimisticTransactionDB doing the same transactions.
//!
//! `cargo run --release -p kvdb-bench --bin kvdb-txn-bench [-- --repeats 3]`
//! writes benches/TXN_RESULTS.md. The machine is shared: compare ratios
//! within one run; absolute figures move by 30-50% between runs.

#[path = "run_info.rs"]
#[allow(
    dead_code,
    reason = "this benchmark parses more arguments than --repeats"
)]
mod run_info;
#[path = "sample.rs"]
mod sample;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvdb::{Batch, Db, ErrorKind, Options, SyncPolicy};

use sample::{Rng, median, min};

/// One measured configuration's result.
#[derive(Clone, Copy, Default)]
struct Rate {
    /// Committed operations (transactions or batches) per second.
    per_sec: f64,
    /// Aborted commits per committed one.
    abort_rate: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    /// A batch of 2 puts.
    Batch,
    /// Read 2 keys, write 2 keys, commit.
    Txn,
}

fn key(space: u64, thread: u64, i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&space.to_be_bytes());
    k[8..].copy_from_slice(&(thread << 40 | i).to_be_bytes());
    k
}

/// Keys each thread owns (uncontended) or shares (`hot` keys, contended).
fn pick(rng: &mut Rng, thread: u64, hot: Option<u64>) -> [u8; 16] {
    match hot {
        Some(n) => key(1, 0, rng.below(n)),
        None => key(1, thread, rng.below(1_000)),
    }
}

/// Runs `op` on `threads` threads for `time`; `op` returns whether it
/// committed (false: it aborted on a conflict).
fn drive(threads: u64, time: Duration, op: impl Fn(u64, &mut Rng) -> bool + Sync) -> Rate {
    let stop = AtomicBool::new(false);
    let (done, aborted) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, stop, done, aborted) = (&op, &stop, &done, &aborted);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t + 1) * 0x2545_f491));
                let (mut n, mut a) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if op(t, &mut rng) {
                        n += 1;
                    } else {
                        a += 1;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                aborted.fetch_add(a, Ordering::Relaxed);
            });
        }
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
    });
    let n = done.load(Ordering::Relaxed) as f64;
    Rate {
        per_sec: n / time.as_secs_f64(),
        abort_rate: aborted.load(Ordering::Relaxed) as f64 / n.max(1.0),
    }
}

const VALUE: [u8; 100] = [7; 100];

fn run_kvdb(db: &Db, work: Work, threads: u64, hot: Option<u64>, time: Duration) -> Rate {
    drive(threads, time, |t, rng| {
        let (k1, k2) = (pick(rng, t, hot), pick(rng, t, hot));
        match work {
            Work::Batch => {
                let mut b = Batch::new();
                b.put(&k1, &VALUE).unwrap();
                b.put(&k2, &VALUE).unwrap();
                db.write(&b).unwrap();
                true
            }
            Work::Txn => {
                let mut txn = db.begin().unwrap();
                txn.get_with(&k1, |_| ()).unwrap();
                txn.get_with(&k2, |_| ()).unwrap();
                txn.put(&k1, &VALUE).unwrap();
                txn.put(&k2, &VALUE).unwrap();
                match txn.commit() {
                    Ok(_) => true,
                    Err(e) if e.kind() == ErrorKind::Conflict => false,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    })
}

#[cfg(feature = "rocksdb")]
fn run_rocksdb(durable: bool, threads: u64, hot: Option<u64>, time: Duration) -> Rate {
    use rocksdb::{OptimisticTransactionDB, Options as RocksOptions, WriteOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksOptions::default();
    options.create_if_missing(true);
    options.increase_parallelism(2);
    let mut write = WriteOptions::default();
    if durable {
        write.set_sync(true);
    } else {
        options.set_write_buffer_size(1 << 30);
        write.disable_wal(true);
    }
    let db: OptimisticTransactionDB = OptimisticTransactionDB::open(&options, dir.path()).unwrap();
    drive(threads, time, |t, rng| {
        let (k1, k2) = (pick(rng, t, hot), pick(rng, t, hot));
        let txn = db.transaction_opt(&write, &Default::default());
        txn.get_for_update(k1, true).unwrap();
        txn.get_for_update(k2, true).unwrap();
        txn.put(k1, VALUE).unwrap();
        txn.put(k2, VALUE).unwrap();
        txn.commit().is_ok()
    })
}

/// Nanoseconds per random get from one snapshot, and from one read-only
/// transaction, over `records` keys (same keys, same order).
fn read_only_gets(records: u64, gets: u64) -> (f64, f64) {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    for chunk in (0..records).collect::<Vec<_>>().chunks(1000) {
        let mut b = Batch::new();
        for &i in chunk {
            b.put(&key(2, 0, i), &[1u8; 100]).unwrap();
        }
        db.write(&b).unwrap();
    }
    let keys: Vec<[u8; 16]> = {
        let mut rng = Rng(42);
        (0..gets).map(|_| key(2, 0, rng.below(records))).collect()
    };
    // Alternate the two in chunks over the same keys, so that neither gets
    // the warmer caches or the quieter moment of the shared machine.
    let snapshot = db.snapshot();
    let mut txn = db.begin().unwrap();
    let (mut snap_time, mut txn_time) = (Duration::ZERO, Duration::ZERO);
    let mut found = 0usize;
    for chunk in keys.chunks(keys.len() / 20) {
        let started = Instant::now();
        for k in chunk {
            found += snapshot.get_with(k, |v| v.map_or(0, <[u8]>::len)).unwrap();
        }
        snap_time += started.elapsed();
        let started = Instant::now();
        for k in chunk {
            found += txn.get_with(k, |v| v.map_or(0, <[u8]>::len)).unwrap();
        }
        txn_time += started.elapsed();
    }
    txn.commit().unwrap();
    let snap_ns = snap_time.as_nanos() as f64 / gets as f64;
    let txn_ns = txn_time.as_nanos() as f64 / gets as f64;
    assert_eq!(found, 2 * 100 * gets as usize);
    (snap_ns, txn_ns)
}

fn main() {
    let run = run_info::RunInfo::now();
    let mut repeats = 3;
    let mut read_only = false;
    let mut memory_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeats" => {
                repeats = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--repeats N")
            }
            "--read-only" => read_only = true,
            "--memory-only" => memory_only = true,
            _ => panic!("usage: kvdb-txn-bench [--repeats N] [--read-only] [--memory-only]"),
        }
    }
    if read_only {
        for _ in 0..repeats {
            let (snap, txn) = read_only_gets(1_000_000, 2_000_000);
            println!(
                "snapshot get {snap:.0} ns, read-only txn get {txn:.0} ns: {:.2}x",
                txn / snap
            );
        }
        return;
    }
    let time = Duration::from_millis(1500);
    let mut rows = Vec::new();
    let modes: &[bool] = if memory_only {
        &[false]
    } else {
        &[false, true]
    };
    for &durable in modes {
        for threads in [1u64, 8] {
            for hot in [None, Some(4u64)] {
                let mut batch = Vec::new();
                let mut txn = Vec::new();
                let mut aborts = Vec::new();
                #[cfg_attr(not(feature = "rocksdb"), allow(unused_mut))]
                let mut rocks = Vec::new();
                #[cfg_attr(not(feature = "rocksdb"), allow(unused_mut))]
                let mut rocks_aborts = Vec::new();
                for repeat in 0..repeats {
                    // Each run gets a fresh database (neither inherits the
                    // other's garbage or pending collection), and the two
                    // take turns going first.
                    let fresh = || {
                        let dir = tempfile::tempdir().unwrap();
                        let db = if durable {
                            let mut o = Options::default();
                            o.sync = SyncPolicy::Always;
                            Db::open(dir.path(), o).unwrap()
                        } else {
                            Db::in_memory().unwrap()
                        };
                        (dir, db)
                    };
                    let mut run = |work| {
                        let (_dir, db) = fresh();
                        let r = run_kvdb(&db, work, threads, hot, time);
                        match work {
                            Work::Batch => batch.push(r.per_sec),
                            Work::Txn => {
                                txn.push(r.per_sec);
                                aborts.push(r.abort_rate);
                            }
                        }
                    };
                    if repeat % 2 == 0 {
                        run(Work::Batch);
                        run(Work::Txn);
                    } else {
                        run(Work::Txn);
                        run(Work::Batch);
                    }
                    #[cfg(feature = "rocksdb")]
                    {
                        let r = run_rocksdb(durable, threads, hot, time);
                        rocks.push(r.per_sec);
                        rocks_aborts.push(r.abort_rate);
                    }
                }
                let row = (
                    durable,
                    threads,
                    hot,
                    batch,
                    txn,
                    aborts,
                    rocks,
                    rocks_aborts,
                );
                let (b, t) = (median(row.3.clone()), median(row.4.clone()));
                eprintln!(
                    "{} {}t {}: batch {b:.0}/s, txn {t:.0}/s ({:.2}x), aborts {:.3}",
                    if durable { "durable" } else { "memory" },
                    threads,
                    if hot.is_some() { "hot" } else { "disjoint" },
                    t / b,
                    median(row.5.clone())
                );
                rows.push(row);
            }
        }
    }
    let mut ro = Vec::new();
    for _ in 0..repeats {
        ro.push(read_only_gets(1_000_000, 2_000_000));
    }
    write_report(&run, &rows, &ro, repeats);
}

type Row = (
    bool,
    u64,
    Option<u64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
);

fn write_report(run: &run_info::RunInfo, rows: &[Row], ro: &[(f64, f64)], repeats: usize) {
    use std::fmt::Write;
    let mut md = String::new();
    let _ = writeln!(md, "# Transactions: commit throughput and read-only cost\n");
    let _ = writeln!(
        md,
        "{}. Medians of {repeats} runs of 1.5 s each (min in brackets). This machine is shared: \
         absolute figures move by 30-50% between runs, so read the ratios, which are taken \
         within one run. 8 threads on 2 cores measure contention, not scaling.\n",
        run.describe()
    );
    let _ = writeln!(
        md,
        "Each transaction reads 2 keys and writes 2 (100-byte values); each batch puts 2. \
         Disjoint: every thread on its own 1,000 keys. Hot: all threads on 4 keys. \
         Durable: `SyncPolicy::Always` (group commit) and, for RocksDB, `sync = true`; \
         in memory RocksDB runs with its WAL off. Every run starts on a fresh database, \
         and batches and transactions take turns going first.\n"
    );
    let rocks = rows.iter().any(|r| !r.6.is_empty());
    let _ = writeln!(
        md,
        "| mode | threads | keys | txn / batch | txn commits/s | 2-put batches/s | kvdb aborts per commit |{}",
        if rocks {
            " RocksDB optimistic txn/s | RocksDB aborts | kvdb / RocksDB |"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "|---|---:|---|---:|---:|---:|---:|{}",
        if rocks { "---:|---:|---:|" } else { "" }
    );
    for (durable, threads, hot, batch, txn, aborts, rtx, raborts) in rows {
        let (b, t) = (median(batch.clone()), median(txn.clone()));
        let mut line = format!(
            "| {} | {threads} | {} | **{:.2}x** | {:.0} [{:.0}] | {:.0} [{:.0}] | {:.3} |",
            if *durable { "durable" } else { "memory" },
            if hot.is_some() { "4 hot" } else { "disjoint" },
            t / b,
            t,
            min(txn),
            b,
            min(batch),
            median(aborts.clone()),
        );
        if rocks {
            let r = median(rtx.clone());
            let _ = write!(
                line,
                " {:.0} [{:.0}] | {:.3} | **{:.2}x** |",
                r,
                min(rtx),
                median(raborts.clone()),
                t / r
            );
        }
        let _ = writeln!(md, "{line}");
    }
    let snap = median(ro.iter().map(|r| r.0).collect());
    let txn = median(ro.iter().map(|r| r.1).collect());
    let _ = writeln!(
        md,
        "\nRead-only transaction get against a snapshot get (1M records, 2M random gets, one thread, \
         the two alternating in chunks of 100,000 over the same keys): **{:.2}x** the time ({txn:.0} ns against {snap:.0} ns per get, medians).\n",
        txn / snap
    );
    let _ = writeln!(
        md,
        "Targets: an uncontended in-memory transaction at >= 0.7x the 2-put batch rate; \
         a read-only transaction's get within 1.2x a snapshot get."
    );
    std::fs::write("benches/TXN_RESULTS.md", &md).expect("write benches/TXN_RESULTS.md");
    print!("{md}");
}
