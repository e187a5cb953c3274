//! Memory limit benchmark: what a limit costs reads and writes, and the hit
//! ratio each eviction policy reaches when kvdb serves as a cache, beside
//! Redis 7 (same `maxmemory-policy`) and moka (W-TinyLFU).
//!
//! - throughput: 200,000 records (16-byte keys, 100-byte values) in memory;
//!   random gets of loaded keys and random puts over twice as many keys,
//!   without a limit and with the limit set to what the records occupy
//!   (allkeys-lru, so every new key evicts one);
//! - hit ratio: cache-aside replay of key traces (get; on a miss, put) into
//!   a cache sized to hold `CAPACITY` records: zipfian with s = 0.99 and
//!   0.8, a hot set disturbed by a one-pass scan of cold keys, and a
//!   shifting hot spot. kvdb's limit and Redis's maxmemory are each set to
//!   what `CAPACITY` records occupy in that system; moka holds `CAPACITY`
//!   entries;
//! - hit ratio across a restart (`evict_restart.rs`): the zipfian traces
//!   with kvdb (from its checkpoint) and Redis (`DEBUG RELOAD`) restarted
//!   halfway, against the same left running.
//!
//! `cargo run --release -p kvdb-bench --bin kvdb-evict-bench [--features
//! redis,moka] [-- --repeats 3]` writes benches/EVICT_RESULTS.md; without
//! the features the peers' columns are left out (`benches/evict.sh` turns
//! them on and installs redis-server if missing). The machine is shared and
//! has 2 cores: compare ratios within one run.

#[path = "c_api.rs"]
#[allow(
    dead_code,
    reason = "this benchmark calls a few of the library's functions"
)]
mod c_api;
#[path = "evict_c.rs"]
mod evict_c;
#[path = "evict_restart.rs"]
mod evict_restart;
#[path = "run_info.rs"]
mod run_info;
#[path = "sample.rs"]
#[allow(
    dead_code,
    reason = "this benchmark needs only the summaries, not the generator"
)]
mod sample;

use std::time::Instant;

use kvdb::{Db, EvictionPolicy, Options};

use sample::{median, min};

const RECORDS: u64 = 200_000;
const OPS: u64 = 400_000;
const VALUE: [u8; 100] = [0x5a; 100];

/// Records a cache holds in the hit-ratio runs.
const CAPACITY: u64 = 10_000;
/// Keys the traces draw from.
const UNIVERSE: u64 = 100_000;
/// Accesses per trace.
const ACCESSES: usize = 300_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------- throughput

struct Rates {
    get: f64,
    overwrite: f64,
    insert: f64,
}

/// What a throughput round does to a database, through the Rust API or the
/// C library.
trait Store {
    fn put(&self, key: &[u8], value: &[u8]);
    fn contains(&self, key: &[u8]) -> bool;
    fn reorder(&self);
    /// Sets an allkeys-lru limit of `bytes`.
    fn limit_lru(&self, bytes: u64);
    /// Bytes used, the limit and the keys evicted.
    fn usage(&self) -> (u64, u64, u64);
}

impl Store for Db {
    fn put(&self, key: &[u8], value: &[u8]) {
        Db::put(self, key, value).unwrap();
    }
    fn contains(&self, key: &[u8]) -> bool {
        self.get(key).unwrap().is_some()
    }
    fn reorder(&self) {
        Db::reorder(self).unwrap();
    }
    fn limit_lru(&self, bytes: u64) {
        self.set_memory_limit(bytes, EvictionPolicy::AllKeysLru)
            .unwrap();
    }
    fn usage(&self) -> (u64, u64, u64) {
        let u = self.memory_usage();
        (u.used, u.limit, u.evicted_keys)
    }
}

impl Store for evict_c::CDb<'_> {
    fn put(&self, key: &[u8], value: &[u8]) {
        evict_c::CDb::put(self, key, value);
    }
    fn contains(&self, key: &[u8]) -> bool {
        self.get(key)
    }
    fn reorder(&self) {
        evict_c::CDb::reorder(self);
    }
    fn limit_lru(&self, bytes: u64) {
        self.set_memory_limit(bytes, evict_c::ALLKEYS_LRU);
    }
    fn usage(&self) -> (u64, u64, u64) {
        self.memory_usage()
    }
}

