//! Linearizability of calls under concurrent writers.
//!
//! Three threads run random calls on two keys: puts (with and without a
//! TTL), deletes, gets, TTL reads, expire and persist, compare-and-swaps,
//! put-if-absents, `fetch_update`s and read-then-write transactions on one
//! key; on both at once a batch that puts both, reads of both (a
//! snapshot, a multi-get, an iterator over everything or over the two
//! keys' range, a cursor walked back and then forth, a secondary index
//! query in either direction), and a transaction that reads both (by gets,
//! a multi-get, its iterator, its iterator over the range descending, or
//! an index query from the end) and writes both; now and then a thread
//! moves the database's clock forward. Each call is recorded with the
//! instants it was invoked and answered (one shared counter). Afterwards
//! the history must have a linearization, found by Wing and Gong's search:
//! an order of the calls, each placed between its invocation and its
//! answer, under which every answer is what the pair of keys, as one
//! object, would have given.
//! So each call takes effect at one instant within its span, a batch or a
//! transaction on both keys is seen whole or not at all, and the index
//! always agrees with the records.
//!
//! Time is judged as a call reads the clock, each reading a time the clock
//! showed during the call and no earlier than the reading of any write
//! ordered before it: a write judges expiry and counts the TTLs it sets
//! from one reading (writes take their readings holding the write lock, in
//! order); a read judges expiry at one reading, taken once it knows which
//! writes it sees; a transaction reads at its view's reading (its begin,
//! which writes ordered before its commit may follow) and counts its TTLs
//! from a later one, as a write.
//! So a snapshot, multi-get, iterator or index query sees both keys at one
//! time, the keys of a batch or transaction with one TTL expire together,
//! a TTL counts from when its write took effect, and no expired value is
//! read, reported or changed; a write that found a value live deletes or
//! replaces it as a live value (a transaction that read it conflicts).
//!
//! Durable under the `always` policy, on the simulated file system with
//! syncs that take time (writers then wait in groups, and a writer reads
//! what another wrote before that write is durable); the same with every
//! background task running (expiry cycles reap what the clock expired);
//! and in memory. Then twice at a memory limit, with large values put
//! under other keys between calls so that writes evict: evicting random
//! keys in memory, and least recently used ones with durable writes and
//! background maintenance. The change stream says how many times each of
//! the two keys was evicted, and the search places exactly those
//! evictions, each a deletion of a key holding a value at some point of
//! the order; a write the limit refused must have applied nothing.
//!
//! After each round the change stream, watched from before the first call,
//! is replayed: its sequence numbers run on without a gap or repeat, it
//! holds every value an acknowledged write stored, and it ends where the
//! database is.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kvdb::vfs::SimFs;
use kvdb::{Db, EvictionPolicy, IndexDef, ManualClock, Options, SyncPolicy, WATCH_FROM_NOW};

mod calls;
#[path = "../common/mod.rs"]
mod common;
mod history;
mod model;
mod stream;

use calls::run_thread;
use history::{clock_readings, listing, search};
use model::{INDEX, Record, START_MS};
use stream::check_change_stream;

/// Threads calling at once in a round.
const THREADS: u64 = 3;

/// Room for about five fillers above the empty database: every few calls
/// a write evicts, now and then one of the two keys.
const ROOM: u64 = 6000;

