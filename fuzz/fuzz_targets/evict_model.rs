//! Random sequences of API calls (transactions among them) on an in-memory
//! database with a small memory limit and a random eviction policy, checked
//! call by call against a BTreeMap model. The change feed names every
//! evicted key, so the model knows exactly what the database should still
//! hold; the checks are the eviction contract:
//! - every key the database holds has the model's value, and every key the
//!   model holds that the database lacks was announced as evicted;
//! - `noeviction` evicts nothing; `volatile-*` evicts only keys with a TTL;
//! - a write refused with `MemoryLimit` applied nothing and evicted nothing;
//! - with no snapshot open, usage is within the limit after every write,
//!   and after the limit is lowered unless no key the policy may evict is
//!   left;
//! - the eviction counter counts the announced evictions;
//! - snapshots keep reading their moment through evictions;
//! - with a secondary index kept, it lists exactly the live keys;
//! - an index created under the limit leaves usage within it (with no
//!   snapshot open), or fails with `MemoryLimit` leaving no index.
//!
//! Either with eviction and collection on the writer only, or with
//! background maintenance on.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use kvdb::{
    Batch, Change, Db, ErrorKind, EvictionPolicy, IndexDef, IndexQuery, ManualClock, Options,
    Snapshot, WATCH_FROM_NOW, Watcher,
};
use kvdb_fuzz::{Model, Pairs, get, live};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    /// Background maintenance on: evictions ahead of need, their victims
    /// unlinked and the next ones chosen by a background thread, which
    /// races the calls (a failure may not reproduce exactly).
    background: bool,
    /// A secondary index on each value's first byte, so that writes and
    /// evictions also write index entries.
    indexed: bool,
    policy: u8,
    /// The limit, above the empty database's usage, in 64-byte steps.
    room: u8,
    calls: Vec<Call>,
}

#[derive(Debug, Arbitrary)]
enum Call {
    Put(u8, u8),
    PutTtl(u8, u8, u8),
    Delete(u8),
    Get(u8),
    Write(Vec<(u8, Option<u8>)>),
    PutIfAbsent(u8, u8),
    Advance(u8),
    TakeSnapshot,
    CheckSnapshot(u8),
    DropSnapshot(u8),
    SetLimit(u8, u8),
    Collect,
    ExpireCycle,
    /// Puts (Some) and deletes (None) in one transaction.
    Transaction(Vec<(u8, Option<u8>)>),
    /// Creates the secondary index if there is none, drops it otherwise.
    ToggleIndex,
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k % 32]
}

/// Up to 240 bytes, so that a few dozen keys pass a limit of a few KiB.
fn value(v: u8) -> Vec<u8> {
    vec![v; usize::from(v % 16) * 16]
}

/// The secondary index's name.
const INDEX: &str = "first-byte";

fn policy_of(p: u8) -> EvictionPolicy {
    EvictionPolicy::ALL[usize::from(p) % EvictionPolicy::ALL.len()]
}

struct Checker {
    db: Db,
    watcher: Watcher,
    model: Model,
    policy: EvictionPolicy,
    limit: u64,
    /// Evictions announced so far.
    evicted: u64,
    snapshots: Vec<(Snapshot, Pairs)>,
    indexed: bool,
}

impl Checker {
    /// Takes the keys the feed announces as evicted out of the model,
    /// checking that the policy may evict each; returns them.
    fn take_evictions(&mut self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        while let Some(event) = self.watcher.try_next().unwrap() {
            if event.change != Change::Evicted {
                continue;
            }
            assert_ne!(
                self.policy,
                EvictionPolicy::NoEviction,
                "noeviction evicted"
            );
            let held = self.model.remove(&event.key);
            if self.policy.volatile_only() {
                assert!(
                    held.is_none_or(|(_, exp)| exp.is_some()),
                    "{} evicted a key without a TTL",
                    self.policy
                );
            }
            keys.push(event.key);
        }
        self.evicted += keys.len() as u64;
        assert_eq!(self.db.memory_usage().evicted_keys, self.evicted);
        keys
    }