/// Loads `db` (opened with background maintenance on, as by default: old
/// versions are collected in both runs) and, with `limit`, caps it at what
/// the records occupy.
fn load(db: &impl Store, limit: bool) {
    for i in 0..RECORDS {
        db.put(&key(i), &VALUE);
    }
    // The reordering pass the load makes due, now: in the run without a
    // limit the background thread would run it during the measurements,
    // and under a limit set at the usage it would not start at all.
    db.reorder();
    if limit {
        db.limit_lru(db.usage().0);
    }
}

/// Gets of loaded keys, overwrites of loaded keys, then puts of new keys
/// (at the limit, each of these evicts).
fn throughput(db: &impl Store, limit: bool, seed: u64) -> Rates {
    load(db, limit);
    let mut rng = Rng(seed | 1);
    let rate = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..OPS {
            f();
        }
        OPS as f64 / started.elapsed().as_secs_f64()
    };
    let mut hits = 0u64;
    let get = rate(&mut || {
        hits += u64::from(db.contains(&key(rng.below(RECORDS))));
    });
    assert!(hits > OPS / 2);
    let overwrite = rate(&mut || db.put(&key(rng.below(RECORDS)), &VALUE));
    let mut next = RECORDS;
    let insert = rate(&mut || {
        db.put(&key(next), &VALUE);
        next += 1;
    });
    if limit {
        let (used, limit, evicted) = db.usage();
        assert!(used <= limit && evicted >= OPS);
    }
    Rates {
        get,
        overwrite,
        insert,
    }
}

// ------------------------------------------------------------------ traces

/// A zipfian sampler over `n` items with exponent `s` (inverse CDF over a
/// precomputed table: exact and fast enough for 100,000 items).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for i in 1..=n {
            total += 1.0 / (i as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|c| *c < u) as u64
    }
}

/// Scrambles a rank into a key number, so popular keys are not adjacent.
fn scatter(rank: u64) -> u64 {
    rank.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (1 << 40)
}

fn zipf_trace(s: f64, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(UNIVERSE, s);
    let mut rng = Rng(seed | 1);
    (0..ACCESSES)
        .map(|_| scatter(zipf.sample(&mut rng)))
        .collect()
}

/// A hot set half the cache's size read uniformly; a third of the way in,
/// a one-pass scan over twice the cache's size of cold keys, never seen
/// again, interleaved one for one with the hot reads (a background job
/// scanning while the application goes on).
fn scan_trace(seed: u64) -> Vec<u64> {
    let mut rng = Rng(seed | 1);
    let hot = CAPACITY / 2;
    let scan_from = ACCESSES / 3;
    let scan_to = scan_from + 4 * CAPACITY as usize;
    (0..ACCESSES)
        .map(|i| {
            if (scan_from..scan_to).contains(&i) && i % 2 == 0 {
                scatter(UNIVERSE + (i - scan_from) as u64 / 2)
            } else {
                scatter(rng.below(hot))
            }
        })
        .collect()
}

/// Zipfian (s = 0.9) over a window of keys that moves to fresh keys ten
/// times over the trace.
fn shifting_trace(seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(UNIVERSE / 4, 0.9);
    let mut rng = Rng(seed | 1);
    let phase = ACCESSES / 10;
    (0..ACCESSES)
        .map(|i| {
            let offset = (i / phase) as u64 * (UNIVERSE / 10);
            scatter(offset + zipf.sample(&mut rng))
        })
        .collect()
}

// --------------------------------------------------------------- hit ratio

/// The cache-aside loop: every access a get, every miss a put.
fn replay(trace: &[u64], mut get: impl FnMut(u64) -> bool, mut put: impl FnMut(u64)) -> f64 {
    let mut hits = 0usize;
    for &k in trace {
        if get(k) {
            hits += 1;
        } else {
            put(k);
        }
    }
    hits as f64 / trace.len() as f64
}

