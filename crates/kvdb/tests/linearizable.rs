//! Linearizability of calls under concurrent writers.
//!
//! Three threads run random calls on two keys: puts (with and without a
//! TTL), deletes, gets, TTL reads, expire and persist, compare-and-swaps,
//! put-if-absents, `fetch_update`s and read-then-write transactions on one
//! key; on both at once a batch that puts both, reads of both (a
//! snapshot, a multi-get, an iterator over everything or over the two
//! keys' range, a cursor walked back and then forth, a secondary index
//! query in either direction), and a transaction that reads both (by gets,
//! its iterator, its iterator over the range descending, or an index query
//! from the end) and writes both; now and then a thread moves the
//! database's clock forward. Each call is recorded with the instants it was
//! invoked and answered (one shared counter). Afterwards the history must
//! have a linearization, found by Wing and Gong's search: an order of the
//! calls, each placed between its invocation and its answer, under which
//! every answer is what the pair of keys, as one object, would have given.
//! So each call takes effect at one instant within its span, a batch or a
//! transaction on both keys is seen whole or not at all, and the index
//! always agrees with the records.
//!
//! Time is judged as a call reads the clock: a call judges expiry at one
//! reading and counts the TTLs it sets from one reading (another, in a
//! call that does both, except `expire` and put-if-absent, which count from
//! the reading they judged the key at), each a time the clock showed during
//! the call.
//! So a snapshot, multi-get, iterator or index query sees both keys at one
//! time, the keys of a batch or transaction with one TTL expire together,
//! and no expired value is read, reported or changed; a write that found a
//! value live deletes or replaces it as a live value (a transaction that
//! read it conflicts).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kvdb::vfs::SimFs;
use kvdb::{
    Batch, CasOutcome, Change, Clock, Db, ErrorKind, EvictionPolicy, IndexDef, IndexEntry,
    IndexQuery, ManualClock, Options, SyncPolicy, Ttl, Txn, WATCH_FROM_NOW, Watcher,
};

mod common;
use common::Rng;

const THREADS: u64 = 3;
const CALLS_PER_THREAD: u64 = 20;
const KEYS: [&[u8]; 2] = [b"a", b"b"];
/// Keys of no call's concern, put between calls to fill a memory limit.
const FILLER: &[u8] = b"filler";
/// A filler's value: a few of them fill the limit.
const FILLER_VALUE: [u8; 1000] = [7; 1000];
/// A secondary index on the whole (4-byte) value.
const INDEX: &str = "value";

/// The clock's reading when a round starts (ms).
const START_MS: u64 = 1_000_000;
/// How far one `Advance` moves the clock (ms).
const STEP_MS: u64 = 4;
/// The TTLs calls set (ms): one step, within two, four: some expire
/// exactly at a reading, some between readings.
const TTLS_MS: [u64; 3] = [4, 7, 16];

/// What one key holds: a value and its expiry time. An expired entry stays
/// until written over, since a call whose span began before the clock
/// passed its expiry may still read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    value: u32,
    expires_at: Option<u64>,
}

/// The two keys' entries (none: absent).
type State = [Option<Entry>; 2];

/// The two keys' values as a call read them (none: absent or expired).
type Pair = [Option<u32>; 2];

#[derive(Debug, Clone, Copy)]
enum Call {
    /// A call on one key.
    On(usize, KeyCall),
    /// A batch putting this value under both keys, with this TTL if any.
    PutBoth(u32, Option<u64>),
    /// A read of both keys at one view.
    ReadBoth(Read),
    /// A transaction that reads both keys so and puts this value under
    /// both.
    SwapBoth(u32, TxnRead),
    /// Moves the clock forward by [`STEP_MS`]; not searched, it only
    /// bounds the times other calls may have read.
    Advance,
}

