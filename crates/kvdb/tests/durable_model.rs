//! Property test: a durable database on the simulated file system against a
//! model, across clean reopens and power failures.
//!
//! Random puts, TTL puts, deletes, batches, transactions, expiry changes,
//! clock moves, expiry cycles, collections, syncs, checkpoints and backups,
//! with a secondary index declared at every open and log segments small
//! enough to rotate often, under the `always` or the `never` sync policy
//! (or, with every background task running each millisecond, a 1 ms sync
//! interval), memory limits that make writes evict (the model learns which
//! keys from the change stream), and injected failures of writes, syncs
//! and file creations; each case closes with a checkpoint or without
//! (`checkpoint_on_close`).
//! Between them the database is closed and reopened, or the power fails
//! (the unsynced tail of every file dropped, or torn with its last byte
//! flipped) and it is reopened. The model keeps the state after every
//! acknowledged write. It checks that
//! - a clean reopen holds exactly the last state;
//! - after a power failure the database opens, and holds exactly the last
//!   state under `always`, or under `never` one of the states from the last
//!   sync, checkpoint or close on (a prefix of the writes: nothing partial,
//!   nothing out of order), or after an injected failure the state the
//!   failed write would have made;
//! - the index agrees with the records after every step;
//! - the change stream, replayed from its first change, builds the same
//!   records, its sequence numbers running from 1 without a gap or a
//!   repeat, across reopens and power failures;
//! - keys that expired stay expired across reopens;
//! - a backup holds what the database held, loaded into memory and opened
//!   after a power failure that came as it returned.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kvdb::vfs::{CrashOptions, SimFs};
use kvdb::{
    Batch, Change, Db, ErrorKind, EvictionPolicy, IndexDef, IndexQuery, ManualClock, Options,
    SyncPolicy, Ttl, WATCH_FROM_NOW, WATCH_FROM_OLDEST, Watcher,
};
use proptest::prelude::*;

type Key = Vec<u8>;
type Value = Vec<u8>;

/// The secondary index: each value's first byte (an empty value has none).
const INDEX: &str = "first";

#[derive(Debug, Clone)]
enum Step {
    Put(Key, Value),
    PutTtl(Key, Value, u64),
    Delete(Key),
    Batch(Vec<(Key, Option<Value>)>),
    Txn(Vec<(Key, Option<Value>)>),
    Expire(Key, u64),
    Advance(u64),
    ExpireCycle,
    Gc,
    Sync,
    Checkpoint,
    /// A backup into a new directory, checked at once, in memory and after
    /// a power failure (torn tails if true, with this seed).
    Backup(bool, u64),
    Reopen,
    /// Writes (0), syncs (1) or file creations (2) fail after this many
    /// more succeed, until the next reopen.
    Fault(u8, u64),
    /// A memory limit this many 64-byte units above what the database
    /// holds now, evicting with allkeys-lru (none: no limit).
    Limit(Option<u8>),
    /// A power failure: torn tails if true, with this seed.
    Crash(bool, u64),
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0xff]), 0..3)
}

/// Values long enough that a few dozen writes fill a log segment.
fn value() -> impl Strategy<Value = Value> {
    (0u8..4, 0usize..300).prop_map(|(first, len)| {
        let mut v = vec![b'.'; len];
        if let Some(b) = v.first_mut() {
            *b = first;
        }
        v
    })
}

fn writes() -> impl Strategy<Value = Vec<(Key, Option<Value>)>> {
    prop::collection::vec((key(), prop::option::of(value())), 1..4)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| Step::Put(k, v)),
        2 => (key(), value(), 1u64..50).prop_map(|(k, v, t)| Step::PutTtl(k, v, t)),
        3 => key().prop_map(Step::Delete),
        2 => writes().prop_map(Step::Batch),
        2 => writes().prop_map(Step::Txn),
        1 => (key(), 1u64..50).prop_map(|(k, t)| Step::Expire(k, t)),
        2 => (1u64..40).prop_map(Step::Advance),
        1 => Just(Step::ExpireCycle),
        1 => Just(Step::Gc),
        1 => Just(Step::Sync),
        1 => Just(Step::Checkpoint),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(t, s)| Step::Backup(t, s)),
        1 => Just(Step::Reopen),
        1 => (0u8..3, 0u64..6).prop_map(|(kind, after)| Step::Fault(kind, after)),
        1 => prop::option::of(any::<u8>()).prop_map(Step::Limit),
        2 => (any::<bool>(), any::<u64>()).prop_map(|(t, s)| Step::Crash(t, s)),
    ]
}

