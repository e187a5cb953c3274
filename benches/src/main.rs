//! kvdb-bench: runs the workloads against kvdb and its peers in one process
//! (memory per record in one child process per system) and writes
//! RESULTS.md, results.json and chart.svg.
//!
//! `cargo run --release -p kvdb-bench --features peers -- --help`
//! (`benches/run.sh` does everything, peers included).

#[allow(
    dead_code,
    reason = "the memory-limit functions are the memory-limit benchmark's"
)]
mod c_api;
mod keys;
mod memory;
mod report;
#[allow(dead_code, reason = "the driver parses more arguments than --repeats")]
mod run_info;
mod systems;
mod targets;
mod workloads;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use keys::{Rng, Zipfian};
use report::Measurement;
use systems::{Kind, Mode};
use workloads::Mix;

/// What every workload shares: the records, their keys and the settings.
pub(crate) struct Env {
    pub(crate) records: u64,
    pub(crate) key_len: usize,
    /// A random permutation of `0..records`: the insert order.
    pub(crate) load_order: Vec<u64>,
    /// Random values (a pool, so that stores that compress get no unfair
    /// help from identical values).
    pub(crate) values: Vec<Vec<u8>>,
    pub(crate) zipf: Zipfian,
    pub(crate) duration: Duration,
    pub(crate) seed: u64,
    pub(crate) ffi_lib: PathBuf,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_server: PathBuf,
    pub(crate) data_dir: PathBuf,
}

/// Distinct values in the pool records draw from.
const VALUE_POOL: u64 = 1024;

impl Env {
    /// The value written for record (or request) `i`.
    pub(crate) fn value_for(&self, i: u64) -> &[u8] {
        &self.values[(i % VALUE_POOL) as usize]
    }
}

struct Args {
    records: u64,
    key_len: usize,
    value_len: usize,
    threads: Vec<usize>,
    durable_threads: Vec<usize>,
    duration: Duration,
    repeats: usize,
    systems: Vec<Kind>,
    out: PathBuf,
    ffi_lib: PathBuf,
    redis_server: PathBuf,
    data_dir: PathBuf,
    child: Option<(String, Kind)>,
}

const HELP: &str = "kvdb-bench [options]
  --records N            records loaded (default 1000000)
  --key-len B            key bytes (default 16)
  --value-len B          value bytes (default 100)
  --threads LIST         thread counts for the in-memory workloads (default 1,2)
  --durable-threads LIST writer threads for durable puts (default 1,4,16)
  --duration-ms MS       length of each timed workload (default 2000)
  --repeats R            whole runs; medians and min/max are reported (default 3)
  --systems LIST         systems to run (default: every one compiled in):
                         kvdb,kvdb-c-abi,crossbeam-skipmap,btreemap-rwlock,hashmap-rwlock,lmdb,rocksdb,redis
  --out DIR              where RESULTS.md, results.json, chart.svg go (default benches)
  --ffi-lib PATH         libkvdb.so for kvdb-c-abi (default target/release/libkvdb.so)
  --redis-server PATH    redis-server binary (default redis-server)
  --data-dir DIR         where durable stores keep files, created if missing
                         (default the system temp dir)";

/// Reports a bad command line and exits with status 2, as usage errors do.
fn usage_error(message: &str) -> ! {
    eprintln!("kvdb-bench: {message}\n(see --help)");
    std::process::exit(2);
}

fn list<T>(flag: &str, s: &str, f: impl Fn(&str) -> Option<T>) -> Vec<T> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| f(x).unwrap_or_else(|| usage_error(&format!("{flag}: bad item {x:?}"))))
        .collect()
}

fn number<T: std::str::FromStr>(flag: &str, s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage_error(&format!("{flag}: {s:?} is not a number")))
}