    /// After a write: evictions applied to the model, then either the
    /// write's effect (`apply`) or, if it was refused for memory, nothing.
    /// `puts`: the write stored a value (deletions are always allowed,
    /// whatever the usage, so only a write that stores is held to the
    /// limit).
    fn wrote<T>(&mut self, puts: bool, result: kvdb::Result<T>, apply: impl FnOnce(&mut Model, T)) {
        let evicted = self.take_evictions().len();
        match result {
            Ok(out) => {
                apply(&mut self.model, out);
                if puts && self.snapshots.is_empty() {
                    let usage = self.db.memory_usage();
                    assert!(
                        usage.used <= usage.limit,
                        "{}: {} bytes used after a write, limit {}",
                        self.policy,
                        usage.used,
                        usage.limit
                    );
                }
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::MemoryLimit, "{e}");
                assert_eq!(evicted, 0, "a refused write evicted keys");
            }
        }
    }

    fn check_all(&self, now: u64) {
        let live = live(&self.model, now);
        if self.indexed {
            // Ordered by index key (the value's first byte), then key; an
            // empty value is too short to be indexed.
            let mut expected: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = live
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (v[..1].to_vec(), k.clone(), v.clone()))
                .collect();
            expected.sort();
            let listed: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = self
                .db
                .index(INDEX, IndexQuery::All)
                .unwrap()
                .map(|e| (e.index_key, e.key, e.value))
                .collect();
            assert_eq!(listed, expected, "the index does not list the live keys");
        }
        assert_eq!(self.db.iter().collect::<Vec<_>>(), live);
        for (s, seen) in &self.snapshots {
            assert_eq!(&s.iter().collect::<Vec<_>>(), seen, "a snapshot changed");
        }
    }
}