/// A stored value and its absolute expiry.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    value: Value,
    expires_at: Option<u64>,
}

type State = BTreeMap<Key, Stored>;

/// The records of `state` live at `now`.
fn live(state: &State, now: u64) -> BTreeMap<Key, Stored> {
    state
        .iter()
        .filter(|(_, s)| s.expires_at.is_none_or(|at| at > now))
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect()
}

/// What the database holds at `now`: each record with its expiry time.
fn recorded(db: &Db, now: u64) -> BTreeMap<Key, Stored> {
    db.iter()
        .map(|(k, value)| {
            let expires_at = match db.ttl(&k).unwrap() {
                Some(Ttl::Expires(left)) => Some(now + left.as_millis() as u64),
                Some(Ttl::Persistent) => None,
                None => panic!("{k:?} is listed but has no TTL answer"),
            };
            (k, Stored { value, expires_at })
        })
        .collect()
}

/// Records in short: each key with its value's first byte and length, and
/// its expiry time.
fn short(records: &BTreeMap<Key, Stored>) -> Vec<(String, Option<u8>, usize, Option<u64>)> {
    records
        .iter()
        .map(|(k, s)| {
            let v = &s.value;
            (
                k.escape_ascii().to_string(),
                v.first().copied(),
                v.len(),
                s.expires_at,
            )
        })
        .collect()
}

fn index_of(records: &BTreeMap<Key, Stored>) -> Vec<(Vec<u8>, Key, Value)> {
    let mut entries: Vec<_> = records
        .iter()
        .filter(|(_, s)| !s.value.is_empty())
        .map(|(k, s)| (s.value[..1].to_vec(), k.clone(), s.value.clone()))
        .collect();
    entries.sort();
    entries
}

struct Run {
    fs: Arc<SimFs>,
    clock: Arc<ManualClock>,
    sync: SyncPolicy,
    /// Background maintenance on (it is off otherwise).
    background: bool,
    db: Option<Db>,
    /// The state after every acknowledged write, oldest first.
    history: Vec<State>,
    /// The first state of `history` a power failure may go back to.
    durable_from: usize,
    /// The state a write that failed would have made: after a reopen the
    /// database may hold it.
    failed: Option<State>,
    /// Backups taken so far (each goes to a new directory).
    backups: u32,
    /// The memory limit (0: none), kept across reopens.
    limit: u64,
    /// Whether closing checkpoints first.
    checkpoint_on_close: bool,
    /// Tells the model which keys were evicted (made at each open).
    evictions: Option<Watcher>,
    /// The newest change the model was told of.
    seen_seq: u64,
}

impl Run {
    fn options(&self) -> Options {
        let mut options = if self.background {
            // Every background task, as often as it can run.
            let mut options = Options::default();
            options.expire_interval = Some(Duration::from_millis(1));
            options.gc_interval = Some(Duration::from_millis(1));
            options.reorder_interval = Some(Duration::from_millis(1));
            options.checkpoint_after_wal_bytes = Some(8192);
            options.checkpoint_check_interval = Duration::from_millis(1);
            options
        } else {
            Options::manual_maintenance()
        };
        options.vfs = self.fs.clone();
        options.clock = self.clock.clone();
        options.sync = self.sync;
        options.wal_segment_bytes = 4096;
        options.indexes = vec![IndexDef::value_bytes(INDEX, 0, 1).unwrap()];
        options.memory_limit = self.limit;
        options.eviction = EvictionPolicy::AllKeysLru;
        options.checkpoint_on_close = self.checkpoint_on_close;
        options
    }

    fn open(&mut self) {
        let db = Db::open("/db", self.options())
            .unwrap_or_else(|e| panic!("the database does not open: {e}"));
        self.evictions = Some(db.watch_prefix(b"", WATCH_FROM_NOW).unwrap());
        self.db = Some(db);
    }

    /// The keys evicted since the last call, in order.
    fn evicted(&mut self) -> Vec<Key> {
        let watcher = self.evictions.as_mut().expect("open");
        let mut evicted = Vec::new();
        while let Some(event) = watcher.try_next().unwrap() {
            self.seen_seq = self.seen_seq.max(event.seq);
            if event.change == Change::Evicted {
                evicted.push(event.key);
            }
        }
        evicted
    }

