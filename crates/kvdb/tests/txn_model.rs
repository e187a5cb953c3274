//! Property test: interleaved transactions against a model of what each one
//! must see and when each one must conflict.
//!
//! Up to four transactions are open at once, between plain writes, batches,
//! conditional writes, expiry changes, clock moves, garbage collections and
//! expiry cycles, over a database that keeps a secondary index on each
//! value's first byte. The model knows the committed state, when each key
//! was last written, and for each open transaction its view (the state and
//! clock at its begin), its own writes, its savepoints, and everything it
//! read: keys, the key ranges its cursors looked at, the index ranges its
//! queries looked at and the records they found. It checks that
//! - every read inside a transaction (gets, multi-gets, deletes, ranges
//!   both ways, cursor walks in both directions, index queries both ways)
//!   sees its view with its own writes on top;
//! - a commit with writes succeeds exactly when nothing it read, wrote or
//!   observed was written after it began: no lost update, no write skew, no
//!   phantom, and no false conflict (an expiry by the clock is not a write);
//! - a committed transaction applies whole, and a failed or dropped one not
//!   at all;
//! - after every step the database and its index hold exactly the model's
//!   live records.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kvdb::{Batch, CasOutcome, Db, ErrorKind, IndexDef, IndexQuery, ManualClock, Options, Txn};
use proptest::prelude::*;

type Key = Vec<u8>;
type Value = Vec<u8>;
type Range = (Bound<Key>, Bound<Key>);

/// The secondary index: each value's first byte (an empty value has none).
const INDEX: &str = "first";

/// At most this many transactions are open at once.
const OPEN: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    Begin,
    Put(Key, Value),
    PutTtl(Key, Value, u64),
    Delete(Key),
    Batch(Vec<(Key, Option<Value>)>),
    PutIfAbsent(Key, Value),
    Cas(Key, Value, Value),
    Expire(Key, u64),
    Persist(Key),
    Advance(u64),
    Gc,
    ExpireCycle,
    /// A step of the open transaction at this position (modulo how many are
    /// open).
    Txn(usize, TxnStep),
}

#[derive(Debug, Clone)]
enum TxnStep {
    Get(Key),
    /// A multi-get of these keys (repeats allowed).
    GetMany(Vec<Key>),
    Put(Key, Value),
    PutTtl(Key, Value, u64),
    Delete(Key),
    /// Drains a bounded or unbounded range, descending if true.
    Range(Bound<Key>, Bound<Key>, bool),
    /// An unbounded cursor: seeks (forward if true, else for the previous
    /// key), then moves forward (true) or back (false) in turn.
    Walk(Key, bool, Vec<bool>),
    /// An index query on first bytes from..=to, descending if true.
    Index(u8, u8, bool),
    Savepoint,
    RollbackToSavepoint,
    Commit,
    Rollback,
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0xff]), 0..3)
}

fn value() -> impl Strategy<Value = Value> {
    prop::collection::vec(0u8..4, 0..3)
}

fn bound() -> impl Strategy<Value = Bound<Key>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

fn txn_step() -> impl Strategy<Value = TxnStep> {
    prop_oneof![
        4 => key().prop_map(TxnStep::Get),
        2 => prop::collection::vec(key(), 0..4).prop_map(TxnStep::GetMany),
        4 => (key(), value()).prop_map(|(k, v)| TxnStep::Put(k, v)),
        1 => (key(), value(), 1u64..50).prop_map(|(k, v, t)| TxnStep::PutTtl(k, v, t)),
        2 => key().prop_map(TxnStep::Delete),
        2 => (bound(), bound(), any::<bool>()).prop_map(|(l, u, d)| TxnStep::Range(l, u, d)),
        2 => (key(), any::<bool>(), prop::collection::vec(any::<bool>(), 0..5))
            .prop_map(|(k, f, m)| TxnStep::Walk(k, f, m)),
        2 => (0u8..4, 0u8..4, any::<bool>()).prop_map(|(a, b, d)| TxnStep::Index(a.min(b), a.max(b), d)),
        1 => Just(TxnStep::Savepoint),
        1 => Just(TxnStep::RollbackToSavepoint),
        3 => Just(TxnStep::Commit),
        1 => Just(TxnStep::Rollback),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Begin),
        3 => (key(), value()).prop_map(|(k, v)| Step::Put(k, v)),
        1 => (key(), value(), 1u64..50).prop_map(|(k, v, t)| Step::PutTtl(k, v, t)),
        2 => key().prop_map(Step::Delete),
        1 => prop::collection::vec((key(), prop::option::of(value())), 1..4).prop_map(Step::Batch),
        1 => (key(), value()).prop_map(|(k, v)| Step::PutIfAbsent(k, v)),
        1 => (key(), value(), value()).prop_map(|(k, e, v)| Step::Cas(k, e, v)),
        1 => (key(), 1u64..50).prop_map(|(k, t)| Step::Expire(k, t)),
        1 => key().prop_map(Step::Persist),
        1 => (1u64..40).prop_map(Step::Advance),
        1 => Just(Step::Gc),
        1 => Just(Step::ExpireCycle),
        16 => (0usize..OPEN, txn_step()).prop_map(|(i, s)| Step::Txn(i, s)),
    ]
}