fuzz_target!(|input: Input| {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = if input.background {
        Options::default()
    } else {
        Options::manual_maintenance()
    };
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    if input.indexed {
        db.create_index(IndexDef::value_bytes(INDEX, 0, 1).unwrap())
            .unwrap();
    }
    let base = db.memory_usage().used;
    let policy = policy_of(input.policy);
    let limit = base + 1024 + u64::from(input.room) * 64;
    db.set_memory_limit(limit, policy).unwrap();
    let watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let mut c = Checker {
        db,
        watcher,
        model: Model::new(),
        policy,
        limit,
        evicted: 0,
        snapshots: Vec::new(),
        indexed: input.indexed,
    };
    let mut now = 1_000_000u64;
    for call in input.calls.iter().take(300) {
        match *call {
            Call::Put(k, v) => {
                let r = c.db.put(&key(k), &value(v));
                c.wrote(true, r, |m, ()| {
                    m.insert(key(k), (value(v), None));
                });
            }
            Call::PutTtl(k, v, ttl) => {
                let ttl = u64::from(ttl) + 1;
                let r =
                    c.db.put_with_ttl(&key(k), &value(v), Duration::from_millis(ttl));
                c.wrote(true, r, |m, ()| {
                    m.insert(key(k), (value(v), Some(now + ttl)));
                });
            }
            Call::Delete(k) => {
                let r = c.db.delete(&key(k));
                c.wrote(false, r, |m, was| {
                    assert_eq!(was, get(m, &key(k), now).is_some());
                    m.remove(&key(k));
                });
            }
            Call::Get(k) => {
                assert_eq!(c.db.get(&key(k)).unwrap(), get(&c.model, &key(k), now));
            }
            Call::Write(ref ops) => {
                let mut batch = Batch::new();
                for &(k, v) in ops.iter().take(8) {
                    match v {
                        Some(v) => batch.put(&key(k), &value(v)).unwrap(),
                        None => batch.delete(&key(k)).unwrap(),
                    }
                }
                let r = c.db.write(&batch);
                c.wrote(ops.iter().take(8).any(|(_, v)| v.is_some()), r, |m, ()| {
                    for &(k, v) in ops.iter().take(8) {
                        match v {
                            Some(v) => m.insert(key(k), (value(v), None)),
                            None => m.remove(&key(k)),
                        };
                    }
                });
            }
            Call::Transaction(ref ops) => {
                let ops: Vec<(u8, Option<u8>)> = ops.iter().take(8).copied().collect();
                let mut txn = c.db.begin().unwrap();
                for &(k, v) in &ops {
                    match v {
                        Some(v) => txn.put(&key(k), &value(v)).unwrap(),
                        None => {
                            txn.delete(&key(k)).unwrap();
                        }
                    }
                }
                let r = txn.commit();
                match r {
                    // Only the background expiry can write a key the
                    // transaction read or wrote meanwhile, or the commit's
                    // own eviction a key it read (its deletes read).
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        let evicted = c.take_evictions();
                        let read_evicted = ops
                            .iter()
                            .any(|&(k, v)| v.is_none() && evicted.contains(&key(k)));
                        assert!(input.background || read_evicted, "{e}");
                    }
                    r => {
                        // The commit writes each key's last operation: a
                        // put deleted again stores nothing (and deletions
                        // are allowed past the limit).
                        let last: std::collections::BTreeMap<u8, Option<u8>> =
                            ops.iter().map(|&(k, v)| (k % 32, v)).collect();
                        let puts = last.values().any(Option::is_some);
                        c.wrote(puts, r, |m, _| {
                            for &(k, v) in &ops {
                                match v {
                                    Some(v) => m.insert(key(k), (value(v), None)),
                                    None => m.remove(&key(k)),
                                };
                            }
                        });
                    }
                }
            }
            Call::PutIfAbsent(k, v) => {
                let r = c.db.put_if_absent(&key(k), &value(v));
                // One that finds the key present writes nothing.
                let stores = matches!(r, Ok(true));
                c.wrote(stores, r, |m, stored| {
                    let absent = get(m, &key(k), now).is_none();
                    assert_eq!(stored, absent);
                    if absent {
                        m.insert(key(k), (value(v), None));
                    }
                });
            }
            Call::Advance(ms) => {
                clock.advance(u64::from(ms));
                now += u64::from(ms);
            }
            Call::TakeSnapshot => {
                if c.snapshots.len() < 3 {
                    let seen = live(&c.model, now);
                    c.snapshots.push((c.db.snapshot(), seen));
                }
            }
            Call::CheckSnapshot(i) => {
                let n = c.snapshots.len().max(1);
                if let Some((s, seen)) = c.snapshots.get(usize::from(i) % n) {
                    assert_eq!(&s.iter().collect::<Vec<_>>(), seen, "a snapshot changed");
                }
            }
            Call::DropSnapshot(i) => {
                if !c.snapshots.is_empty() {
                    let at = usize::from(i) % c.snapshots.len();
                    c.snapshots.remove(at);
                }
            }
            Call::SetLimit(p, room) => {
                c.policy = policy_of(p);
                c.limit = base + 1024 + u64::from(room) * 64;
                c.db.set_memory_limit(c.limit, c.policy).unwrap();
                c.take_evictions();
                let usage = c.db.memory_usage();
                assert_eq!((usage.limit, usage.policy), (c.limit, c.policy));
                // Evicted down to the limit, or every key the policy may
                // evict is gone (a snapshot keeps the victims' memory).
                let volatile = c.policy.volatile_only();
                let evictable_left = c
                    .model
                    .values()
                    .any(|(_, exp)| exp.is_none_or(|e| e > now) && (exp.is_some() || !volatile));
                if c.policy != EvictionPolicy::NoEviction && c.snapshots.is_empty() {
                    assert!(
                        usage.used <= c.limit || !evictable_left,
                        "{}: {} bytes used after lowering the limit to {}, with keys it may evict",
                        c.policy,
                        usage.used,
                        c.limit
                    );
                }
            }
            Call::Collect => {
                c.db.collect_garbage(usize::MAX);
            }
            Call::ExpireCycle => {
                c.db.expire_cycle();
            }
            Call::ToggleIndex => {
                if c.indexed {
                    c.db.drop_index(INDEX).unwrap();
                    c.indexed = false;
                } else {
                    let r =
                        c.db.create_index(IndexDef::value_bytes(INDEX, 0, 1).unwrap());
                    // Evictions the build made for its entries are
                    // announced like any (and counted, and checked
                    // against the policy).
                    c.take_evictions();
                    match r {
                        Ok(()) => {
                            c.indexed = true;
                            // A build that filed entries made room for them
                            // (one that filed none, like a deletion, may
                            // leave usage over the limit that deletions,
                            // always allowed, took it past).
                            let filed = live(&c.model, now).iter().any(|(_, v)| !v.is_empty());
                            let usage = c.db.memory_usage();
                            assert!(
                                !filed || !c.snapshots.is_empty() || usage.used <= usage.limit,
                                "{}: {} bytes used after creating an index, limit {}",
                                c.policy,
                                usage.used,
                                usage.limit
                            );
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::MemoryLimit, "{e}");
                            assert!(c.db.indexes().is_empty(), "a failed build left its index");
                        }
                    }
                }
            }
        }
        c.take_evictions();
        c.check_all(now);
    }
});