    /// Records the evictions made since the last step as a state of their
    /// own: they are deletions with sequence numbers before the write that
    /// made them.
    /// Returns whether there were any.
    fn note_evictions(&mut self) -> bool {
        let evicted = self.evicted();
        if evicted.is_empty() {
            return false;
        }
        let writes: Vec<_> = evicted.into_iter().map(|k| (k, None)).collect();
        self.acknowledge(&writes);
        true
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }

    fn now(&self) -> u64 {
        kvdb::Clock::now_ms(&*self.clock)
    }

    fn state(&self) -> &State {
        self.history.last().expect("an initial state")
    }

    /// `state` with `writes` applied in order.
    fn apply(state: &State, writes: &[(Key, Option<Stored>)]) -> State {
        let mut state = state.clone();
        for (key, new) in writes {
            match new {
                Some(stored) => state.insert(key.clone(), stored.clone()),
                None => state.remove(key),
            };
        }
        state
    }

    /// Records an acknowledged write: the state after it.
    fn acknowledge(&mut self, writes: &[(Key, Option<Stored>)]) {
        let state = Self::apply(self.state(), writes);
        self.history.push(state);
        if self.sync == SyncPolicy::Always {
            self.durable_from = self.history.len() - 1;
        }
    }

    /// Everything acknowledged so far survives a power failure.
    fn all_durable(&mut self) {
        self.durable_from = self.history.len() - 1;
    }

    fn stored(&self, value: Value, ttl: Option<u64>) -> Stored {
        Stored {
            value,
            expires_at: ttl.map(|t| self.now() + t),
        }
    }

    fn to_model(&self, writes: Vec<(Key, Option<Value>)>) -> Vec<(Key, Option<Stored>)> {
        writes
            .into_iter()
            .map(|(k, v)| (k, v.map(|v| self.stored(v, None))))
            .collect()
    }

