//! Change-stream benchmark: what watchers cost writers, how fast a change
//! reaches a blocked watcher, and how fast a watcher catches up.
//!
//! - put throughput (in memory, one writer, 16-byte keys, 100-byte values)
//!   with change streams off, on with 0 watchers, 1 watcher and 8 watchers,
//!   each watcher a thread draining its stream;
//! - commit-to-event latency for a blocked watcher: one writer pausing 1 ms
//!   between puts, longer than a waiting watcher looks for changes itself
//!   (200 µs), so each put finds it asleep; from just before `put` to the
//!   event in the watcher's hands;
//! - catch-up: a watcher from sequence 0 over 500,000 committed puts, read
//!   from the feed in memory and from the log on disk.
//!
//! `cargo run --release -p kvdb-bench --bin kvdb-watch-bench [-- --repeats 3]`
//! writes benches/WATCH_RESULTS.md. The machine is shared and has 2 cores:
//! compare ratios within one run; absolute figures move by 30-50% between
//! runs. Watcher threads compete with the writer for the 2 cores.

#[path = "run_info.rs"]
mod run_info;
#[path = "sample.rs"]
#[allow(
    dead_code,
    reason = "this benchmark needs only the summaries, not the generator"
)]
mod sample;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kvdb::{Batch, Db, Options, SyncPolicy, WATCH_FROM_NOW, WATCH_FROM_OLDEST};

use sample::{median, min};

const PUTS: u64 = 300_000;
const LATENCY_PUTS: usize = 3_000;
const CATCH_UP: u64 = 500_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Puts per second with `watchers` draining threads; `None` turns change
/// streams off.
fn put_rate(watchers: Option<usize>) -> f64 {
    let mut options = Options::manual_maintenance();
    if watchers.is_none() {
        options.watch_retention_bytes = 0;
    }
    let db = Db::in_memory_with(options).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..watchers.unwrap_or(0))
        .map(|_| {
            let mut w = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match w.next_timeout(Duration::from_millis(10)) {
                        Ok(Some(_)) => seen += 1,
                        Ok(None) => {}
                        Err(e) => panic!("watcher failed: {e}"),
                    }
                }
                seen
            })
        })
        .collect();
    let value = [0x5au8; 100];
    let started = Instant::now();
    for i in 0..PUTS {
        db.put(&key(i), &value).unwrap();
    }
    let rate = PUTS as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    rate
}

