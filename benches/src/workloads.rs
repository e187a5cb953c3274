//! The workloads: what each thread asks for, how long it runs, and what is
//! measured (throughput and sampled latency).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::Env;
use crate::keys::{Rng, Zipfian, key, key_into};
use crate::report::Measurement;
use crate::systems::{Op, System};

/// One request, by record index (an index at or above the loaded count is a
/// key created during the run).
#[derive(Debug, Clone, Copy)]
enum Req {
    Get(u64),
    Put(u64),
    Scan(u64, usize),
    ScanSteps(u64, usize),
    ScanBack(u64, usize),
    Rmw(u64),
}

/// What a thread needs to generate requests.
struct Gen<'e> {
    env: &'e Env,
    rng: Rng,
    zipf: &'e Zipfian,
    /// The next index for inserted keys, shared by all threads.
    next_insert: &'e AtomicU64,
}

impl Gen<'_> {
    fn uniform(&mut self) -> u64 {
        self.rng.below(self.env.records)
    }

    fn zipf(&mut self) -> u64 {
        self.zipf.next_scrambled(&mut self.rng)
    }

    fn insert(&mut self) -> u64 {
        self.next_insert.fetch_add(1, Ordering::Relaxed)
    }

    /// YCSB's "latest": recently inserted records are the most popular.
    fn latest(&mut self) -> u64 {
        let newest = self.next_insert.load(Ordering::Relaxed).saturating_sub(1);
        newest.saturating_sub(self.zipf.next(&mut self.rng))
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }
}

/// A named mix of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mix {
    GetUniform,
    GetZipfian,
    Update,
    /// YCSB A: 50% read, 50% update, zipfian.
    YcsbA,
    /// YCSB B: 95% read, 5% update, zipfian.
    YcsbB,
    /// YCSB C: 100% read, zipfian.
    YcsbC,
    /// YCSB D: 95% read of the latest records, 5% insert.
    YcsbD,
    /// YCSB E: 95% short scans (1..=100 entries), 5% insert.
    YcsbE,
    /// YCSB F: 50% read, 50% read-modify-write, zipfian.
    YcsbF,
    /// 100-entry range scans from uniform random keys.
    Range100,
    /// The same, stepping an iterator one entry at a time.
    Range100Steps,
    /// 100-entry range scans backward (descending) from uniform random keys.
    Range100Back,
}

impl Mix {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mix::GetUniform => "get-uniform",
            Mix::GetZipfian => "get-zipfian",
            Mix::Update => "update",
            Mix::YcsbA => "ycsb-a",
            Mix::YcsbB => "ycsb-b",
            Mix::YcsbC => "ycsb-c",
            Mix::YcsbD => "ycsb-d",
            Mix::YcsbE => "ycsb-e",
            Mix::YcsbF => "ycsb-f",
            Mix::Range100 => "scan-100",
            Mix::Range100Steps => "scan-100-steps",
            Mix::Range100Back => "scan-100-back",
        }
    }

    pub(crate) const ALL: [Mix; 12] = [
        Mix::GetUniform,
        Mix::GetZipfian,
        Mix::Update,
        Mix::YcsbA,
        Mix::YcsbB,
        Mix::YcsbC,
        Mix::YcsbD,
        Mix::YcsbE,
        Mix::YcsbF,
        Mix::Range100,
        Mix::Range100Steps,
        Mix::Range100Back,
    ];

    fn scans(self) -> bool {
        matches!(
            self,
            Mix::YcsbE | Mix::Range100 | Mix::Range100Steps | Mix::Range100Back
        )
    }

    fn next(self, g: &mut Gen<'_>) -> Req {
        match self {
            Mix::GetUniform => Req::Get(g.uniform()),
            Mix::GetZipfian | Mix::YcsbC => Req::Get(g.zipf()),
            Mix::Update => Req::Put(g.uniform()),
            Mix::YcsbA => {
                if g.chance(50) {
                    Req::Get(g.zipf())
                } else {
                    Req::Put(g.zipf())
                }
            }
            Mix::YcsbB => {
                if g.chance(95) {
                    Req::Get(g.zipf())
                } else {
                    Req::Put(g.zipf())
                }
            }
            Mix::YcsbD => {
                if g.chance(95) {
                    Req::Get(g.latest())
                } else {
                    Req::Put(g.insert())
                }
            }
            Mix::YcsbE => {
                if g.chance(95) {
                    let len = 1 + g.rng.below(100) as usize;
                    Req::Scan(g.zipf(), len)
                } else {
                    Req::Put(g.insert())
                }
            }
            Mix::YcsbF => {
                if g.chance(50) {
                    Req::Get(g.zipf())
                } else {
                    Req::Rmw(g.zipf())
                }
            }
            Mix::Range100 => Req::Scan(g.uniform(), 100),
            Mix::Range100Steps => Req::ScanSteps(g.uniform(), 100),
            Mix::Range100Back => Req::ScanBack(g.uniform(), 100),
        }
    }
}

