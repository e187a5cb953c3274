//! Linearizability of calls under concurrent writers.
//!
//! Three threads run random calls on two keys: puts, deletes, gets,
//! compare-and-swaps, put-if-absents, `fetch_update`s and read-then-write
//! transactions on one key, and on both at once a batch that puts both, a
//! snapshot, an iterator and a secondary index query that read both, and a
//! transaction that reads both and writes both. Each call is recorded with
//! the instants it was invoked and answered (one shared counter).
//! Afterwards the history must have a linearization, found by Wing and
//! Gong's search: an order of the calls, each placed between its invocation
//! and its answer, under which every answer is what the pair of keys, as
//! one object, would have given. So each call takes effect at one instant
//! within its span, a batch or a transaction on both keys is seen whole or
//! not at all, and the index always agrees with the records.
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
use kvdb::{Batch, CasOutcome, Db, IndexDef, IndexQuery, Options, SyncPolicy};

mod common;
use common::Rng;

const THREADS: u64 = 3;
const CALLS_PER_THREAD: u64 = 20;
const KEYS: [&[u8]; 2] = [b"a", b"b"];
/// A secondary index on the whole (4-byte) value.
const INDEX: &str = "value";

/// The two keys' values (none: absent).
type State = [Option<u32>; 2];

#[derive(Debug, Clone, Copy)]
enum Call {
    /// A call on one key.
    On(usize, KeyCall),
    /// A batch putting this value under both keys.
    PutBoth(u32),
    /// A snapshot reading both keys.
    GetBoth,
    /// An iterator over the whole database (it reads at one view).
    ScanBoth,
    /// A query of the secondary index on values, listing both keys'
    /// records.
    IndexBoth,
    /// A transaction that reads both keys and puts this value under both.
    SwapBoth(u32),
}

#[derive(Debug, Clone, Copy)]
enum KeyCall {
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
    Both(State),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    call: Call,
    answer: Answer,
    invoked: u64,
    answered: u64,
}

/// What `call` does to the keys holding `state`, and what it answers.
fn apply(state: State, call: Call) -> (State, Answer) {
    match call {
        Call::On(key, call) => {
            let (value, answer) = apply_to_key(state[key], call);
            let mut next = state;
            next[key] = value;
            (next, answer)
        }
        Call::PutBoth(v) => ([Some(v); 2], Answer::Done),
        Call::GetBoth | Call::ScanBoth | Call::IndexBoth => (state, Answer::Both(state)),
        Call::SwapBoth(v) => ([Some(v); 2], Answer::Both(state)),
    }
}

/// What `call` does to one key holding `state`, and what it answers.
fn apply_to_key(state: Option<u32>, call: KeyCall) -> (Option<u32>, Answer) {
    match call {
        KeyCall::Put(v) => (Some(v), Answer::Done),
        KeyCall::Delete => (None, Answer::Removed(state.is_some())),
        KeyCall::Get => (state, Answer::Value(state)),
        KeyCall::Cas(expected, new) => match state {
            None => (None, Answer::Swap(CasOutcome::NotFound)),
            Some(v) if v == expected => (Some(new), Answer::Swap(CasOutcome::Swapped)),
            Some(v) => (Some(v), Answer::Swap(CasOutcome::Mismatch)),
        },
        KeyCall::PutIfAbsent(v) => match state {
            None => (Some(v), Answer::Stored(true)),
            held => (held, Answer::Stored(false)),
        },
        KeyCall::Swap(v) => (Some(v), Answer::Value(state)),
        KeyCall::Replace(v) => (state.map(|_| v), Answer::Value(state)),
    }
}

fn decode(value: Option<Vec<u8>>) -> Option<u32> {
    value.map(|v| u32::from_le_bytes(v.try_into().expect("4-byte values")))
}