/// Bytes kvdb needs for `CAPACITY` records of this shape (with a TTL, as
/// the replay writes them).
fn kvdb_capacity_bytes() -> u64 {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    let ttl = std::time::Duration::from_secs(3600);
    for i in 0..CAPACITY {
        db.put_with_ttl(&key(scatter(i)), &VALUE, ttl).unwrap();
    }
    db.memory_usage().used
}

fn kvdb_hit_ratio(policy: EvictionPolicy, limit: u64, trace: &[u64]) -> f64 {
    let mut options = Options::manual_maintenance();
    options.memory_limit = limit;
    options.eviction = policy;
    let db = Db::in_memory_with(options).unwrap();
    let ttl = std::time::Duration::from_secs(3600);
    replay(
        trace,
        |k| db.get(&key(k)).unwrap().is_some(),
        |k| {
            // Every key has a TTL, so volatile policies have candidates.
            db.put_with_ttl(&key(k), &VALUE, ttl).unwrap();
        },
    )
}

/// Exact LRU over `CAPACITY` records: the ceiling sampled LRU approaches,
/// to tell the policy's limits from the implementation's.
fn exact_lru_hit_ratio(trace: &[u64]) -> f64 {
    use std::collections::{BTreeMap, HashMap};
    let mut stamp_of: HashMap<u64, u64> = HashMap::new();
    let mut by_age: BTreeMap<u64, u64> = BTreeMap::new();
    let mut clock = 0u64;
    let mut hits = 0usize;
    for &k in trace {
        clock += 1;
        if let Some(old) = stamp_of.insert(k, clock) {
            by_age.remove(&old);
            hits += 1;
        } else if stamp_of.len() as u64 > CAPACITY
            && let Some((_, oldest)) = by_age.pop_first()
        {
            stamp_of.remove(&oldest);
        }
        by_age.insert(clock, k);
    }
    hits as f64 / trace.len() as f64
}

#[cfg(feature = "moka")]
fn moka_hit_ratio(trace: &[u64]) -> f64 {
    let cache: moka::sync::Cache<u64, Vec<u8>> = moka::sync::Cache::new(CAPACITY);
    replay(
        trace,
        |k| cache.get(&k).is_some(),
        |k| cache.insert(k, VALUE.to_vec()),
    )
}

#[cfg(feature = "redis")]
mod redis_peer {
    //! A private redis-server on loopback, its maxmemory set to what
    //! `CAPACITY` records occupy in it.

    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub(crate) struct Server {
        child: Child,
        pub(crate) con: redis::Connection,
        /// Where `DEBUG RELOAD` writes its RDB file.
        _dir: tempfile::TempDir,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn used_memory(con: &mut redis::Connection) -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO")
    }

    impl Server {
        pub(crate) fn start(policy: &str) -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = tempfile::tempdir().expect("a temporary directory");
            let dir_arg = dir.path().to_str().expect("a UTF-8 temporary path");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir", dir_arg])
                .args(["--enable-debug-command", "yes"])
                .args(["--maxmemory-policy", policy])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server)");
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let started = Instant::now();
            let con = loop {
                if let Ok(mut c) = client.get_connection()
                    && redis::cmd("PING").query::<String>(&mut c).is_ok()
                {
                    break c;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            let mut server = Self {
                child,
                con,
                _dir: dir,
            };
            // maxmemory: what `CAPACITY` records (with a TTL, as the replay
            // writes them) occupy.
            let empty = used_memory(&mut server.con);
            for i in 0..super::CAPACITY {
                let _: () = redis::cmd("SET")
                    .arg(&super::key(super::scatter(i))[..])
                    .arg(&super::VALUE[..])
                    .arg("EX")
                    .arg(3600)
                    .query(&mut server.con)
                    .unwrap();
            }
            let full = used_memory(&mut server.con);
            let _: () = redis::cmd("FLUSHALL").query(&mut server.con).unwrap();
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(full.max(empty))
                .query(&mut server.con)
                .unwrap();
            server
        }
    }
}