/// A stored value and its absolute expiry.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    value: Value,
    expires_at: Option<u64>,
}

/// One write of a key: its index keys before and after (none: no value, or
/// an empty one).
#[derive(Debug, Clone)]
struct Write {
    seq: u64,
    key: Key,
    before: Option<u8>,
    after: Option<u8>,
}

/// What is committed: every stored value (expired ones too, until an
/// expiry cycle removes them) and every write in order.
#[derive(Default)]
struct Committed {
    stored: BTreeMap<Key, Stored>,
    writes: Vec<Write>,
    seq: u64,
}

fn index_key(value: Option<&Value>) -> Option<u8> {
    value.and_then(|v| v.first().copied())
}

fn live_at(stored: &BTreeMap<Key, Stored>, now: u64) -> BTreeMap<Key, Value> {
    stored
        .iter()
        .filter(|(_, s)| s.expires_at.is_none_or(|at| at > now))
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect()
}

impl Committed {
    /// Applies one commit's writes (a value, or a deletion) in order, as
    /// one atomic write at one sequence number: each key written is
    /// recorded once, with its index keys before and after the whole
    /// commit (an index holds no entry for a state inside it), judged live
    /// at `now` (an expired value is no longer indexed). A deletion of a
    /// key without a live value writes nothing a transaction conflicts
    /// with.
    fn apply(&mut self, now: u64, writes: &[(Key, Option<Stored>)]) {
        self.seq += 1;
        let mut before = BTreeMap::new();
        for (key, new) in writes {
            if new.is_none() && self.live_value(key, now).is_none() {
                continue;
            }
            before
                .entry(key.clone())
                .or_insert_with(|| index_key(self.live_value(key, now)));
            match new {
                Some(stored) => {
                    self.stored.insert(key.clone(), stored.clone());
                }
                None => {
                    self.stored.remove(key);
                }
            }
        }
        for (key, before) in before {
            let after = index_key(self.live_value(&key, now));
            self.writes.push(Write {
                seq: self.seq,
                key,
                before,
                after,
            });
        }
    }

    fn live_value(&self, key: &Key, now: u64) -> Option<&Value> {
        self.stored
            .get(key)
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| &s.value)
    }

    fn written_after(&self, seq: u64) -> impl Iterator<Item = &Write> {
        self.writes.iter().filter(move |w| w.seq > seq)
    }
}

fn contains(range: &Range, key: &[u8]) -> bool {
    let above = match &range.0 {
        Bound::Unbounded => true,
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
    };
    let below = match &range.1 {
        Bound::Unbounded => true,
        Bound::Included(u) => key <= u.as_slice(),
        Bound::Excluded(u) => key < u.as_slice(),
    };
    above && below
}

/// A pending write: a value with an optional TTL, or a deletion.
type Pending = Option<(Value, Option<u64>)>;

/// An open transaction and what the model knows of it.
struct OpenTxn {
    txn: Txn,
    begin_seq: u64,
    /// The committed state and the clock when it began.
    view: BTreeMap<Key, Value>,
    writes: BTreeMap<Key, Pending>,
    savepoints: Vec<BTreeMap<Key, Pending>>,
    reads: BTreeSet<Key>,
    ranges: Vec<Range>,
    index_ranges: Vec<(u8, u8)>,
}

impl OpenTxn {
    /// What the transaction sees: its view with its own writes on top.
    fn merged(&self) -> BTreeMap<Key, Value> {
        let mut seen = self.view.clone();
        for (key, pending) in &self.writes {
            match pending {
                Some((value, _)) => seen.insert(key.clone(), value.clone()),
                None => seen.remove(key),
            };
        }
        seen
    }

    /// A point read of `key`: counts unless the transaction's own write
    /// answers it.
    fn read(&mut self, key: &Key) -> Option<Value> {
        if !self.writes.contains_key(key) {
            self.reads.insert(key.clone());
        }
        self.merged().get(key).cloned()
    }