    /// The outcome of a write the model describes as `writes`: acknowledged,
    /// or failed for I/O. A failed write is not visible, and may or may not
    /// be there after a reopen.
    fn outcome<T>(
        &mut self,
        result: kvdb::Result<T>,
        writes: &[(Key, Option<Stored>)],
    ) -> Option<T> {
        let evicted = self.note_evictions();
        match result {
            Ok(answer) => {
                assert!(
                    self.failed.is_none(),
                    "a write was acknowledged after a failed one, before a reopen"
                );
                self.acknowledge(writes);
                Some(answer)
            }
            Err(e) if e.kind() == ErrorKind::MemoryLimit => {
                assert!(!evicted, "a write refused for memory evicted keys");
                None
            }
            // A transaction whose own eviction took a key it read.
            Err(e) if e.kind() == ErrorKind::Conflict && evicted => None,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Io, "{e}");
                if self.failed.is_none() {
                    self.failed = Some(Self::apply(self.state(), writes));
                }
                None
            }
        }
    }

    /// A step that writes nothing itself may fail only for I/O.
    fn io<T>(result: kvdb::Result<T>) -> Option<T> {
        result
            .inspect_err(|e| assert_eq!(e.kind(), ErrorKind::Io, "{e}"))
            .ok()
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Put(k, v) => {
                let result = self.db().put(&k, &v);
                let new = self.stored(v, None);
                self.outcome(result, &[(k, Some(new))]);
            }
            Step::PutTtl(k, v, t) => {
                let result = self.db().put_with_ttl(&k, &v, Duration::from_millis(t));
                let new = self.stored(v, Some(t));
                self.outcome(result, &[(k, Some(new))]);
            }
            Step::Delete(k) => {
                // A delete of an absent key writes nothing and succeeds.
                let live = live(self.state(), self.now()).contains_key(&k);
                let result = self.db().delete(&k);
                if live {
                    let removed = self.outcome(result, &[(k, None)]);
                    assert_ne!(removed, Some(false));
                } else {
                    assert_ne!(Self::io(result), Some(true));
                }
            }
            Step::Batch(ops) => {
                let mut batch = Batch::new();
                for (k, v) in &ops {
                    match v {
                        Some(v) => batch.put(k, v).unwrap(),
                        None => batch.delete(k).unwrap(),
                    }
                }
                let result = self.db().write(&batch);
                let writes = self.to_model(ops);
                self.outcome(result, &writes);
            }
            Step::Txn(ops) => {
                let mut txn = self.db().begin().unwrap();
                let mut writes = Vec::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            txn.put(&k, &v).unwrap();
                            writes.push((k, Some(self.stored(v, None))));
                        }
                        // A delete of a key the transaction sees absent
                        // writes nothing.
                        None => {
                            if txn.delete(&k).unwrap() {
                                writes.push((k, None));
                            }
                        }
                    }
                }
                let result = txn.commit();
                if writes.is_empty() {
                    result.expect("a transaction without writes commits");
                } else {
                    self.outcome(result, &writes);
                }
            }
            Step::Expire(k, ttl) => {
                let result = self.db().expire(&k, Duration::from_millis(ttl));
                match live(self.state(), self.now()).get(&k).cloned() {
                    Some(old) => {
                        let new = self.stored(old.value, Some(ttl));
                        let found = self.outcome(result, &[(k, Some(new))]);
                        assert_ne!(found, Some(false));
                    }
                    None => assert_ne!(Self::io(result), Some(true)),
                }
            }
            Step::Advance(ms) => self.clock.advance(ms),
            Step::ExpireCycle => {
                self.db().expire_cycle();
            }
            Step::Gc => {
                self.db().collect_garbage(usize::MAX);
            }
            Step::Sync => {
                if Self::io(self.db().sync()).is_some() {
                    self.all_durable();
                }
            }
            Step::Checkpoint => {
                if Self::io(self.db().checkpoint()).is_some() {
                    self.all_durable();
                }
            }
            Step::Backup(torn_tails, seed) => {
                self.backups += 1;
                let dir = format!("/backup-{}", self.backups);
                if Self::io(self.db().backup_to(&dir)).is_some() {
                    self.check_backup(&dir, torn_tails, seed);
                }
            }
            Step::Limit(room) => {
                self.limit = room.map_or(0, |units| {
                    self.db().memory_usage().used + 1024 + u64::from(units) * 64
                });
                let set = self
                    .db()
                    .set_memory_limit(self.limit, EvictionPolicy::AllKeysLru);
                Self::io(set);
            }
            Step::Fault(kind, after) => match kind % 3 {
                0 => self.fs.fail_writes_after(after),
                1 => self.fs.fail_syncs_after(after),
                _ => self.fs.fail_creates_after(after),
            },
            Step::Reopen => {
                self.note_evictions();
                let closed = Self::io(self.db.take().expect("open").close());
                if closed.is_some() && self.failed.is_none() {
                    self.all_durable();
                }
                self.fs.clear_faults();
                self.open();
                if self.failed.is_none() && closed.is_some() {
                    self.check(self.history.len() - 1, "a clean reopen");
                } else {
                    self.recover(&format!(
                        "a reopen after a failure (closed: {})",
                        closed.is_some()
                    ));
                }
            }
            Step::Crash(torn_tails, seed) => {
                self.note_evictions();
                let image = self.fs.crash(CrashOptions { torn_tails, seed });
                drop(self.db.take());
                self.fs = Arc::new(image);
                self.open();
                self.recover("a power failure");
            }
        }
        self.note_evictions();
        let last = self.history.len() - 1;
        self.check(last, "the open database");
    }

    /// The backup in `dir` holds what the database holds now (nothing was
    /// written since), loaded into memory, and opened as a database after a
    /// power failure that came as the backup returned: a backup is durable
    /// once it is reported written.
    fn check_backup(&self, dir: &str, torn_tails: bool, seed: u64) {
        let now = self.now();
        let records = recorded(self.db(), now);
        let (copy, _) = Db::open_in_memory_from(dir, self.options())
            .unwrap_or_else(|e| panic!("the backup does not load: {e}"));
        assert_eq!(
            short(&recorded(&copy, now)),
            short(&records),
            "the backup, loaded"
        );
        let image = Arc::new(self.fs.crash(CrashOptions { torn_tails, seed }));
        let mut options = self.options();
        options.vfs = image;
        let copy = Db::open(dir, options)
            .unwrap_or_else(|e| panic!("the backup does not open after a power failure: {e}"));
        assert_eq!(
            short(&recorded(&copy, now)),
            short(&records),
            "the backup, opened after a power failure"
        );
    }

    /// After a reopen that may have lost what was not durable: the database
    /// holds one of the states since the last durable point, or the state a
    /// failed write would have made. The model goes on from that state.
    fn recover(&mut self, when: &str) {
        let now = self.now();
        let recovered = recorded(self.db(), now);
        let mut candidates: Vec<State> = self.history[self.durable_from..].to_vec();
        candidates.extend(self.failed.take());
        // Evictions made for a write that then failed were logged but never
        // published, so the model never heard of them: the log may hold
        // them, after any state it may hold.
        let unseen = self.unseen_evictions();
        if !unseen.is_empty() {
            let without: Vec<State> = candidates
                .iter()
                .map(|state| {
                    let mut state = state.clone();
                    for key in &unseen {
                        state.remove(key);
                    }
                    state
                })
                .collect();
            candidates.extend(without);
        }
        let Some(found) = candidates
            .iter()
            .rposition(|state| live(state, now) == recovered)
        else {
            panic!(
                "after {when} ({:?}) the database holds {:?}, none of the states since the last durable point: {:?}",
                self.sync,
                short(&recovered),
                candidates
                    .iter()
                    .map(|s| short(&live(s, now)))
                    .collect::<Vec<_>>()
            )
        };
        self.history.truncate(self.durable_from);
        self.history.push(candidates.swap_remove(found));
        self.all_durable();
    }

    /// The keys the reopened database's change stream says were evicted
    /// after the last change the model was told of; the model is then told
    /// of all of it (the stream may be shorter than before a power failure).
    fn unseen_evictions(&mut self) -> Vec<Key> {
        let mut watcher = self.db().watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
        let mut unseen = Vec::new();
        let mut last = 0;
        while let Some(event) = watcher.try_next().unwrap() {
            if event.seq > self.seen_seq && event.change == Change::Evicted {
                unseen.push(event.key);
            }
            last = event.seq;
        }
        self.seen_seq = last;
        unseen
    }

    /// The database holds history state `at`, and its index agrees.
    fn check(&self, at: usize, when: &str) {
        let expected = live(&self.history[at], self.now());
        let records = recorded(self.db(), self.now());
        assert_eq!(short(&records), short(&expected), "{when}: the records");
        assert_eq!(records, expected, "{when}: the values");
        let listed: Vec<_> = self
            .db()
            .index(INDEX, IndexQuery::All)
            .unwrap()
            .map(|e| (e.index_key, e.key, e.value))
            .collect();
        assert_eq!(listed, index_of(&expected), "{when}: the index");
        let replayed = self.replay_changes(when);
        assert_eq!(
            short(&live(&replayed, self.now())),
            short(&records),
            "{when}: the change stream, replayed from its first change"
        );
    }

    /// The state the whole change stream builds, its sequence numbers
    /// checked to run from 1 without a gap or a repeat.
    fn replay_changes(&self, when: &str) -> State {
        let mut watcher = self.db().watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
        let mut replayed = State::new();
        let mut next = 1;
        while let Some(event) = watcher.try_next().unwrap() {
            assert_eq!(
                event.seq, next,
                "{when}: a gap or a repeat in the change stream"
            );
            next += 1;
            match event.change {
                Change::Put { value, expires_at } => {
                    replayed.insert(event.key, Stored { value, expires_at });
                }
                Change::Delete | Change::Expired | Change::Evicted => {
                    replayed.remove(&event.key);
                }
            }
        }
        replayed
    }
}

