//! Property test: random sequences of operations against a `BTreeMap` model.
//!
//! The database and the model must agree on every read, every scan (bounded,
//! both directions, both ends at once), every cursor seek, and on what every
//! snapshot taken mid-sequence sees later — across deletes, batches, TTL
//! expiry (driven by a manual clock), garbage collection and expiry cycles.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kvdb::{Batch, CasOutcome, Db, ManualClock, Options, Snapshot};
use proptest::prelude::*;

type Key = Vec<u8>;
type Value = Vec<u8>;

/// Key -> (value, absolute expiry).
type Model = BTreeMap<Key, (Value, Option<u64>)>;

#[derive(Debug, Clone)]
enum BatchStep {
    Put(Key, Value),
    PutTtl(Key, Value, u64),
    Delete(Key),
}

#[derive(Debug, Clone)]
enum Step {
    Put(Key, Value),
    PutTtl(Key, Value, u64),
    Delete(Key),
    PutIfAbsent(Key, Value),
    Cas(Key, Value, Value),
    Batch(Vec<BatchStep>),
    Advance(u64),
    Get(Key),
    Scan(Bound<Key>, Bound<Key>, Vec<bool>),
    Seek(Key, bool),
    TakeSnapshot,
    CheckSnapshot(usize, Bound<Key>, Bound<Key>),
    DropSnapshot(usize),
    Gc,
    ExpireCycle,
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0xff]), 0..3)
}

fn value() -> impl Strategy<Value = Value> {
    prop::collection::vec(any::<u8>(), 0..4)
}

fn bound() -> impl Strategy<Value = Bound<Key>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

fn batch_step() -> impl Strategy<Value = BatchStep> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| BatchStep::Put(k, v)),
        (key(), value(), 1..50u64).prop_map(|(k, v, t)| BatchStep::PutTtl(k, v, t)),
        key().prop_map(BatchStep::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (key(), value()).prop_map(|(k, v)| Step::Put(k, v)),
        2 => (key(), value(), 1..50u64).prop_map(|(k, v, t)| Step::PutTtl(k, v, t)),
        2 => key().prop_map(Step::Delete),
        1 => (key(), value()).prop_map(|(k, v)| Step::PutIfAbsent(k, v)),
        1 => (key(), value(), value()).prop_map(|(k, e, v)| Step::Cas(k, e, v)),
        2 => prop::collection::vec(batch_step(), 0..6).prop_map(Step::Batch),
        2 => (1..30u64).prop_map(Step::Advance),
        2 => key().prop_map(Step::Get),
        2 => (bound(), bound(), prop::collection::vec(any::<bool>(), 0..12))
            .prop_map(|(l, u, d)| Step::Scan(l, u, d)),
        1 => (key(), any::<bool>()).prop_map(|(k, f)| Step::Seek(k, f)),
        1 => Just(Step::TakeSnapshot),
        2 => (any::<usize>(), bound(), bound()).prop_map(|(i, l, u)| Step::CheckSnapshot(i, l, u)),
        1 => any::<usize>().prop_map(Step::DropSnapshot),
        1 => Just(Step::Gc),
        1 => Just(Step::ExpireCycle),
    ]
}