/// How a call reads both keys at one view.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// Two gets through a snapshot.
    Snapshot,
    /// A multi-get.
    GetMany,
    /// An iterator over the whole database.
    Scan,
    /// An iterator over the range from the first key to the second,
    /// bounds included.
    Range,
    /// A cursor from the last key back to the first, then forward to the
    /// last again (both walks must agree).
    Walk,
    /// A query of the secondary index on values, in index order.
    Index,
    /// The same query, from its end.
    IndexBack,
}

/// How a transaction reads both keys.
#[derive(Debug, Clone, Copy)]
enum TxnRead {
    Gets,
    /// Through its iterator (its writes merged over its view).
    Scan,
    /// Through its iterator over the two keys' range, descending.
    RangeDesc,
    /// Through a query of the index, from the end.
    IndexBack,
}

impl Call {
    fn is_advance(&self) -> bool {
        match self {
            Call::Advance => true,
            Call::On(..) | Call::PutBoth(..) | Call::ReadBoth(_) | Call::SwapBoth(..) => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum KeyCall {
    Put(u32),
    PutTtl(u32, u64),
    Delete,
    Get,
    Ttl,
    Cas(u32, u32),
    /// A put if absent, with this TTL if any (counted from the reading
    /// the key was found absent at).
    PutIfAbsent(u32, Option<u64>),
    /// A transaction that reads the key and puts this value over it, with
    /// this TTL if any (retried by `Db::transaction` on conflict).
    Swap(u32, Option<u64>),
    /// `fetch_update` replacing a present value with this one (an absent
    /// key stays absent: nothing is written).
    Replace(u32),
    Expire(u64),
    Persist,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Done,
    Removed(bool),
    Value(Option<u32>),
    Ttl(Option<Ttl>),
    Swap(CasOutcome),
    Stored(bool),
    Both(Pair),
    /// Refused for memory: nothing applied.
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    call: Call,
    answer: Answer,
    invoked: u64,
    answered: u64,
}

/// `entry` if it is live at `now`.
fn live(entry: Option<Entry>, now: u64) -> Option<Entry> {
    entry.filter(|e| e.expires_at.is_none_or(|at| at > now))
}

fn both_live(state: State, now: u64) -> Pair {
    state.map(|e| live(e, now).map(|e| e.value))
}

/// What `call` does to the keys holding `state`, and what it answers, for
/// each pair of readings it may have taken from `clocks`: `now` to judge
/// expiry, `from` to count TTLs from.
fn apply(state: State, call: Call, clocks: &[u64]) -> Vec<(State, Answer)> {
    let mut outcomes = Vec::new();
    for &now in clocks {
        for &from in clocks {
            let outcome = apply_at(state, call, now, from);
            if !outcomes.contains(&outcome) {
                outcomes.push(outcome);
            }
        }
    }
    outcomes
}

fn apply_at(state: State, call: Call, now: u64, from: u64) -> (State, Answer) {
    match call {
        Call::On(key, call) => {
            let (entry, answer) = apply_to_key(state[key], call, now, from);
            let mut next = state;
            next[key] = entry;
            (next, answer)
        }
        Call::PutBoth(value, ttl) => {
            let expires_at = ttl.map(|ttl| from + ttl);
            ([Some(Entry { value, expires_at }); 2], Answer::Done)
        }
        Call::ReadBoth(_) => (state, Answer::Both(both_live(state, now))),
        Call::SwapBoth(value, _) => (
            [Some(Entry {
                value,
                expires_at: None,
            }); 2],
            Answer::Both(both_live(state, now)),
        ),
        Call::Advance => unreachable!("advances are not searched"),
    }
}

/// What `call` does to one key holding `entry`, and what it answers, with
/// expiry judged at `now` and TTLs counted from `from`.
fn apply_to_key(
    entry: Option<Entry>,
    call: KeyCall,
    now: u64,
    from: u64,
) -> (Option<Entry>, Answer) {
    let found = live(entry, now);
    let put = |value, ttl: Option<u64>| {
        Some(Entry {
            value,
            expires_at: ttl.map(|ttl| from + ttl),
        })
    };
    match call {
        KeyCall::Put(v) => (put(v, None), Answer::Done),
        KeyCall::PutTtl(v, ttl) => (put(v, Some(ttl)), Answer::Done),
        // Deleting what expired writes nothing a reader could tell from
        // the expired entry.
        KeyCall::Delete => match found {
            None => (entry, Answer::Removed(false)),
            Some(_) => (None, Answer::Removed(true)),
        },
        KeyCall::Get => (entry, Answer::Value(found.map(|e| e.value))),
        KeyCall::Ttl => (
            entry,
            Answer::Ttl(found.map(|e| match e.expires_at {
                None => Ttl::Persistent,
                Some(at) => Ttl::Expires(Duration::from_millis(at - now)),
            })),
        ),
        KeyCall::Cas(expected, new) => match found {
            None => (entry, Answer::Swap(CasOutcome::NotFound)),
            Some(e) if e.value == expected => (
                Some(Entry { value: new, ..e }),
                Answer::Swap(CasOutcome::Swapped),
            ),
            Some(_) => (entry, Answer::Swap(CasOutcome::Mismatch)),
        },
        KeyCall::PutIfAbsent(value, ttl) => match found {
            None => (
                Some(Entry {
                    value,
                    expires_at: ttl.map(|ttl| now + ttl),
                }),
                Answer::Stored(true),
            ),
            Some(_) => (entry, Answer::Stored(false)),
        },
        KeyCall::Swap(v, ttl) => (put(v, ttl), Answer::Value(found.map(|e| e.value))),
        KeyCall::Replace(v) => match found {
            None => (entry, Answer::Value(None)),
            Some(e) => (Some(Entry { value: v, ..e }), Answer::Value(Some(e.value))),
        },
        // The new TTL counts from the reading the key was found live at.
        KeyCall::Expire(ttl) => match found {
            None => (entry, Answer::Stored(false)),
            Some(e) => (
                Some(Entry {
                    value: e.value,
                    expires_at: Some(now + ttl),
                }),
                Answer::Stored(true),
            ),
        },
        KeyCall::Persist => match found {
            None => (entry, Answer::Stored(false)),
            Some(e) => (put(e.value, None), Answer::Stored(true)),
        },
    }
}

fn decode(value: Option<Vec<u8>>) -> Option<u32> {
    value.map(|v| u32::from_le_bytes(v.try_into().expect("4-byte values")))
}

fn call(db: &Db, clock: &ManualClock, call: Call) -> Answer {
    match call {
        Call::On(key, c) => call_on_key(db, KEYS[key], c),
        Call::PutBoth(v, ttl) => {
            let mut batch = Batch::new();
            for key in KEYS {
                match ttl {
                    None => batch.put(key, &v.to_le_bytes()).unwrap(),
                    Some(ms) => batch
                        .put_with_ttl(key, &v.to_le_bytes(), Duration::from_millis(ms))
                        .unwrap(),
                }
            }
            answered(db.write(&batch), |()| Answer::Done)
        }
        Call::ReadBoth(read) => Answer::Both(read_both(db, read)),
        Call::SwapBoth(v, read) => answered(
            db.transaction(|txn| {
                let old = read_both_in(txn, read)?;
                for key in KEYS {
                    txn.put(key, &v.to_le_bytes())?;
                }
                Ok(old)
            }),
            Answer::Both,
        ),
        Call::Advance => {
            clock.advance(STEP_MS);
            Answer::Done
        }
    }
}

/// Both keys' values, read at one view as `read` says.
fn read_both(db: &Db, read: Read) -> Pair {
    let mut both = [None; 2];
    let mut found = |key: &[u8], value: Vec<u8>| {
        if let Some(at) = position(key) {
            both[at] = decode(Some(value));
        }
    };
    match read {
        Read::Snapshot => {
            let snapshot = db.snapshot();
            return KEYS.map(|key| decode(snapshot.get(key).unwrap()));
        }
        Read::GetMany => {
            let values = db.get_many(&KEYS).unwrap();
            return [decode(values[0].clone()), decode(values[1].clone())];
        }
        Read::Scan => db.iter().for_each(|(key, value)| found(&key, value)),
        Read::Range => db
            .range(KEYS[0]..=KEYS[1])
            .for_each(|(key, value)| found(&key, value)),
        Read::Walk => {
            let mut cursor = db.cursor::<&[u8]>(..);
            let mut back = Vec::new();
            cursor.seek_to_last();
            while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
                back.push((key.to_vec(), value.to_vec()));
                cursor.prev();
            }
            let mut forth = Vec::new();
            cursor.seek_to_first();
            while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
                forth.push((key.to_vec(), value.to_vec()));
                cursor.next();
            }
            back.reverse();
            assert_eq!(back, forth, "one cursor's walks back and forth agree");
            forth
                .into_iter()
                .for_each(|(key, value)| found(&key, value));
        }
        Read::Index | Read::IndexBack => {
            let entries = db.index(INDEX, IndexQuery::All).unwrap();
            let entries: Vec<IndexEntry> = match read {
                Read::IndexBack => entries.rev().collect(),
                _ => entries.collect(),
            };
            for entry in entries {
                assert_eq!(
                    entry.index_key,
                    entry.value[..4],
                    "the index key is the value's head"
                );
                found(&entry.key, entry.value);
            }
        }
    }
    both
}

/// Both keys' values as `txn` reads them.
fn read_both_in(txn: &mut Txn, read: TxnRead) -> kvdb::Result<Pair> {
    let mut both = [None; 2];
    match read {
        TxnRead::Gets => {
            for (slot, key) in both.iter_mut().zip(KEYS) {
                *slot = decode(txn.get(key)?);
            }
        }
        TxnRead::Scan => {
            for (key, value) in txn.iter() {
                if let Some(at) = position(&key) {
                    both[at] = decode(Some(value));
                }
            }
        }
        TxnRead::RangeDesc => {
            for (key, value) in txn.range_desc(KEYS[0]..=KEYS[1]) {
                let at = position(&key).expect("only the two keys are in their range");
                both[at] = decode(Some(value));
            }
        }
        TxnRead::IndexBack => {
            for entry in txn.index(INDEX, IndexQuery::All)?.rev() {
                if let Some(at) = position(&entry.key) {
                    both[at] = decode(Some(entry.value));
                }
            }
        }
    }
    Ok(both)
}

/// A write's answer, or [`Answer::Refused`] if the memory limit refused it
/// (then it applied nothing): at a limit, versions that open snapshots
/// and iterators still read stay counted, and may leave nothing to evict.
fn answered<T>(result: kvdb::Result<T>, answer: impl FnOnce(T) -> Answer) -> Answer {
    match result {
        Ok(value) => answer(value),
        Err(e) if e.kind() == ErrorKind::MemoryLimit => Answer::Refused,
        Err(e) => panic!("a call failed: {e}"),
    }
}

/// Which of the two keys `key` is; none for a filler.
fn position(key: &[u8]) -> Option<usize> {
    let at = KEYS.iter().position(|k| *k == key);
    assert!(
        at.is_some() || key.starts_with(FILLER),
        "an unknown key {key:?}"
    );
    at
}

fn call_on_key(db: &Db, key: &[u8], call: KeyCall) -> Answer {
    let ms = Duration::from_millis;
    let value = |v: u32| v.to_le_bytes();
    match call {
        KeyCall::Put(v) => answered(db.put(key, &value(v)), |()| Answer::Done),
        KeyCall::PutTtl(v, ttl) => {
            answered(db.put_with_ttl(key, &value(v), ms(ttl)), |()| Answer::Done)
        }
        KeyCall::Delete => answered(db.delete(key), Answer::Removed),
        KeyCall::Get => Answer::Value(decode(db.get(key).unwrap())),
        KeyCall::Ttl => Answer::Ttl(db.ttl(key).unwrap()),
        KeyCall::Cas(expected, new) => answered(
            db.compare_and_swap(key, &value(expected), &value(new)),
            Answer::Swap,
        ),
        KeyCall::PutIfAbsent(v, None) => answered(db.put_if_absent(key, &value(v)), Answer::Stored),
        KeyCall::PutIfAbsent(v, Some(t)) => answered(
            db.put_if_absent_with_ttl(key, &value(v), ms(t)),
            Answer::Stored,
        ),
        KeyCall::Swap(v, ttl) => answered(
            db.transaction(|txn| {
                let old = txn.get(key)?;
                match ttl {
                    None => txn.put(key, &value(v))?,
                    Some(t) => txn.put_with_ttl(key, &value(v), ms(t))?,
                }
                Ok(old)
            }),
            |old| Answer::Value(decode(old)),
        ),
        KeyCall::Replace(v) => answered(
            db.fetch_update(key, |old| old.map(|_| value(v).to_vec())),
            |old| Answer::Value(decode(old)),
        ),
        KeyCall::Expire(ttl) => answered(db.expire(key, ms(ttl)), Answer::Stored),
        KeyCall::Persist => answered(db.persist(key), Answer::Stored),
    }
}

/// One thread's calls: values unique to the thread, compare-and-swaps
/// expecting a value it saw.
fn run_thread(
    db: &Db,
    clock: &ManualClock,
    order: &AtomicU64,
    thread: u64,
    seed: u64,
    fillers: bool,
) -> Vec<Record> {
    let mut rng = Rng(seed | 1);
    let mut seen = [None; KEYS.len()];
    let mut records = Vec::new();
    for i in 0..CALLS_PER_THREAD {
        if fillers && rng.below(2) == 0 {
            let filler = [FILLER, &thread.to_le_bytes(), &i.to_le_bytes()].concat();
            answered(db.put(&filler, &FILLER_VALUE), |()| Answer::Done);
        }
        let key = rng.below(KEYS.len() as u64) as usize;
        let fresh = (thread * 1000 + i) as u32;
        let ttl = TTLS_MS[rng.below(TTLS_MS.len() as u64) as usize];
        let c = match rng.below(20) {
            0 => Call::On(key, KeyCall::Put(fresh)),
            1 => Call::On(key, KeyCall::PutTtl(fresh, ttl)),
            2 => Call::On(key, KeyCall::Delete),
            3 => Call::On(key, KeyCall::Get),
            4 => Call::On(key, KeyCall::Ttl),
            5 => Call::On(key, KeyCall::Cas(seen[key].unwrap_or(fresh), fresh)),
            6 => Call::On(key, KeyCall::Swap(fresh, None)),
            7 => Call::On(key, KeyCall::Swap(fresh, Some(ttl))),
            8 => Call::On(key, KeyCall::Replace(fresh)),
            9 => Call::On(
                key,
                KeyCall::PutIfAbsent(fresh, [None, Some(ttl)][rng.below(2) as usize]),
            ),
            10 => Call::On(key, KeyCall::Expire(ttl)),
            11 => Call::On(key, KeyCall::Persist),
            12 => Call::PutBoth(fresh, None),
            13 => Call::PutBoth(fresh, Some(ttl)),
            14..=16 => Call::ReadBoth(
                [
                    Read::Snapshot,
                    Read::GetMany,
                    Read::Scan,
                    Read::Range,
                    Read::Walk,
                    Read::Index,
                    Read::IndexBack,
                ][rng.below(7) as usize],
            ),
            17 | 18 => Call::SwapBoth(
                fresh,
                [
                    TxnRead::Gets,
                    TxnRead::Scan,
                    TxnRead::RangeDesc,
                    TxnRead::IndexBack,
                ][rng.below(4) as usize],
            ),
            _ => Call::Advance,
        };
        let invoked = order.fetch_add(1, Ordering::SeqCst);
        let answer = call(db, clock, c);
        let answered = order.fetch_add(1, Ordering::SeqCst);
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

/// The readings the clock may have shown during each call of `calls`: at
/// least what it showed once every advance answered before the call was
/// invoked, at most what it showed once every advance invoked before the
/// call answered.
fn clock_readings(calls: &[Record], advances: &[Record]) -> Vec<Vec<u64>> {
    calls
        .iter()
        .map(|c| {
            let low = advances.iter().filter(|a| a.answered < c.invoked).count() as u64;
            let high = advances.iter().filter(|a| a.invoked < c.answered).count() as u64;
            (low..=high).map(|n| START_MS + n * STEP_MS).collect()
        })
        .collect()
}

/// Wing and Gong's search: can the calls not in `done` be ordered, from
/// keys holding `state`, so that each answers as it did with the clock
/// showing one of its `clocks`, with the `evictions` of each key still to
/// come placed among them? An eviction deletes a key that holds a value:
/// a write of its own, made by a write that needed room before that write
/// takes effect, so it may fall anywhere in the order.
fn search(
    calls: &[Record],
    clocks: &[Vec<u64>],
    done: u64,
    state: State,
    evictions: [u32; 2],
    tried: &mut HashSet<(u64, State, [u32; 2])>,
) -> bool {
    if done.count_ones() as usize == calls.len() && evictions == [0; 2] {
        return true;
    }
    if !tried.insert((done, state, evictions)) {
        return false;
    }
    let evicted = (0..KEYS.len()).any(|k| {
        if evictions[k] == 0 || state[k].is_none() {
            return false;
        }
        let (mut next, mut left) = (state, evictions);
        next[k] = None;
        left[k] -= 1;
        search(calls, clocks, done, next, left, tried)
    });
    if evicted {
        return true;
    }
    let pending = || (0..calls.len()).filter(move |i| done & (1 << i) == 0);
    // A call can go next only if it was invoked before every pending call
    // was answered.
    let Some(first_answer) = pending().map(|i| calls[i].answered).min() else {
        return false;
    };
    pending()
        .filter(|&i| calls[i].invoked < first_answer)
        .any(|i| {
            let outcomes = if calls[i].answer == Answer::Refused {
                vec![(state, Answer::Refused)]
            } else {
                apply(state, calls[i].call, &clocks[i])
            };
            outcomes.into_iter().any(|(next, answer)| {
                answer == calls[i].answer
                    && search(calls, clocks, done | 1 << i, next, evictions, tried)
            })
        })
}

/// Replays the change stream of a round: its sequence numbers run without a
/// gap or repeat, every value an acknowledged write stored under one of
/// the two keys is in it, and it ends where the database is. Returns how
/// many times it says each key was evicted.
fn check_change_stream(
    changes: &mut Watcher,
    db: &Db,
    clock: &ManualClock,
    calls: &[Record],
) -> [u32; 2] {
    let mut evictions = [0u32; 2];
    let mut replayed: State = [None; 2];
    let mut stored = HashSet::new();
    let mut last_seq = None;
    while let Some(event) = changes.try_next().unwrap() {
        if let Some(last) = last_seq {
            assert_eq!(event.seq, last + 1, "the change stream's numbers run on");
        }
        last_seq = Some(event.seq);
        let Some(at) = position(&event.key) else {
            continue;
        };
        replayed[at] = match event.change {
            Change::Put { value, expires_at } => {
                let value = decode(Some(value)).expect("a value");
                stored.insert(value);
                Some(Entry { value, expires_at })
            }
            Change::Evicted => {
                evictions[at] += 1;
                None
            }
            Change::Delete | Change::Expired => None,
        };
    }
    for record in calls {
        if let Some(value) = stored_by(record) {
            assert!(
                stored.contains(&value),
                "the change stream lacks the acknowledged {record:?}"
            );
        }
    }
    let now = clock.now_ms();
    for (at, key) in KEYS.iter().enumerate() {
        assert_eq!(
            decode(db.get(key).unwrap()),
            live(replayed[at], now).map(|e| e.value),
            "the change stream ends where the database is"
        );
    }
    evictions
}

/// The value `record`'s call stored, if it stored one (each call's values
/// are its own).
fn stored_by(record: &Record) -> Option<u32> {
    match (record.call, record.answer) {
        (_, Answer::Refused) => None,
        (Call::On(_, KeyCall::Put(v) | KeyCall::PutTtl(v, _) | KeyCall::Swap(v, _)), _) => Some(v),
        (Call::On(_, KeyCall::Cas(_, v)), Answer::Swap(CasOutcome::Swapped)) => Some(v),
        (Call::On(_, KeyCall::PutIfAbsent(v, _)), Answer::Stored(true)) => Some(v),
        (Call::On(_, KeyCall::Replace(v)), Answer::Value(Some(_))) => Some(v),
        (Call::PutBoth(v, _) | Call::SwapBoth(v, _), _) => Some(v),
        _ => None,
    }
}

/// A memory limit a round runs under, with filler keys put between calls
/// to keep the database at it.
#[derive(Clone, Copy)]
struct Limit {
    /// Bytes allowed above what the empty database holds.
    room: u64,
    policy: EvictionPolicy,
}

/// Runs one round and checks its history; returns how many times the two
/// keys were evicted.
fn check_round(db: Db, clock: Arc<ManualClock>, seed: u64, limit: Option<Limit>) -> u32 {
    db.create_index(IndexDef::value_bytes(INDEX, 0, 4).unwrap())
        .unwrap();
    if let Some(limit) = limit {
        let used = db.memory_usage().used;
        db.set_memory_limit(used + limit.room, limit.policy)
            .unwrap();
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
            0,
            [None; 2],
            evictions,
            &mut HashSet::new()
        ),
        "round {seed}: the history has no linearization (evictions {evictions:?}):\n{}",
        listing(&calls, &advances, &clocks)
    );
    evictions[0] + evictions[1]
}

/// The history, one call a line in the order they were invoked, with the
/// clock readings each may have seen.
fn listing(calls: &[Record], advances: &[Record], clocks: &[Vec<u64>]) -> String {
    let mut lines: Vec<(u64, String)> = calls
        .iter()
        .zip(clocks)
        .map(|(r, clocks)| {
            let clocks: Vec<u64> = clocks.iter().map(|c| c - START_MS).collect();
            let line = format!(
                "{:>4}-{:<4} {:?} -> {:?}  clock +{clocks:?}",
                r.invoked, r.answered, r.call, r.answer
            );
            (r.invoked, line)
        })
        .chain(advances.iter().map(|r| {
            (
                r.invoked,
                format!("{:>4}-{:<4} Advance", r.invoked, r.answered),
            )
        }))
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, line)| line + "\n").collect()
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

/// Room for about five fillers above the empty database: every few calls
/// a write evicts, now and then one of the two keys.
const ROOM: u64 = 6000;

#[test]
fn calls_are_linearizable_at_a_memory_limit_evicting_random_keys() {
    let limit = Limit {
        room: ROOM,
        policy: EvictionPolicy::AllKeysRandom,
    };
    let mut evicted = 0;
    for seed in 1..=200u64 {
        let (options, clock) = with_clock(Options::manual_maintenance());
        evicted += check_round(
            Db::in_memory_with(options).unwrap(),
            clock,
            seed,
            Some(limit),
        );
    }
    assert!(evicted >= 50, "the two keys were evicted {evicted} times");
}

#[test]
fn calls_are_linearizable_at_a_memory_limit_with_durable_writes_and_background_eviction() {
    let limit = Limit {
        room: ROOM,
        policy: EvictionPolicy::AllKeysLru,
    };
    let mut evicted = 0;
    for seed in 1..=40u64 {
        let (mut options, clock) = on_sim_fs(Options::default(), Duration::from_micros(200));
        options.sync = SyncPolicy::Always;
        options.expire_interval = Some(Duration::from_millis(1));
        options.gc_interval = Some(Duration::from_millis(1));
        evicted += check_round(Db::open("/db", options).unwrap(), clock, seed, Some(limit));
    }
    assert!(evicted >= 5, "the two keys were evicted {evicted} times");
}