/// Commit-to-event latencies in microseconds, sorted.
fn latencies() -> Vec<f64> {
    let db = Arc::new(Db::in_memory_with(Options::manual_maintenance()).unwrap());
    let mut w = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let first = db.snapshot().seq() + 1;
    let starts: Arc<Vec<parking_lot::Mutex<Option<Instant>>>> = Arc::new(
        (0..LATENCY_PUTS)
            .map(|_| parking_lot::Mutex::new(None))
            .collect(),
    );
    let writer = {
        let (db, starts) = (Arc::clone(&db), Arc::clone(&starts));
        std::thread::spawn(move || {
            for (i, start) in starts.iter().enumerate() {
                std::thread::sleep(Duration::from_millis(1));
                *start.lock() = Some(Instant::now());
                db.put(&key(i as u64), b"v").unwrap();
            }
        })
    };
    let mut out = Vec::with_capacity(LATENCY_PUTS);
    while out.len() < LATENCY_PUTS {
        let e = w
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("an event");
        let arrived = Instant::now();
        let i = (e.seq - first) as usize;
        let start = starts[i].lock().expect("stamped before the put");
        out.push(arrived.duration_since(start).as_secs_f64() * 1e6);
    }
    writer.join().unwrap();
    out.sort_by(f64::total_cmp);
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Events per second for a watcher from 0 over `CATCH_UP` puts, with the
/// feed in memory holding them all (`from_log` false) or almost none.
fn catch_up_rate(root: &Path, n: usize, from_log: bool) -> f64 {
    let mut options = Options::manual_maintenance();
    options.sync = SyncPolicy::Never;
    options.watch_retention_bytes = if from_log { 64 * 1024 } else { 1 << 30 };
    let db = Db::open(root.join(format!("catch{n}-{from_log}")), options).unwrap();
    let value = [0x5au8; 100];
    for start in (0..CATCH_UP).step_by(100) {
        let mut b = Batch::new();
        for i in start..start + 100 {
            b.put(&key(i), &value).unwrap();
        }
        db.write(&b).unwrap();
    }
    let mut w = db.watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
    let started = Instant::now();
    let mut seen = 0;
    while seen < CATCH_UP {
        w.try_next().unwrap().expect("retained");
        seen += 1;
    }
    CATCH_UP as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let run = run_info::RunInfo::now();
    let repeats = run_info::parse_args("kvdb-watch-bench [--repeats N]", false).0;
    let configs: [(&str, Option<usize>); 4] = [
        ("change streams off", None),
        ("on, 0 watchers", Some(0)),
        ("on, 1 watcher", Some(1)),
        ("on, 8 watchers", Some(8)),
    ];
    let mut rates = vec![Vec::new(); configs.len()];
    for r in 0..repeats {
        // Interleaved, so that drift in the machine's load hits every
        // configuration alike.
        for (c, (name, watchers)) in configs.iter().enumerate() {
            let rate = put_rate(*watchers);
            eprintln!("round {r}: {name}: {:.0} puts/s", rate);
            rates[c].push(rate);
        }
    }
    let lat = latencies();
    let root = tempfile::tempdir().unwrap();
    let mut memory = Vec::new();
    let mut log = Vec::new();
    for n in 0..repeats {
        memory.push(catch_up_rate(root.path(), n, false));
        log.push(catch_up_rate(root.path(), n, true));
        eprintln!("catch-up: memory {:.0}/s, log {:.0}/s", memory[n], log[n]);
    }
    write_report(&run, repeats, &configs, &rates, &lat, &memory, &log);
}

fn write_report(
    run: &run_info::RunInfo,
    repeats: usize,
    configs: &[(&str, Option<usize>)],
    rates: &[Vec<f64>],
    lat: &[f64],
    memory: &[f64],
    log: &[f64],
) {
    use std::fmt::Write;
    let mut md = String::new();
    let _ = writeln!(md, "# Change streams: cost to writers, latency, catch-up\n");
    let _ = writeln!(
        md,
        "{}. Medians of {repeats} runs (min in brackets), configurations interleaved. This \
         machine is shared and has 2 cores: absolute figures move by 30-50% between runs, so \
         read the ratios, taken within one run. Watcher threads share the 2 cores with the \
         writer; nothing here says how more cores would scale.\n",
        run.describe()
    );
    let _ = writeln!(
        md,
        "## Put throughput\n\nOne writer, {PUTS} puts of new 16-byte keys with 100-byte values, \
         in memory. Each watcher is a thread that drains its stream with `next_timeout`.\n"
    );
    let _ = writeln!(
        md,
        "| configuration | puts/s | vs 0 watchers | vs streams off |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    let med: Vec<f64> = rates.iter().map(|r| median(r.clone())).collect();
    for (c, (name, _)) in configs.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {name} | {:.0}k ({:.0}k) | {:.2}x | {:.2}x |",
            med[c] / 1e3,
            min(&rates[c]) / 1e3,
            med[c] / med[1],
            med[c] / med[0]
        );
    }
    let _ = writeln!(
        md,
        "\n## Commit-to-event latency\n\nOne writer putting a key every 1 ms; one watcher \
         blocked in `next_timeout` (a waiting watcher looks for changes itself for 200 µs, then \
         sleeps until a writer wakes it: each put here finds it asleep). From just before `put` \
         to the event returned, {LATENCY_PUTS} \
         events.\n"
    );
    let _ = writeln!(md, "| p50 | p90 | p99 | max |");
    let _ = writeln!(md, "|---|---|---|---|");
    let _ = writeln!(
        md,
        "| {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
        percentile(lat, 0.5),
        percentile(lat, 0.9),
        percentile(lat, 0.99),
        lat[lat.len() - 1]
    );
    let _ = writeln!(
        md,
        "\n## Catch-up\n\nA watcher from sequence 0 over {CATCH_UP} committed puts (batches of \
         100, durable database, sync policy never), read with `try_next`.\n"
    );
    let _ = writeln!(md, "| source | events/s |");
    let _ = writeln!(md, "|---|---|");
    let _ = writeln!(
        md,
        "| feed in memory | {:.2}M ({:.2}M) |",
        median(memory.to_vec()) / 1e6,
        min(memory) / 1e6
    );
    let _ = writeln!(
        md,
        "| write-ahead log on disk | {:.2}M ({:.2}M) |",
        median(log.to_vec()) / 1e6,
        min(log) / 1e6
    );
    let _ = writeln!(
        md,
        "\nReproduce: `cargo run --release -p kvdb-bench --bin kvdb-watch-bench -- --repeats {repeats}`."
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("WATCH_RESULTS.md");
    std::fs::write(&path, md).unwrap();
    eprintln!("wrote {}", path.display());
}
