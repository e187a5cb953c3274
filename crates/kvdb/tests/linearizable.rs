//! Linearizability of single-key operations under concurrent writers.
//!
//! Three threads run random puts, deletes, gets, compare-and-swaps,
//! put-if-absents, `fetch_update`s and read-then-write transactions on two
//! keys, each call recorded with the instants it was invoked and answered
//! (one shared counter). Afterwards each key's history must have a
//! linearization, found by Wing and Gong's search: an order of its calls,
//! each placed between its invocation and its answer, under which every
//! answer is what one register would have given. Single-key
//! linearizability composes, so the keys are checked one at a time.
//!
//! Durable under the `always` policy, on the simulated file system with
//! syncs that take time (writers then wait in groups, and a writer reads
//! what another wrote before that write is durable); the same with every
//! background task running; and in memory.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kvdb::vfs::SimFs;
use kvdb::{CasOutcome, Db, Options, SyncPolicy};

mod common;
use common::Rng;

const THREADS: u64 = 3;
const CALLS_PER_THREAD: u64 = 20;
const KEYS: [&[u8]; 2] = [b"a", b"b"];

#[derive(Debug, Clone, Copy)]
enum Call {
    Put(u32),
    Delete,
    Get,
    Cas(u32, u32),
    PutIfAbsent(u32),
    /// A transaction that reads the key and puts this value over it
    /// (retried by `Db::transaction` on conflict).
    Swap(u32),
    /// `fetch_update` replacing a present value with this one (an absent
    /// key stays absent: nothing is written).
    Replace(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Done,
    Removed(bool),
    Value(Option<u32>),
    Swap(CasOutcome),
    Stored(bool),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    key: usize,
    call: Call,
    answer: Answer,
    invoked: u64,
    answered: u64,
}

/// What `call` does to a register holding `state`, and what it answers.
fn apply(state: Option<u32>, call: Call) -> (Option<u32>, Answer) {
    match call {
        Call::Put(v) => (Some(v), Answer::Done),
        Call::Delete => (None, Answer::Removed(state.is_some())),
        Call::Get => (state, Answer::Value(state)),
        Call::Cas(expected, new) => match state {
            None => (None, Answer::Swap(CasOutcome::NotFound)),
            Some(v) if v == expected => (Some(new), Answer::Swap(CasOutcome::Swapped)),
            Some(v) => (Some(v), Answer::Swap(CasOutcome::Mismatch)),
        },
        Call::PutIfAbsent(v) => match state {
            None => (Some(v), Answer::Stored(true)),
            held => (held, Answer::Stored(false)),
        },
        Call::Swap(v) => (Some(v), Answer::Value(state)),
        Call::Replace(v) => (state.map(|_| v), Answer::Value(state)),
    }
}

fn decode(value: Option<Vec<u8>>) -> Option<u32> {
    value.map(|v| u32::from_le_bytes(v.try_into().expect("4-byte values")))
}

fn call(db: &Db, key: &[u8], call: Call) -> Answer {
    match call {
        Call::Put(v) => {
            db.put(key, &v.to_le_bytes()).unwrap();
            Answer::Done
        }
        Call::Delete => Answer::Removed(db.delete(key).unwrap()),
        Call::Get => Answer::Value(decode(db.get(key).unwrap())),
        Call::Cas(expected, new) => Answer::Swap(
            db.compare_and_swap(key, &expected.to_le_bytes(), &new.to_le_bytes())
                .unwrap(),
        ),
        Call::PutIfAbsent(v) => Answer::Stored(db.put_if_absent(key, &v.to_le_bytes()).unwrap()),
        Call::Swap(v) => Answer::Value(decode(
            db.transaction(|txn| {
                let old = txn.get(key)?;
                txn.put(key, &v.to_le_bytes())?;
                Ok(old)
            })
            .unwrap(),
        )),
        Call::Replace(v) => Answer::Value(decode(
            db.fetch_update(key, |old| old.map(|_| v.to_le_bytes().to_vec()))
                .unwrap(),
        )),
    }
}

/// One thread's calls: values unique to the thread, compare-and-swaps
/// expecting a value it saw.
fn run_thread(db: &Db, clock: &AtomicU64, thread: u64, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed | 1);
    let mut seen = [None; KEYS.len()];
    let mut records = Vec::new();
    for i in 0..CALLS_PER_THREAD {
        let key = rng.below(KEYS.len() as u64) as usize;
        let fresh = (thread * 1000 + i) as u32;
        let c = match rng.below(7) {
            0 => Call::Put(fresh),
            1 => Call::Delete,
            2 => Call::Get,
            3 => Call::Cas(seen[key].unwrap_or(fresh), fresh),
            4 => Call::Swap(fresh),
            5 => Call::Replace(fresh),
            _ => Call::PutIfAbsent(fresh),
        };
        let invoked = clock.fetch_add(1, Ordering::SeqCst);
        let answer = call(db, KEYS[key], c);
        let answered = clock.fetch_add(1, Ordering::SeqCst);
        if let Answer::Value(v) = answer {
            seen[key] = v;
        }
        records.push(Record {
            key,
            call: c,
            answer,
            invoked,
            answered,
        });
    }
    records
}