/// Runs one round and checks its history; returns how many times the two
/// keys were evicted. With an eviction policy, the round runs at a limit
/// [`ROOM`] above the empty database, with filler keys put between calls
/// to keep it there.
fn check_round(db: Db, clock: Arc<ManualClock>, seed: u64, limit: Option<EvictionPolicy>) -> u32 {
    db.create_index(IndexDef::value_bytes(INDEX, 0, 4).unwrap())
        .unwrap();
    if let Some(policy) = limit {
        let used = db.memory_usage().used;
        db.set_memory_limit(used + ROOM, policy).unwrap();
    }
    let mut changes = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let db = Arc::new(db);
    let order = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, clock, order, start) =
                (db.clone(), clock.clone(), order.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                run_thread(
                    &db,
                    &clock,
                    &order,
                    t + 1,
                    seed.wrapping_mul(31).wrapping_add(t),
                    limit.is_some(),
                )
            })
        })
        .collect();
    let history: Vec<Record> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let (advances, calls): (Vec<Record>, Vec<Record>) =
        history.into_iter().partition(|r| r.call.is_advance());
    let evictions = check_change_stream(&mut changes, &db, &clock, &calls);
    assert!(
        limit.is_some() || evictions == [0; 2],
        "evictions without a limit"
    );
    assert!(calls.len() <= 64, "the search marks calls in a u64");
    let clocks = clock_readings(&calls, &advances);
    assert!(
        search(
            &calls,
            &clocks,
            (0, [None; 2], evictions, START_MS),
            &mut HashSet::new()
        ),
        "round {seed}: the history has no linearization (evictions {evictions:?}):\n{}",
        listing(&calls, &advances, &clocks)
    );
    evictions[0] + evictions[1]
}

/// `options` on a fresh simulated file system whose syncs take
/// `sync_delay`, reading time from a manual clock at [`START_MS`].
fn on_sim_fs(options: Options, sync_delay: Duration) -> (Options, Arc<ManualClock>) {
    let fs = Arc::new(SimFs::new());
    fs.set_sync_delay(sync_delay);
    let (mut options, clock) = with_clock(options);
    options.vfs = fs;
    (options, clock)
}

/// Options reading time from a manual clock at [`START_MS`].
fn with_clock(mut options: Options) -> (Options, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START_MS));
    options.clock = clock.clone();
    (options, clock)
}

#[test]
fn calls_are_linearizable_when_durable_writes_wait_for_syncs() {
    for seed in 1..=40u64 {
        let (mut options, clock) =
            on_sim_fs(Options::manual_maintenance(), Duration::from_micros(500));
        options.sync = SyncPolicy::Always;
        check_round(Db::open("/db", options).unwrap(), clock, seed, None);
    }
}

#[test]
fn calls_are_linearizable_with_background_maintenance_running() {
    for seed in 1..=40u64 {
        let (mut options, clock) = on_sim_fs(Options::default(), Duration::from_micros(200));
        options.expire_interval = Some(Duration::from_millis(1));
        options.gc_interval = Some(Duration::from_millis(1));
        options.reorder_interval = Some(Duration::from_millis(1));
        options.checkpoint_after_wal_bytes = Some(4096);
        options.checkpoint_check_interval = Duration::from_millis(1);
        check_round(Db::open("/db", options).unwrap(), clock, seed, None);
    }
}

#[test]
fn calls_are_linearizable_in_memory() {
    for seed in 1..=200u64 {
        let (options, clock) = with_clock(Options::manual_maintenance());
        check_round(Db::in_memory_with(options).unwrap(), clock, seed, None);
    }
}

#[test]
fn calls_are_linearizable_at_a_memory_limit_evicting_random_keys() {
    let limit = Some(EvictionPolicy::AllKeysRandom);
    let mut evicted = 0;
    for seed in 1..=200u64 {
        let (options, clock) = with_clock(Options::manual_maintenance());
        evicted += check_round(Db::in_memory_with(options).unwrap(), clock, seed, limit);
    }
    assert!(evicted >= 50, "the two keys were evicted {evicted} times");
}

#[test]
fn calls_are_linearizable_at_a_memory_limit_with_durable_writes_and_background_eviction() {
    let limit = Some(EvictionPolicy::AllKeysLru);
    let mut evicted = 0;
    for seed in 1..=40u64 {
        let (mut options, clock) = on_sim_fs(Options::default(), Duration::from_micros(200));
        options.sync = SyncPolicy::Always;
        options.expire_interval = Some(Duration::from_millis(1));
        options.gc_interval = Some(Duration::from_millis(1));
        evicted += check_round(Db::open("/db", options).unwrap(), clock, seed, limit);
    }
    assert!(evicted >= 5, "the two keys were evicted {evicted} times");
}