#[cfg(feature = "redis")]
fn redis_hit_ratio(policy: EvictionPolicy, trace: &[u64]) -> f64 {
    let mut server = redis_peer::Server::start(policy.name());
    redis_replay(&mut server.con, trace)
}

/// [`replay`] into Redis over `con`.
#[cfg(feature = "redis")]
fn redis_replay(con: &mut redis::Connection, trace: &[u64]) -> f64 {
    let con = std::cell::RefCell::new(con);
    replay(
        trace,
        |k| {
            let v: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key(k)[..])
                .query(*con.borrow_mut())
                .unwrap();
            v.is_some()
        },
        |k| {
            let _: () = redis::cmd("SET")
                .arg(&key(k)[..])
                .arg(&VALUE[..])
                .arg("EX")
                .arg(3600)
                .query(*con.borrow_mut())
                .unwrap();
        },
    )
}

// ------------------------------------------------------------------ report

/// Throughput without a limit (`[0]`) and at the limit (`[1]`), a round
/// each per repeat.
type RateRuns = [Vec<Rates>; 2];

fn main() {
    let run = run_info::RunInfo::now();
    let (repeats, ffi_lib) = run_info::parse_args(
        "kvdb-evict-bench [--repeats N] [--ffi-lib PATH/libkvdb.so]",
        true,
    );
    let c_library = ffi_lib.as_deref().map(evict_c::CLibrary::load);
    let mut rates: RateRuns = [Vec::new(), Vec::new()];
    let mut c_rates: RateRuns = [Vec::new(), Vec::new()];
    let show = |api: &str, r: usize, limit: bool, rate: &Rates| {
        eprintln!(
            "round {r}: {api}: limit {limit}: get {:.0}/s overwrite {:.0}/s insert {:.0}/s",
            rate.get, rate.overwrite, rate.insert
        );
    };
    for r in 0..repeats {
        for (i, limit) in [false, true].into_iter().enumerate() {
            let seed = 0x1234 + r as u64;
            let rate = throughput(
                &Db::in_memory_with(Options::default()).unwrap(),
                limit,
                seed,
            );
            show("Rust API", r, limit, &rate);
            rates[i].push(rate);
            if let Some(library) = &c_library {
                let rate = throughput(&library.open_in_memory(), limit, seed);
                show("C library", r, limit, &rate);
                c_rates[i].push(rate);
            }
        }
    }
    let c_rates = c_library.is_some().then_some(&c_rates);
    let traces: Vec<(&str, Vec<u64>)> = vec![
        ("zipfian s=0.99", zipf_trace(0.99, 7)),
        ("zipfian s=0.8", zipf_trace(0.8, 11)),
        ("hot set + one-pass scan", scan_trace(13)),
        ("shifting hot spot", shifting_trace(17)),
    ];
    let policies = [
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileTtl,
    ];
    let limit = kvdb_capacity_bytes();
    let mut table = Vec::new();
    for (name, trace) in &traces {
        let kvdb: Vec<f64> = policies
            .iter()
            .map(|p| kvdb_hit_ratio(*p, limit, trace))
            .collect();
        #[cfg(feature = "redis")]
        let redis = Some([
            redis_hit_ratio(EvictionPolicy::AllKeysLru, trace),
            redis_hit_ratio(EvictionPolicy::AllKeysLfu, trace),
        ]);
        #[cfg(not(feature = "redis"))]
        let redis: Option<[f64; 2]> = None;
        #[cfg(feature = "moka")]
        let moka = Some(moka_hit_ratio(trace));
        #[cfg(not(feature = "moka"))]
        let moka: Option<f64> = None;
        let exact = exact_lru_hit_ratio(trace);
        eprintln!("{name}: kvdb {kvdb:?} redis {redis:?} moka {moka:?} exact LRU {exact}");
        table.push((name.to_string(), kvdb, redis, moka, exact));
    }
    let mut restarts = Vec::new();
    for (name, trace) in traces.iter().take(2) {
        let mut row = RestartRow {
            trace: name.to_string(),
            kvdb: Vec::new(),
            redis: Vec::new(),
        };
        for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::AllKeysLfu] {
            for restart in evict_restart::KVDB_RESTARTS {
                row.kvdb
                    .push(evict_restart::kvdb_hit_ratio(policy, limit, trace, restart));
            }
            #[cfg(feature = "redis")]
            for restart in [false, true] {
                row.redis
                    .push(evict_restart::redis_hit_ratio(policy, trace, restart));
            }
        }
        eprintln!(
            "{name} across a restart: kvdb {:?} redis {:?}",
            row.kvdb, row.redis
        );
        restarts.push(row);
    }
    let results = Results {
        limit,
        policies: &policies,
        table: &table,
        restarts: &restarts,
    };
    write_report(&run, repeats, &rates, c_rates, &results);
}