/// Wing and Gong's search: can the calls not in `done` be ordered, from a
/// register holding `state`, so that each answers as it did?
fn search(
    calls: &[Record],
    done: u64,
    state: Option<u32>,
    tried: &mut HashSet<(u64, Option<u32>)>,
) -> bool {
    if done.count_ones() as usize == calls.len() {
        return true;
    }
    if !tried.insert((done, state)) {
        return false;
    }
    let pending = || (0..calls.len()).filter(move |i| done & (1 << i) == 0);
    // A call can go next only if it was invoked before every pending call
    // was answered.
    let first_answer = pending()
        .map(|i| calls[i].answered)
        .min()
        .expect("a pending call");
    pending()
        .filter(|&i| calls[i].invoked < first_answer)
        .any(|i| {
            let (next, answer) = apply(state, calls[i].call);
            answer == calls[i].answer && search(calls, done | 1 << i, next, tried)
        })
}

fn check_round(db: Db, seed: u64) {
    let db = Arc::new(db);
    let clock = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, clock, start) = (db.clone(), clock.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                run_thread(&db, &clock, t + 1, seed.wrapping_mul(31).wrapping_add(t))
            })
        })
        .collect();
    let history: Vec<Record> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    for (key, name) in KEYS.iter().enumerate() {
        let calls: Vec<Record> = history.iter().copied().filter(|r| r.key == key).collect();
        assert!(calls.len() <= 64);
        assert!(
            search(&calls, 0, None, &mut HashSet::new()),
            "round {seed}: key {:?} has no linearization: {calls:#?}",
            String::from_utf8_lossy(name)
        );
    }
}

#[test]
fn single_key_calls_are_linearizable_when_durable_writes_wait_for_syncs() {
    for seed in 1..=40u64 {
        let fs = Arc::new(SimFs::new());
        fs.set_sync_delay(Duration::from_micros(500));
        let mut options = Options::manual_maintenance();
        options.vfs = fs;
        options.sync = SyncPolicy::Always;
        check_round(Db::open("/db", options).unwrap(), seed);
    }
}

#[test]
fn single_key_calls_are_linearizable_with_background_maintenance_running() {
    for seed in 1..=40u64 {
        let fs = Arc::new(SimFs::new());
        fs.set_sync_delay(Duration::from_micros(200));
        let mut options = Options::default();
        options.vfs = fs;
        options.gc_interval = Some(Duration::from_millis(1));
        options.reorder_interval = Some(Duration::from_millis(1));
        options.checkpoint_after_wal_bytes = Some(4096);
        options.checkpoint_check_interval = Duration::from_millis(1);
        check_round(Db::open("/db", options).unwrap(), seed);
    }
}

#[test]
fn single_key_calls_are_linearizable_in_memory() {
    for seed in 1..=200u64 {
        check_round(
            Db::in_memory_with(Options::manual_maintenance()).unwrap(),
            seed,
        );
    }
}