fn run(sync: SyncPolicy, background: bool, checkpoint_on_close: bool, steps: Vec<Step>) {
    let mut run = Run {
        fs: Arc::new(SimFs::new()),
        clock: Arc::new(ManualClock::new(1_000_000)),
        sync,
        background,
        db: None,
        history: vec![State::new()],
        durable_from: 0,
        failed: None,
        backups: 0,
        limit: 0,
        checkpoint_on_close,
        evictions: None,
        seen_seq: 0,
    };
    run.open();
    for step in steps {
        run.step(step);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_durable_database_recovers_every_acknowledged_write_when_it_syncs_each(
        steps in prop::collection::vec(step(), 1..80),
        checkpoint_on_close in any::<bool>(),
    ) {
        run(SyncPolicy::Always, false, checkpoint_on_close, steps);
    }

    #[test]
    fn a_database_that_never_syncs_recovers_a_prefix_of_its_writes_after_power_loss(
        steps in prop::collection::vec(step(), 1..80),
        checkpoint_on_close in any::<bool>(),
    ) {
        run(SyncPolicy::Never, false, checkpoint_on_close, steps);
    }

    /// Background expiry, collection, reordering, checkpoints and syncs
    /// every millisecond, racing the steps: what each step checks holds
    /// whenever they run.
    #[test]
    fn background_maintenance_keeps_every_guarantee_of_a_database_synced_on_an_interval(
        steps in prop::collection::vec(step(), 1..80),
        checkpoint_on_close in any::<bool>(),
    ) {
        run(
            SyncPolicy::Interval(Duration::from_millis(1)),
            true,
            checkpoint_on_close,
            steps,
        );
    }
}