fn live(model: &Model, now: u64) -> BTreeMap<Key, Value> {
    model
        .iter()
        .filter(|(_, (_, exp))| exp.is_none_or(|at| at > now))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

fn in_range(k: &Key, lower: &Bound<Key>, upper: &Bound<Key>) -> bool {
    let above = match lower {
        Bound::Included(l) => k >= l,
        Bound::Excluded(l) => k > l,
        Bound::Unbounded => true,
    };
    let below = match upper {
        Bound::Included(u) => k <= u,
        Bound::Excluded(u) => k < u,
        Bound::Unbounded => true,
    };
    above && below
}

fn expected_range(
    state: &BTreeMap<Key, Value>,
    lower: &Bound<Key>,
    upper: &Bound<Key>,
) -> Vec<(Key, Value)> {
    state
        .iter()
        .filter(|(k, _)| in_range(k, lower, upper))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Drains an iterator from both ends following `dirs` (true = front), then
/// returns the items in ascending order.
fn drain_mixed(
    mut it: impl DoubleEndedIterator<Item = (Key, Value)>,
    dirs: &[bool],
) -> Vec<(Key, Value)> {
    let mut front = Vec::new();
    let mut back = Vec::new();
    let mut dirs = dirs.iter().copied().cycle();
    loop {
        let from_front = dirs.next().unwrap_or(true);
        let item = if from_front {
            it.next()
        } else {
            it.next_back()
        };
        match item {
            Some(item) if from_front => front.push(item),
            Some(item) => back.push(item),
            None => break,
        }
    }
    // Once one end is exhausted, the other must be too.
    assert!(it.next().is_none() && it.next_back().is_none());
    back.reverse();
    front.extend(back);
    front
}

fn put_model(model: &mut Model, now: u64, step: &BatchStep) {
    match step {
        BatchStep::Put(k, v) => {
            model.insert(k.clone(), (v.clone(), None));
        }
        BatchStep::PutTtl(k, v, t) => {
            model.insert(k.clone(), (v.clone(), Some(now + t)));
        }
        BatchStep::Delete(k) => {
            model.remove(k);
        }
    }
}

fn run(steps: Vec<Step>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(Snapshot, BTreeMap<Key, Value>)> = Vec::new();
    for step in steps {
        let now = clock.now();
        let state = live(&model, now);
        match step {
            Step::Put(k, v) => {
                db.put(&k, &v).unwrap();
                put_model(&mut model, now, &BatchStep::Put(k, v));
            }
            Step::PutTtl(k, v, t) => {
                db.put_with_ttl(&k, &v, Duration::from_millis(t)).unwrap();
                put_model(&mut model, now, &BatchStep::PutTtl(k, v, t));
            }
            Step::Delete(k) => {
                let removed = db.delete(&k).unwrap();
                assert_eq!(removed, state.contains_key(&k));
                model.remove(&k);
            }
            Step::PutIfAbsent(k, v) => {
                let stored = db.put_if_absent(&k, &v).unwrap();
                assert_eq!(stored, !state.contains_key(&k));
                if stored {
                    model.insert(k, (v, None));
                }
            }
            Step::Cas(k, expected, new) => {
                let outcome = db.compare_and_swap(&k, &expected, &new).unwrap();
                match state.get(&k) {
                    None => assert_eq!(outcome, CasOutcome::NotFound),
                    Some(cur) if *cur == expected => {
                        assert_eq!(outcome, CasOutcome::Swapped);
                        model.get_mut(&k).unwrap().0 = new;
                    }
                    Some(_) => assert_eq!(outcome, CasOutcome::Mismatch),
                }
            }
            Step::Batch(ops) => {
                let mut batch = Batch::new();
                for op in &ops {
                    match op {
                        BatchStep::Put(k, v) => batch.put(k, v).unwrap(),
                        BatchStep::PutTtl(k, v, t) => {
                            batch.put_with_ttl(k, v, Duration::from_millis(*t)).unwrap()
                        }
                        BatchStep::Delete(k) => batch.delete(k).unwrap(),
                    }
                }
                db.write(&batch).unwrap();
                for op in &ops {
                    put_model(&mut model, now, op);
                }
            }
            Step::Advance(ms) => clock.advance(ms),
            Step::Get(k) => {
                assert_eq!(db.get(&k).unwrap(), state.get(&k).cloned());
                assert_eq!(db.exists(&k).unwrap(), state.contains_key(&k));
            }
            Step::Scan(lower, upper, dirs) => {
                let got = drain_mixed(db.range((lower.clone(), upper.clone())), &dirs);
                assert_eq!(got, expected_range(&state, &lower, &upper));
            }
            Step::Seek(k, forward) => {
                let mut cursor = db.cursor::<&[u8]>(..);
                let expected = if forward {
                    cursor.seek(&k);
                    state.range(k.clone()..).next()
                } else {
                    cursor.seek_for_prev(&k);
                    state.range(..=k.clone()).next_back()
                };
                let got = cursor
                    .key()
                    .map(|key| (key.to_vec(), cursor.value().unwrap().to_vec()));
                assert_eq!(got, expected.map(|(k, v)| (k.clone(), v.clone())));
            }
            Step::TakeSnapshot => snapshots.push((db.snapshot(), state)),
            Step::CheckSnapshot(i, lower, upper) => {
                if !snapshots.is_empty() {
                    let (snap, seen) = &snapshots[i % snapshots.len()];
                    let got: Vec<_> = snap.range((lower.clone(), upper.clone())).collect();
                    assert_eq!(got, expected_range(seen, &lower, &upper));
                    let rev: Vec<_> = snap.iter().rev().collect();
                    let mut all: Vec<_> = seen.clone().into_iter().collect();
                    all.reverse();
                    assert_eq!(rev, all);
                    for k in seen.keys() {
                        assert_eq!(snap.get(k).unwrap().as_ref(), seen.get(k));
                    }
                }
            }
            Step::DropSnapshot(i) => {
                if !snapshots.is_empty() {
                    let n = snapshots.len();
                    snapshots.remove(i % n);
                }
            }
            Step::Gc => {
                db.collect_garbage(usize::MAX);
            }
            Step::ExpireCycle => {
                db.expire_cycle();
            }
        }
    }
    // Final agreement, then everything must be reclaimable.
    let now = clock.now();
    let state = live(&model, now);
    let all: Vec<_> = db.iter().collect();
    assert_eq!(all, state.clone().into_iter().collect::<Vec<_>>());
    drop(snapshots);
    db.collect_garbage(usize::MAX);
    while db.expire_cycle().reclaimed > 0 {}
    db.collect_garbage(usize::MAX);
    let stats = db.stats();
    assert_eq!(stats.open_views, 0);
    assert!(stats.versions as usize >= state.len());
    assert_eq!(db.iter().count(), state.len());
}

trait Now {
    fn now(&self) -> u64;
}

impl Now for ManualClock {
    fn now(&self) -> u64 {
        kvdb::Clock::now_ms(self)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn database_agrees_with_btreemap_model(steps in prop::collection::vec(step(), 1..80)) {
        run(steps);
    }
}