fn parse_args() -> Args {
    let mut a = Args {
        records: 1_000_000,
        key_len: 16,
        value_len: 100,
        threads: vec![1, 2],
        durable_threads: vec![1, 4, 16],
        duration: Duration::from_millis(2000),
        repeats: 3,
        systems: Kind::ALL.into_iter().filter(|k| k.available()).collect(),
        out: PathBuf::from("benches"),
        ffi_lib: PathBuf::from("target/release/libkvdb.so"),
        redis_server: PathBuf::from("redis-server"),
        data_dir: std::env::temp_dir(),
        child: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--records" => a.records = number(&flag, &value()),
            "--key-len" => a.key_len = number(&flag, &value()),
            "--value-len" => a.value_len = number(&flag, &value()),
            "--threads" => a.threads = list(&flag, &value(), |x| x.parse().ok()),
            "--durable-threads" => a.durable_threads = list(&flag, &value(), |x| x.parse().ok()),
            "--duration-ms" => a.duration = Duration::from_millis(number(&flag, &value())),
            "--repeats" => a.repeats = number(&flag, &value()),
            "--systems" => a.systems = list(&flag, &value(), Kind::parse),
            "--out" => a.out = value().into(),
            "--ffi-lib" => a.ffi_lib = value().into(),
            "--redis-server" => a.redis_server = value().into(),
            "--data-dir" => a.data_dir = value().into(),
            "--child-memory" | "--child-disk" => {
                let name = value();
                let kind = Kind::parse(&name)
                    .unwrap_or_else(|| usage_error(&format!("{flag}: unknown system {name:?}")));
                a.child = Some((flag.trim_start_matches("--child-").to_owned(), kind));
            }
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => usage_error(&format!("unknown option {other}")),
        }
    }
    if let Err(e) = std::fs::create_dir_all(&a.data_dir) {
        usage_error(&format!("--data-dir {}: {e}", a.data_dir.display()));
    }
    a
}