fn call(db: &Db, call: Call) -> Answer {
    match call {
        Call::On(key, c) => call_on_key(db, KEYS[key], c),
        Call::PutBoth(v) => {
            let mut batch = Batch::new();
            for key in KEYS {
                batch.put(key, &v.to_le_bytes()).unwrap();
            }
            db.write(&batch).unwrap();
            Answer::Done
        }
        Call::GetBoth => {
            let snapshot = db.snapshot();
            Answer::Both(KEYS.map(|key| decode(snapshot.get(key).unwrap())))
        }
        Call::ScanBoth => {
            let mut both = [None; 2];
            for (key, value) in db.iter() {
                let at = KEYS
                    .iter()
                    .position(|k| *k == key.as_slice())
                    .expect("one of the keys");
                both[at] = decode(Some(value));
            }
            Answer::Both(both)
        }
        Call::IndexBoth => {
            let mut both = [None; 2];
            for entry in db.index(INDEX, IndexQuery::All).unwrap() {
                let at = KEYS
                    .iter()
                    .position(|k| *k == entry.key.as_slice())
                    .expect("one of the keys");
                assert_eq!(entry.index_key, entry.value, "the index key is the value");
                both[at] = decode(Some(entry.value));
            }
            Answer::Both(both)
        }
        Call::SwapBoth(v) => Answer::Both(
            db.transaction(|txn| {
                let mut old = [None; 2];
                for (slot, key) in old.iter_mut().zip(KEYS) {
                    *slot = decode(txn.get(key)?);
                    txn.put(key, &v.to_le_bytes())?;
                }
                Ok(old)
            })
            .unwrap(),
        ),
    }
}

fn call_on_key(db: &Db, key: &[u8], call: KeyCall) -> Answer {
    match call {
        KeyCall::Put(v) => {
            db.put(key, &v.to_le_bytes()).unwrap();
            Answer::Done
        }
        KeyCall::Delete => Answer::Removed(db.delete(key).unwrap()),
        KeyCall::Get => Answer::Value(decode(db.get(key).unwrap())),
        KeyCall::Cas(expected, new) => Answer::Swap(
            db.compare_and_swap(key, &expected.to_le_bytes(), &new.to_le_bytes())
                .unwrap(),
        ),
        KeyCall::PutIfAbsent(v) => Answer::Stored(db.put_if_absent(key, &v.to_le_bytes()).unwrap()),
        KeyCall::Swap(v) => Answer::Value(decode(
            db.transaction(|txn| {
                let old = txn.get(key)?;
                txn.put(key, &v.to_le_bytes())?;
                Ok(old)
            })
            .unwrap(),
        )),
        KeyCall::Replace(v) => Answer::Value(decode(
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
        let c = match rng.below(12) {
            0 => Call::On(key, KeyCall::Put(fresh)),
            1 => Call::On(key, KeyCall::Delete),
            2 => Call::On(key, KeyCall::Get),
            3 => Call::On(key, KeyCall::Cas(seen[key].unwrap_or(fresh), fresh)),
            4 => Call::On(key, KeyCall::Swap(fresh)),
            5 => Call::On(key, KeyCall::Replace(fresh)),
            6 => Call::On(key, KeyCall::PutIfAbsent(fresh)),
            7 => Call::PutBoth(fresh),
            8 => Call::GetBoth,
            9 => Call::ScanBoth,
            10 => Call::IndexBoth,
            _ => Call::SwapBoth(fresh),
        };
        let invoked = clock.fetch_add(1, Ordering::SeqCst);
        let answer = call(db, c);
        let answered = clock.fetch_add(1, Ordering::SeqCst);
        match (c, answer) {
            (Call::On(key, _), Answer::Value(v)) => seen[key] = v,
            (_, Answer::Both(both)) => seen = both,
            _ => {}
        }
        records.push(Record {
            call: c,
            answer,
            invoked,
            answered,
        });
    }
    records
}

/// Wing and Gong's search: can the calls not in `done` be ordered, from
/// keys holding `state`, so that each answers as it did?
fn search(calls: &[Record], done: u64, state: State, tried: &mut HashSet<(u64, State)>) -> bool {
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
    db.create_index(IndexDef::value_bytes(INDEX, 0, 4).unwrap())
        .unwrap();
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
    assert!(history.len() <= 64, "the search marks calls in a u64");
    assert!(
        search(&history, 0, [None; 2], &mut HashSet::new()),
        "round {seed}: the history has no linearization: {history:#?}"
    );
}

#[test]
fn calls_are_linearizable_when_durable_writes_wait_for_syncs() {
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
fn calls_are_linearizable_with_background_maintenance_running() {
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
fn calls_are_linearizable_in_memory() {
    for seed in 1..=200u64 {
        check_round(
            Db::in_memory_with(Options::manual_maintenance()).unwrap(),
            seed,
        );
    }
}