type Row = (String, Vec<f64>, Option<[f64; 2]>, Option<f64>, f64);

/// Hit ratios after the middle of a trace, LRU then LFU: kvdb's left
/// running, restarted with a checkpoint on close and restarted from a
/// checkpoint at a quarter; Redis's left running and restarted (empty when
/// not run).
struct RestartRow {
    trace: String,
    kvdb: Vec<f64>,
    redis: Vec<f64>,
}

/// The hit-ratio runs' results.
struct Results<'a> {
    limit: u64,
    policies: &'a [EvictionPolicy],
    table: &'a [Row],
    restarts: &'a [RestartRow],
}

fn write_report(
    run: &run_info::RunInfo,
    repeats: usize,
    rates: &RateRuns,
    c_rates: Option<&RateRuns>,
    results: &Results<'_>,
) {
    let Results {
        limit,
        policies,
        table,
        restarts,
    } = *results;
    use std::fmt::Write;
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    let mut md = String::new();
    let _ = writeln!(md, "# Memory limit: throughput at the limit, hit ratios\n");
    let _ = writeln!(
        md,
        "{}. This machine is shared and has 2 cores: absolute figures move by 30-50% between \
         runs, so read the ratios, taken within one run.\n",
        run.describe()
    );
    let _ = writeln!(md, "## Throughput at the limit\n");
    let _ = writeln!(
        md,
        "{RECORDS} records (16-byte keys, 100-byte values) in memory, one thread; {OPS} random \
         gets of loaded keys, then {OPS} random overwrites of loaded keys, then {OPS} puts of new \
         keys. Background maintenance on, as by default (garbage collection; with a limit, the thread that unlinks evicted keys and chooses victims ahead, on the second core). With a limit: set to what the records occupy, policy allkeys-lru, so that every \
         new key evicts one (without a limit the store grows instead). Medians of {repeats} \
         runs (min in brackets), interleaved; the ratio is the median of the per-round ratios. \
         Rust API: `kvdb::Db` on the system allocator (glibc here). C library: `libkvdb.so` \
         loaded in the same process and called as a C program calls it (`kvdb_put`, \
         `kvdb_get_into`, `kvdb_set_memory_limit`), on the allocator it brings (mimalloc).{}\n",
        if c_rates.is_some() {
            ""
        } else {
            " The C library's rows were not run (pass `--ffi-lib`)."
        }
    );
    let _ = writeln!(md, "| | API | no limit | at the limit | ratio | target |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (what, pick, target) in [
        ("get/s", (|r: &Rates| r.get) as fn(&Rates) -> f64, "≥ 0.9x"),
        ("overwrite put/s", |r: &Rates| r.overwrite, "≥ 0.7x"),
        ("new-key put/s", |r: &Rates| r.insert, "≥ 0.7x"),
    ] {
        for (api, runs) in [("Rust", Some(rates)), ("C", c_rates)] {
            let Some(runs) = runs else { continue };
            let free: Vec<f64> = runs[0].iter().map(pick).collect();
            let capped: Vec<f64> = runs[1].iter().map(pick).collect();
            let ratios: Vec<f64> = free.iter().zip(&capped).map(|(f, c)| c / f).collect();
            let _ = writeln!(
                md,
                "| {what} | {api} | {:.0}k ({:.0}k) | {:.0}k ({:.0}k) | **{:.2}x** | {target} |",
                median(free.clone()) / 1e3,
                min(&free) / 1e3,
                median(capped.clone()) / 1e3,
                min(&capped) / 1e3,
                median(ratios)
            );
        }
    }
    let _ = writeln!(md, "\n## Hit ratios\n");
    let _ = writeln!(
        md,
        "Cache-aside replay (get; on a miss, put with a one-hour TTL) of {ACCESSES} accesses \
         over up to {UNIVERSE} keys, 16-byte keys and 100-byte values. Capacity: {CAPACITY} \
         records — kvdb's limit {limit} bytes (what {CAPACITY} such records occupy in kvdb), \
         Redis's maxmemory what they occupy in Redis, moka {CAPACITY} entries. Traces: zipfian \
         (s = 0.99, 0.8) over {UNIVERSE} keys; a hot set of {} keys read uniformly with, a third \
         of the way in, one pass over {} cold keys interleaved one for one with the hot reads; zipfian (s = 0.9) over a window of {} keys \
         that moves to fresh keys ten times.\n",
        CAPACITY / 2,
        2 * CAPACITY,
        UNIVERSE / 4
    );
    let mut header = String::from("| trace |");
    let mut rule = String::from("|---|");
    for p in policies {
        let _ = write!(header, " kvdb {p} |");
        rule.push_str("---|");
    }
    header.push_str(" Redis allkeys-lru | Redis allkeys-lfu | moka (W-TinyLFU) | exact LRU |");
    rule.push_str("---|---|---|---|");
    let _ = writeln!(md, "{header}\n{rule}");
    for (name, kvdb, redis, moka, exact) in table {
        let mut row = format!("| {name} |");
        for v in kvdb {
            let _ = write!(row, " {} |", pct(*v));
        }
        match redis {
            Some([lru, lfu]) => {
                let _ = write!(row, " {} | {} |", pct(*lru), pct(*lfu));
            }
            None => row.push_str(" not run | not run |"),
        }
        match moka {
            Some(m) => {
                let _ = write!(row, " {} |", pct(*m));
            }
            None => row.push_str(" not run |"),
        }
        let _ = write!(row, " {} |", pct(*exact));
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\nExact LRU: a true least-recently-used cache of {CAPACITY} records over the same \
         trace, the ceiling sampled LRU approaches.\n"
    );
    let _ = writeln!(md, "## Hit ratios across a restart\n");
    let _ = writeln!(
        md,
        "The same replay, the cache closed and reopened halfway through the trace: kvdb \
         (durable, synced by the OS) closed with a checkpoint (`checkpoint_on_close`) and \
         reopened; Redis by `DEBUG RELOAD` (an RDB file saved and loaded back). Both files keep \
         each key's recency (LRU) or frequency (LFU). \"stale\": kvdb checkpointed a quarter of \
         the way through and closed halfway without one (as after a crash): the snapshot keeps \
         the keys' use as of a quarter, the log the writes since, and the reads since are lost. \
         Hit ratio over the {} accesses after the middle of the trace, with the restart there \
         and without it.\n",
        evict_restart::AFTER
    );
    let _ = writeln!(
        md,
        "| trace | kvdb lru | restarted | stale | kvdb lfu | restarted | stale | Redis lru | restarted | Redis lfu | restarted |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for row in restarts {
        let mut line = format!("| {} |", row.trace);
        for v in &row.kvdb {
            let _ = write!(line, " {} |", pct(*v));
        }
        if row.redis.is_empty() {
            line.push_str(" not run | not run | not run | not run |");
        }
        for v in &row.redis {
            let _ = write!(line, " {} |", pct(*v));
        }
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Reproduce: `benches/evict.sh` (installs redis-server if missing; builds the C \
         library, and the driver with the `redis` and `moka` features) or \
         `scripts/build-lib.sh release && cargo run --release -p kvdb-bench --bin \
         kvdb-evict-bench --features redis,moka -- --repeats {repeats} --ffi-lib \
         target/release/libkvdb.so`."
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("EVICT_RESULTS.md");
    std::fs::write(&path, md).expect("writing EVICT_RESULTS.md");
    eprintln!("wrote {}", path.display());
}