/// Per-thread results.
struct ThreadRun {
    ops: u64,
    latency: Histogram<u64>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Latency is timed on one request (or request group) in this many, so that
/// reading the clock does not dominate sub-microsecond operations.
const SAMPLE_EVERY: u64 = 8;

/// The operation for request `r` on key `k`.
#[inline]
fn to_op<'a>(env: &'a Env, r: Req, k: &'a [u8]) -> Op<'a> {
    match r {
        Req::Get(_) => Op::Get(k),
        Req::Put(i) => Op::Put(k, env.value_for(i)),
        Req::Scan(_, n) => Op::Scan(k, n),
        Req::ScanSteps(_, n) => Op::ScanSteps(k, n),
        Req::ScanBack(_, n) => Op::ScanBack(k, n),
        Req::Rmw(i) => Op::ReadModifyWrite(k, env.value_for(i ^ 1)),
    }
}

/// Runs `threads` threads issuing `mix` against `system` for `env.duration`.
pub(crate) fn timed(
    system: &Arc<dyn System>,
    env: &Env,
    mix: Mix,
    threads: usize,
    next_insert: &AtomicU64,
) -> Measurement {
    let zipf = &env.zipf;
    let pipeline = system.pipeline().max(1);
    let (seconds, runs) = on_threads(threads, |t, barrier| {
        let mut g = Gen {
            env,
            rng: Rng::new(env.seed ^ (t as u64 + 1).wrapping_mul(0x1234_5678_9abc)),
            zipf,
            next_insert,
        };
        let mut out = Vec::with_capacity(4096);
        let mut latency = new_histogram();
        let mut reqs = Vec::with_capacity(pipeline);
        // Keys are computed into these buffers: one per request
        // of a group.
        let mut keys = vec![vec![0u8; env.key_len]; pipeline];
        let mut ops = 0u64;
        let mut round = 0u64;
        barrier.wait();
        let deadline = Instant::now() + env.duration;
        loop {
            reqs.clear();
            for buf in keys.iter_mut() {
                let r = mix.next(&mut g);
                let index = match r {
                    Req::Get(i)
                    | Req::Put(i)
                    | Req::Scan(i, _)
                    | Req::ScanSteps(i, _)
                    | Req::ScanBack(i, _)
                    | Req::Rmw(i) => i,
                };
                crate::keys::key_into(index, buf);
                reqs.push(r);
            }
            let timed = round.is_multiple_of(SAMPLE_EVERY) || pipeline > 1;
            let t0 = timed.then(Instant::now);
            if pipeline == 1 {
                let op = to_op(env, reqs[0], &keys[0]);
                system.run(std::slice::from_ref(&op), &mut out);
            } else {
                let batch: Vec<Op<'_>> = reqs
                    .iter()
                    .zip(&keys)
                    .map(|(r, k)| to_op(env, *r, k))
                    .collect();
                system.run(&batch, &mut out);
            }
            if let Some(t0) = t0 {
                let per_op = t0.elapsed().as_nanos() as u64 / pipeline as u64;
                latency
                    .record_n(per_op.max(1), pipeline as u64)
                    .expect("record latency");
            }
            ops += pipeline as u64;
            round += 1;
            if round.is_multiple_of(64) && Instant::now() >= deadline {
                break;
            }
        }
        ThreadRun { ops, latency }
    });
    Measurement::from_runs(
        mix.name(),
        threads,
        seconds,
        runs.iter().map(|r| (r.ops, &r.latency)),
        "ops/s",
    )
}

/// Keys one multi-get reads.
pub(crate) const MULTI_GET_KEYS: usize = 32;

/// Runs `threads` threads reading [`MULTI_GET_KEYS`] uniformly random
/// loaded keys per call of [`System::get_many`] for `env.duration`;
/// measures keys read per second (latency: per key, of the sampled calls).
pub(crate) fn multi_get(system: &Arc<dyn System>, env: &Env, threads: usize) -> Measurement {
    let (seconds, runs) = on_threads(threads, |t, barrier| {
        let mut rng = Rng::new(env.seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut keys = vec![vec![0u8; env.key_len]; MULTI_GET_KEYS];
        let mut out = Vec::with_capacity(4096);
        let mut latency = new_histogram();
        let (mut ops, mut round) = (0u64, 0u64);
        barrier.wait();
        let deadline = Instant::now() + env.duration;
        loop {
            for k in keys.iter_mut() {
                key_into(rng.below(env.records), k);
            }
            let refs: [&[u8]; MULTI_GET_KEYS] = std::array::from_fn(|i| &keys[i][..]);
            let t0 = round.is_multiple_of(SAMPLE_EVERY).then(Instant::now);
            let found = system.get_many(&refs, &mut out);
            if let Some(t0) = t0 {
                let per_key = t0.elapsed().as_nanos() as u64 / MULTI_GET_KEYS as u64;
                latency
                    .record_n(per_key.max(1), MULTI_GET_KEYS as u64)
                    .expect("record latency");
            }
            assert_eq!(found, MULTI_GET_KEYS, "a loaded key was not found");
            ops += MULTI_GET_KEYS as u64;
            round += 1;
            if round.is_multiple_of(16) && Instant::now() >= deadline {
                break;
            }
        }
        ThreadRun { ops, latency }
    });
    Measurement::from_runs(
        "multi-get-32",
        threads,
        seconds,
        runs.iter().map(|r| (r.ops, &r.latency)),
        "keys/s",
    )
}

/// Whether `mix` makes sense for `system` (scans need an ordered store).
pub(crate) fn supports(system: &dyn System, mix: Mix) -> bool {
    let out = &mut Vec::new();
    match mix {
        Mix::Range100Back => system.scan_back(b"", 1, out).is_some(),
        _ => !mix.scans() || system.scan(b"", 1, out).is_some(),
    }
}

/// Splits `indices` among `threads` threads, each sending them in groups
/// of the system's pipeline size as the operations `make` builds, timing one
/// group in [`SAMPLE_EVERY`] (every group for a pipelining server).
fn grouped(
    system: &Arc<dyn System>,
    env: &Env,
    threads: usize,
    indices: &[u64],
    delete: bool,
) -> (f64, Vec<ThreadRun>) {
    let pipeline = system.pipeline().max(1);
    let chunk = indices.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<&[u64]> = indices.chunks(chunk).collect();
    on_threads(parts.len(), |t, barrier| {
        let part = parts[t];
        let mut latency = new_histogram();
        let mut out = Vec::new();
        let mut keys = vec![vec![0u8; env.key_len]; pipeline];
        barrier.wait();
        for (n, group) in part.chunks(pipeline).enumerate() {
            for (&i, k) in group.iter().zip(keys.iter_mut()) {
                key_into(i, k);
            }
            let ops: Vec<Op<'_>> = group
                .iter()
                .zip(&keys)
                .map(|(&i, k)| {
                    if delete {
                        Op::Delete(k)
                    } else {
                        Op::Put(k, env.value_for(i))
                    }
                })
                .collect();
            if pipeline > 1 || (n as u64).is_multiple_of(SAMPLE_EVERY) {
                let t0 = Instant::now();
                system.run(&ops, &mut out);
                let per_op = t0.elapsed().as_nanos() as u64 / ops.len() as u64;
                latency
                    .record_n(per_op.max(1), ops.len() as u64)
                    .expect("record latency");
            } else {
                system.run(&ops, &mut out);
            }
        }
        ThreadRun {
            ops: part.len() as u64,
            latency,
        }
    })
}

/// Runs `work(t, barrier)` for `t` in `0..threads`, each on its own thread;
/// every worker waits on the shared barrier once it is ready so they start
/// together. Returns the wall-clock seconds from spawning to the last join
/// and each thread's run.
fn on_threads<F>(threads: usize, work: F) -> (f64, Vec<ThreadRun>)
where
    F: Fn(usize, &Barrier) -> ThreadRun + Sync,
{
    let barrier = Barrier::new(threads);
    let started = Instant::now();
    let runs = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || work(t, barrier))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    (started.elapsed().as_secs_f64(), runs)
}

/// Loads every record, in random order, with `threads` threads: the insert
/// workload.
pub(crate) fn load(system: &Arc<dyn System>, env: &Env, threads: usize) -> Measurement {
    let (seconds, runs) = grouped(system, env, threads, &env.load_order, false);
    Measurement::from_runs(
        "insert",
        threads,
        seconds,
        runs.iter().map(|r| (r.ops, &r.latency)),
        "ops/s",
    )
}

/// Runs the work a store does by itself after a bulk load, now, so that
/// what follows measures the store as it then stays: seconds taken, if the
/// store has such work.
pub(crate) fn settle(system: &Arc<dyn System>, env: &Env) -> Option<Measurement> {
    let started = Instant::now();
    if !system.settle() {
        return None;
    }
    let seconds = started.elapsed().as_secs_f64();
    Some(Measurement::simple(
        "settle",
        1,
        seconds,
        "s",
        env.records,
        seconds,
    ))
}

/// The most passes [`delete`] makes, however fast the system deletes.
const MAX_DELETE_PASSES: usize = 20;

/// Deletes a tenth of the records, each once, with `threads` threads, and
/// puts them back untimed; then the next tenth, until the deletes have
/// taken `env.duration` (at most [`MAX_DELETE_PASSES`] passes). One pass
/// lasts 50-100 ms on a fast system: a background collector's pass that
/// lands in it or not would make one pass's rate bimodal, while many
/// passes share that cost out as a steady stream of deletes pays it.
pub(crate) fn delete(
    system: &Arc<dyn System>,
    env: &Env,
    threads: usize,
    round: usize,
) -> Measurement {
    let tenth = env.records as usize / 10;
    let mut seconds = 0.0;
    let mut runs = Vec::new();
    for pass in 0..MAX_DELETE_PASSES {
        if seconds >= env.duration.as_secs_f64() {
            break;
        }
        let start = ((round * MAX_DELETE_PASSES + pass) * tenth) % env.load_order.len();
        let victims: Vec<u64> = env
            .load_order
            .iter()
            .cycle()
            .skip(start)
            .take(tenth)
            .copied()
            .collect();
        let (pass_seconds, pass_runs) = grouped(system, env, threads, &victims, true);
        seconds += pass_seconds;
        runs.extend(pass_runs);
        grouped(system, env, threads, &victims, false);
    }
    Measurement::from_runs(
        "delete",
        threads,
        seconds,
        runs.iter().map(|r| (r.ops, &r.latency)),
        "ops/s",
    )
}

/// Reads every entry once, in key order, on one thread: entries per second.
pub(crate) fn full_scan(system: &Arc<dyn System>) -> Option<Measurement> {
    let mut out = Vec::new();
    let started = Instant::now();
    let n = system.scan(b"", usize::MAX, &mut out)?;
    let seconds = started.elapsed().as_secs_f64();
    Some(Measurement::simple(
        "full-scan",
        1,
        n as f64 / seconds,
        "entries/s",
        n as u64,
        seconds,
    ))
}

/// Durable writes: `threads` threads each commit single puts of new keys,
/// every one synced before it returns, for the configured duration.
pub(crate) fn durable_writes(system: &Arc<dyn System>, env: &Env, threads: usize) -> Measurement {
    let duration = env.duration.max(Duration::from_millis(500));
    let (seconds, runs) = on_threads(threads, |t, barrier| {
        let mut latency = new_histogram();
        barrier.wait();
        let deadline = Instant::now() + duration;
        let mut ops = 0u64;
        while Instant::now() < deadline {
            let k = key((t as u64) << 40 | ops, env.key_len);
            let t0 = Instant::now();
            system.put(&k, env.value_for(ops));
            latency
                .record(t0.elapsed().as_nanos().max(1) as u64)
                .expect("record latency");
            ops += 1;
        }
        ThreadRun { ops, latency }
    });
    Measurement::from_runs(
        "durable-put",
        threads,
        seconds,
        runs.iter().map(|r| (r.ops, &r.latency)),
        "commits/s",
    )
}