fn env_from(a: &Args) -> Env {
    let mut load_order: Vec<u64> = (0..a.records).collect();
    let mut rng = Rng::new(42);
    for i in (1..load_order.len()).rev() {
        load_order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    Env {
        records: a.records,
        key_len: a.key_len,
        load_order,
        values: (0..VALUE_POOL)
            .map(|i| keys::value(i, a.value_len))
            .collect(),
        zipf: Zipfian::new(a.records, 0.99),
        duration: a.duration,
        seed: 0xBE7C_4A11,
        ffi_lib: a.ffi_lib.clone(),
        redis_server: a.redis_server.clone(),
        data_dir: a.data_dir.clone(),
    }
}

/// Runs a memory or disk measurement in a fresh child process, so that each
/// system's figure is not disturbed by memory another one left behind.
fn in_child(what: &str, kind: Kind, a: &Args) -> Option<Measurement> {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe)
        .args(["--records", &a.records.to_string()])
        .args([
            "--key-len",
            &a.key_len.to_string(),
            "--value-len",
            &a.value_len.to_string(),
        ])
        .args([
            "--ffi-lib",
            a.ffi_lib.to_str()?,
            "--redis-server",
            a.redis_server.to_str()?,
        ])
        .args(["--data-dir", a.data_dir.to_str()?])
        .args([&format!("--child-{what}"), kind.name()])
        .output()
        .expect("child runs");
    if !output.status.success() {
        eprintln!(
            "  {what} of {} failed: {}",
            kind.name(),
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let value: f64 = line.trim().parse().ok()?;
    Some(Measurement::simple(what, 1, value, "bytes/record", a.records, 0.0).of(kind.name()))
}

fn run_memory_workloads(
    kind: Kind,
    env: &Env,
    threads: usize,
    round: usize,
    all: &mut Vec<Measurement>,
) {
    let dir = tempfile::tempdir_in(&env.data_dir).expect("temporary directory");
    let system = kind.open(Mode::Memory, dir.path(), env);
    let name = kind.name();
    let mut record = |m: Measurement| {
        eprintln!(
            "  {name:<18} {:<14} {threads}t {:>14.0} {}  p50 {:?} p99 {:?}",
            m.workload, m.value, m.unit, m.p50_ns, m.p99_ns
        );
        all.push(m.of(name));
    };
    record(workloads::load(&system, env, threads));
    if let Some(m) = workloads::settle(&system, env) {
        record(m);
    }
    let next_insert = AtomicU64::new(env.records);
    for mix in Mix::ALL {
        if workloads::supports(&*system, mix) {
            // New keys of the mix before (YCSB D and E insert) would have
            // the store reorder during this one: finish that first.
            system.settle();
            record(workloads::timed(&system, env, mix, threads, &next_insert));
        }
    }
    system.settle();
    record(workloads::multi_get(&system, env, threads));
    if threads == 1
        && let Some(m) = workloads::full_scan(&system)
    {
        record(m);
    }
    record(workloads::delete(&system, env, threads, round));
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {:.1} GiB RAM, Linux {}",
        mem_kb as f64 / 1048576.0,
        kernel.trim()
    )
}

fn main() {
    let a = parse_args();
    let env = env_from(&a);
    if let Some((what, kind)) = &a.child {
        let m = match what.as_str() {
            "memory" => memory::measure_rss(*kind, &env),
            _ => memory::measure_disk(*kind, &env),
        };
        println!("{}", m.value);
        return;
    }
    let run = run_info::RunInfo::now();
    if let Some(kind) = a.systems.iter().find(|k| !k.available()) {
        usage_error(&format!(
            "{} is not compiled in: build with --features peers (benches/run.sh does)",
            kind.name()
        ));
    }
    let mut all = Vec::new();
    for round in 0..a.repeats {
        eprintln!("== run {} of {}", round + 1, a.repeats);
        for &kind in &a.systems {
            for &threads in &a.threads {
                run_memory_workloads(kind, &env, threads, round, &mut all);
            }
            if kind.durable() {
                for &threads in &a.durable_threads {
                    let dir = tempfile::tempdir_in(&env.data_dir).expect("temporary directory");
                    let system = kind.open(Mode::Durable, dir.path(), &env);
                    let m = workloads::durable_writes(&system, &env, threads);
                    eprintln!(
                        "  {:<18} durable-put {threads}t {:>10.0} commits/s",
                        kind.name(),
                        m.value
                    );
                    all.push(m.of(kind.name()));
                }
            }
        }
        if a.systems.contains(&Kind::Kvdb) {
            let with_c_abi = a.systems.contains(&Kind::KvdbC);
            for m in memory::kvdb_recovery(&env, with_c_abi) {
                eprintln!("  {} {} {:.3} s", m.system, m.workload, m.value);
                all.push(m);
            }
        }
    }
    for &kind in &a.systems {
        if let Some(m) = in_child("memory", kind, &a) {
            eprintln!("  {:<18} memory {:.1} bytes/record", kind.name(), m.value);
            all.push(m);
        }
        if kind.durable()
            && let Some(m) = in_child("disk", kind, &a)
        {
            eprintln!("  {:<18} disk {:.1} bytes/record", kind.name(), m.value);
            all.push(m);
        }
    }
    let machine = machine();
    let params = format!(
        "{} records, {}-byte keys, {}-byte values, {} ms per timed workload, {} repeats, threads {:?}, durable writers {:?}",
        a.records,
        a.key_len,
        a.value_len,
        a.duration.as_millis(),
        a.repeats,
        a.threads,
        a.durable_threads
    );
    std::fs::create_dir_all(&a.out).expect("output directory");
    let results = report::group(&all);
    let names: Vec<String> = a.systems.iter().map(|k| k.name().to_owned()).collect();
    std::fs::write(
        a.out.join("results.json"),
        report::json(&all, &machine, &params),
    )
    .expect("write json");
    let title = format!(
        "Throughput, 1 thread, {} records (share of the best; median of {})",
        a.records, a.repeats
    );
    std::fs::write(
        a.out.join("chart.svg"),
        report::chart(&results, 1, &names, &title),
    )
    .expect("write chart");
    let md = targets::results_markdown(&results, &machine, &params, &run.describe());
    std::fs::write(a.out.join("RESULTS.md"), md).expect("write markdown");
    eprintln!(
        "wrote {}/RESULTS.md, results.json, chart.svg",
        a.out.display()
    );
}
