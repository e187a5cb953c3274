//! Durable puts from N threads under the `always` policy: commits per
//! second, commits per sync (the group size), and the CPU time each commit
//! costs.
//!
//! `cargo run --release -p kvdb --example group_commit [THREADS...]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvdb::{Db, Options, SyncPolicy};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1, 4, 16]
    } else {
        counts
    };
    for threads in counts {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::manual_maintenance();
        options.sync = SyncPolicy::Always;
        let db = Arc::new(Db::open(dir.path(), options).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (cpu0, syncs0) = (cpu_seconds(), db.durability_stats().unwrap().wal_syncs);
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (db, stop, done) = (db.clone(), stop.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        db.put(
                            &[(t as u64).to_be_bytes(), n.to_be_bytes()].concat(),
                            &[1; 100],
                        )
                        .unwrap();
                        n += 1;
                    }
                    done.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let commits = done.load(Ordering::Relaxed);
        let syncs = db.durability_stats().unwrap().wal_syncs - syncs0;
        println!(
            "{threads:>2} threads: {:>7.0} commits/s, {:>5.1} commits/sync, {:>5.0} syncs/s, {:>5.1} us CPU/commit",
            commits as f64 / secs,
            commits as f64 / syncs.max(1) as f64,
            syncs as f64 / secs,
            (cpu_seconds() - cpu0) * 1e6 / commits as f64,
        );
    }
}