    /// The first write after the transaction began that it must conflict
    /// with, if any.
    fn conflict<'a>(&self, committed: &'a Committed) -> Option<&'a Write> {
        committed.written_after(self.begin_seq).find(|w| {
            self.reads.contains(&w.key)
                || self.writes.contains_key(&w.key)
                || self.ranges.iter().any(|r| contains(r, &w.key))
                || self.index_ranges.iter().any(|&(from, to)| {
                    [w.before, w.after]
                        .iter()
                        .flatten()
                        .any(|b| (from..=to).contains(b))
                })
        })
    }
}

fn range_of(seen: &BTreeMap<Key, Value>, range: &Range) -> Vec<(Key, Value)> {
    seen.iter()
        .filter(|(k, _)| contains(range, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Index entries as (index key, key, value), in index order.
fn index_of(seen: &BTreeMap<Key, Value>, from: u8, to: u8) -> Vec<(Vec<u8>, Key, Value)> {
    let mut entries: Vec<_> = seen
        .iter()
        .filter(|(_, v)| v.first().is_some_and(|b| (from..=to).contains(b)))
        .map(|(k, v)| (v[..1].to_vec(), k.clone(), v.clone()))
        .collect();
    entries.sort();
    entries
}

struct Run {
    db: Db,
    clock: Arc<ManualClock>,
    committed: Committed,
    open: Vec<OpenTxn>,
}

impl Run {
    fn now(&self) -> u64 {
        kvdb::Clock::now_ms(&*self.clock)
    }

    fn live(&self) -> BTreeMap<Key, Value> {
        live_at(&self.committed.stored, self.now())
    }

    fn stored(&self, value: Value, ttl: Option<u64>) -> Stored {
        Stored {
            value,
            expires_at: ttl.map(|t| self.now() + t),
        }
    }

    fn step(&mut self, step: Step) {
        let now = self.now();
        match step {
            Step::Begin => {
                if self.open.len() < OPEN {
                    let txn = self.db.begin().unwrap();
                    self.open.push(OpenTxn {
                        txn,
                        begin_seq: self.committed.seq,
                        view: self.live(),
                        writes: BTreeMap::new(),
                        savepoints: Vec::new(),
                        reads: BTreeSet::new(),
                        ranges: Vec::new(),
                        index_ranges: Vec::new(),
                    });
                }
            }
            Step::Put(k, v) => {
                self.db.put(&k, &v).unwrap();
                let new = self.stored(v, None);
                self.committed.apply(now, &[(k, Some(new))]);
            }
            Step::PutTtl(k, v, t) => {
                self.db
                    .put_with_ttl(&k, &v, Duration::from_millis(t))
                    .unwrap();
                let new = self.stored(v, Some(t));
                self.committed.apply(now, &[(k, Some(new))]);
            }
            Step::Delete(k) => {
                let removed = self.db.delete(&k).unwrap();
                assert_eq!(removed, self.live().contains_key(&k), "delete of {k:?}");
                // Nothing is written unless a live value was removed.
                if removed {
                    self.committed.apply(now, &[(k, None)]);
                }
            }
            Step::Batch(ops) => {
                let mut batch = Batch::new();
                let mut writes = Vec::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            batch.put(&k, &v).unwrap();
                            writes.push((k, Some(self.stored(v, None))));
                        }
                        None => {
                            batch.delete(&k).unwrap();
                            writes.push((k, None));
                        }
                    }
                }
                self.db.write(&batch).unwrap();
                self.committed.apply(now, &writes);
            }
            Step::PutIfAbsent(k, v) => {
                let stored = self.db.put_if_absent(&k, &v).unwrap();
                assert_eq!(
                    stored,
                    !self.live().contains_key(&k),
                    "put-if-absent of {k:?}"
                );
                if stored {
                    self.committed
                        .apply(now, &[(k, Some(self.stored(v, None)))]);
                }
            }
            Step::Cas(k, expected, new) => {
                let outcome = self.db.compare_and_swap(&k, &expected, &new).unwrap();
                let current = self.committed.live_value(&k, now).cloned();
                match current {
                    None => assert_eq!(outcome, CasOutcome::NotFound),
                    Some(v) if v == expected => {
                        assert_eq!(outcome, CasOutcome::Swapped);
                        // The key keeps its TTL.
                        let expires_at = self.committed.stored[&k].expires_at;
                        let new = Stored {
                            value: new,
                            expires_at,
                        };
                        self.committed.apply(now, &[(k, Some(new))]);
                    }
                    Some(_) => assert_eq!(outcome, CasOutcome::Mismatch),
                }
            }
            Step::Expire(k, ttl) => {
                let found = self.db.expire(&k, Duration::from_millis(ttl)).unwrap();
                self.rewrite_expiry(found, k, Some(now + ttl));
            }
            Step::Persist(k) => {
                let found = self.db.persist(&k).unwrap();
                self.rewrite_expiry(found, k, None);
            }
            Step::Advance(ms) => self.clock.advance(ms),
            Step::Gc => {
                self.db.collect_garbage(usize::MAX);
            }
            Step::ExpireCycle => {
                self.db.expire_cycle();
                // Removing expired values is not a write: it conflicts with
                // nothing.
                let now = self.now();
                self.committed
                    .stored
                    .retain(|_, s| s.expires_at.is_none_or(|at| at > now));
            }
            Step::Txn(i, step) => {
                if !self.open.is_empty() {
                    let i = i % self.open.len();
                    self.txn_step(i, step);
                }
            }
        }
        self.check_database();
    }

    /// The model of an expiry change the database reported as `found`: a
    /// live key whose expiry changes is written again, with its value.
    fn rewrite_expiry(&mut self, found: bool, key: Key, expires_at: Option<u64>) {
        let now = self.now();
        assert_eq!(
            found,
            self.committed.live_value(&key, now).is_some(),
            "expiry change of {key:?}"
        );
        if found && self.committed.stored[&key].expires_at != expires_at {
            let value = self.committed.stored[&key].value.clone();
            self.committed
                .apply(now, &[(key, Some(Stored { value, expires_at }))]);
        }
    }

    fn txn_step(&mut self, i: usize, step: TxnStep) {
        let t = &mut self.open[i];
        match step {
            TxnStep::Get(k) => {
                let got = t.txn.get(&k).unwrap();
                assert_eq!(got, t.read(&k), "get of {k:?} in a transaction");
            }
            TxnStep::GetMany(keys) => {
                let got = t.txn.get_many(&keys).unwrap();
                let want: Vec<Option<Value>> = keys.iter().map(|k| t.read(k)).collect();
                assert_eq!(got, want, "multi-get of {keys:?} in a transaction");
            }
            TxnStep::Put(k, v) => {
                t.txn.put(&k, &v).unwrap();
                t.writes.insert(k, Some((v, None)));
            }
            TxnStep::PutTtl(k, v, ttl) => {
                t.txn
                    .put_with_ttl(&k, &v, Duration::from_millis(ttl))
                    .unwrap();
                t.writes.insert(k, Some((v, Some(ttl))));
            }
            TxnStep::Delete(k) => {
                let removed = t.txn.delete(&k).unwrap();
                assert_eq!(
                    removed,
                    t.read(&k).is_some(),
                    "delete of {k:?} in a transaction"
                );
                if removed {
                    t.writes.insert(k, None);
                }
            }
            TxnStep::Range(lower, upper, descending) => {
                let range = (lower, upper);
                let mut expected = range_of(&t.merged(), &range);
                let got: Vec<_> = if descending {
                    expected.reverse();
                    t.txn.range_desc(range.clone()).collect()
                } else {
                    t.txn.range(range.clone()).collect()
                };
                assert_eq!(got, expected, "range {range:?} in a transaction");
                // Drained to its end: the whole range was looked at.
                t.ranges.push(range);
            }
            TxnStep::Walk(from, forward, moves) => {
                let seen = t.merged();
                let mut cursor = t.txn.cursor::<&[u8]>(..);
                // Each movement looks at the span from where it started to
                // the key it stopped on, or to the end it ran off.
                let (mut at, looked) = if forward {
                    cursor.seek(&from);
                    let at = seen.range(from.clone()..).next();
                    let end = at.map_or(Bound::Unbounded, |(k, _)| Bound::Included(k.clone()));
                    (at, (Bound::Included(from.clone()), end))
                } else {
                    cursor.seek_for_prev(&from);
                    let at = seen.range(..=from.clone()).next_back();
                    let end = at.map_or(Bound::Unbounded, |(k, _)| Bound::Included(k.clone()));
                    (at, (end, Bound::Included(from.clone())))
                };
                t.ranges.push(looked);
                let mut left = moves.iter().copied();
                loop {
                    let got = cursor
                        .key()
                        .map(|k| (k.to_vec(), cursor.value().unwrap().to_vec()));
                    let expected = at.map(|(k, v)| (k.clone(), v.clone()));
                    assert_eq!(
                        got, expected,
                        "cursor walk from {from:?} (forward: {forward}, moves: {moves:?})"
                    );
                    // A cursor that ran off an end stays off it.
                    let (Some((key, _)), Some(step_forward)) = (at, left.next()) else {
                        break;
                    };
                    let key = key.clone();
                    if step_forward {
                        cursor.next();
                        at = seen
                            .range((Bound::Excluded(key.clone()), Bound::Unbounded))
                            .next();
                        let end = at.map_or(Bound::Unbounded, |(k, _)| Bound::Included(k.clone()));
                        t.ranges.push((Bound::Excluded(key), end));
                    } else {
                        cursor.prev();
                        at = seen
                            .range((Bound::Unbounded, Bound::Excluded(key.clone())))
                            .next_back();
                        let end = at.map_or(Bound::Unbounded, |(k, _)| Bound::Included(k.clone()));
                        t.ranges.push((end, Bound::Excluded(key)));
                    }
                }
            }
            TxnStep::Index(from, to, descending) => {
                let (lower, upper) = ([from], [to]);
                let query = IndexQuery::Range(Bound::Included(&lower), Bound::Included(&upper));
                let found = t.txn.index(INDEX, query).unwrap();
                let got: Vec<_> = if descending {
                    found.rev().map(|e| (e.index_key, e.key, e.value)).collect()
                } else {
                    found.map(|e| (e.index_key, e.key, e.value)).collect()
                };
                let mut expected = index_of(&t.merged(), from, to);
                if descending {
                    expected.reverse();
                }
                assert_eq!(got, expected, "index query {from}..={to} in a transaction");
                // Records found in the view count as reads; those its own
                // writes answer are in the write set.
                for (_, k, _) in expected {
                    if !t.writes.contains_key(&k) {
                        t.reads.insert(k);
                    }
                }
                t.index_ranges.push((from, to));
            }
            TxnStep::Savepoint => {
                t.txn.savepoint();
                t.savepoints.push(t.writes.clone());
            }
            TxnStep::RollbackToSavepoint => {
                let result = t.txn.rollback_to_savepoint();
                match t.savepoints.pop() {
                    Some(writes) => {
                        result.unwrap();
                        t.writes = writes;
                    }
                    None => assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound),
                }
            }
            TxnStep::Commit => {
                let t = self.open.remove(i);
                self.commit(t);
            }
            TxnStep::Rollback => {
                self.open.remove(i).txn.rollback();
            }
        }
    }

    fn commit(&mut self, t: OpenTxn) {
        let now = self.now();
        let conflict = t.conflict(&self.committed).cloned();
        let result = t.txn.commit();
        if t.writes.is_empty() {
            // Read-only: serializable at its begin, never validated.
            result.unwrap();
            return;
        }
        match (result, conflict) {
            (Ok(_), None) => {
                let writes: Vec<_> = t
                    .writes
                    .into_iter()
                    .map(|(k, pending)| {
                        let new = pending.map(|(v, ttl)| self.stored(v, ttl));
                        (k, new)
                    })
                    .collect();
                self.committed.apply(now, &writes);
            }
            (Ok(_), Some(w)) => panic!(
                "a transaction committed over a write after it began: {w:?} (reads {:?}, writes {:?}, ranges {:?}, index ranges {:?})",
                t.reads,
                t.writes.keys().collect::<Vec<_>>(),
                t.ranges,
                t.index_ranges
            ),
            (Err(e), Some(_)) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
            (Err(e), None) => panic!(
                "a transaction failed with nothing written after it began: {e} (reads {:?}, writes {:?}, ranges {:?}, index ranges {:?})",
                t.reads,
                t.writes.keys().collect::<Vec<_>>(),
                t.ranges,
                t.index_ranges
            ),
        }
    }

    fn check_database(&self) {
        let live = self.live();
        let all: BTreeMap<Key, Value> = self.db.iter().collect();
        assert_eq!(all, live, "the database's records");
        let listed: Vec<_> = self
            .db
            .index(INDEX, IndexQuery::All)
            .unwrap()
            .map(|e| (e.index_key, e.key, e.value))
            .collect();
        assert_eq!(listed, index_of(&live, 0, u8::MAX), "the index's entries");
    }
}

fn run(steps: Vec<Step>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    db.create_index(IndexDef::value_bytes(INDEX, 0, 1).unwrap())
        .unwrap();
    let mut run = Run {
        db,
        clock,
        committed: Committed::default(),
        open: Vec::new(),
    };
    for step in steps {
        run.step(step);
    }
    // Whatever is still open commits now, in the order it began.
    while !run.open.is_empty() {
        let t = run.open.remove(0);
        run.commit(t);
        run.check_database();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn interleaved_transactions_see_their_view_and_conflict_exactly_when_they_must(
        steps in prop::collection::vec(step(), 1..120)
    ) {
        run(steps);
    }
}
