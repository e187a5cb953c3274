//! Indexes agree with the data at every view: random writes, batches,
//! deletes, TTLs and transactions against index entries recomputed from
//! scratch from the data of the same view, after garbage collection and
//! expiry; and readers querying snapshots while writers move indexed
//! fields never see an entry without its record or a record without its
//! entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kvdb::{Batch, Db, IndexDef, IndexQuery, ManualClock, Options, Snapshot};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Put(u8, Vec<u8>),
    PutTtl(u8, Vec<u8>, u64),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Txn(Vec<(u8, Option<Vec<u8>>)>),
    Advance(u64),
    TakeSnapshot,
    Collect,
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..4, 0..3)
}

fn write() -> impl Strategy<Value = (u8, Option<Vec<u8>>)> {
    (0u8..6, proptest::option::of(value()))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, value()).prop_map(|(k, v)| Step::Put(k, v)),
        2 => (0u8..6, value(), 1u64..40).prop_map(|(k, v, t)| Step::PutTtl(k, v, t)),
        2 => (0u8..6).prop_map(Step::Delete),
        2 => proptest::collection::vec(write(), 1..5).prop_map(Step::Batch),
        2 => proptest::collection::vec(write(), 1..5).prop_map(Step::Txn),
        1 => (0u64..30).prop_map(Step::Advance),
        1 => Just(Step::TakeSnapshot),
        1 => Just(Step::Collect),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

/// The indexes under test: the first value byte; every byte of the value
/// (several keys per record); the key's number field.
fn indexes() -> Vec<IndexDef> {
    vec![
        IndexDef::value_bytes("first", 0, 1).unwrap(),
        IndexDef::callback("bytes", |_k, v, out| out.extend(v.iter().map(|b| vec![*b]))).unwrap(),
        IndexDef::key_field("number", b':', 1).unwrap(),
    ]
}

/// What each index should hold over `records`, recomputed from them.
fn recomputed(
    records: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
    name: &str,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (k, v) in records {
        let ikeys: Vec<Vec<u8>> = match name {
            "first" => v.first().map(|b| vec![*b]).into_iter().collect(),
            "bytes" => {
                let mut b: Vec<Vec<u8>> = v.iter().map(|b| vec![*b]).collect();
                b.sort();
                b.dedup();
                b
            }
            _ => vec![k.splitn(2, |b| *b == b':').nth(1).unwrap().to_vec()],
        };
        out.extend(ikeys.into_iter().map(|i| (i, k.clone())));
    }
    out.sort();
    out
}

/// Each index, walked forwards and backwards through `query`, agrees with
/// the indexes recomputed from `records`.
fn check_with<I: DoubleEndedIterator<Item = kvdb::IndexEntry>>(
    at: &str,
    records: Vec<(Vec<u8>, Vec<u8>)>,
    query: impl Fn(&str) -> I,
) -> Result<(), TestCaseError> {
    for name in ["first", "bytes", "number"] {
        let found: Vec<_> = query(name).map(|e| (e.index_key, e.key)).collect();
        prop_assert_eq!(
            &found,
            &recomputed(records.iter().cloned(), name),
            "index {} {}",
            name,
            at
        );
        let backwards: Vec<_> = query(name).rev().map(|e| (e.index_key, e.key)).collect();
        prop_assert_eq!(backwards.into_iter().rev().collect::<Vec<_>>(), found);
    }
    Ok(())
}

fn check(snap: &Snapshot) -> Result<(), TestCaseError> {
    check_with(
        &format!("at seq {}", snap.seq()),
        snap.iter().collect(),
        |name| snap.index(name, IndexQuery::All).unwrap(),
    )
}

/// A transaction's index queries, its own writes included, agree with the
/// indexes recomputed from what it sees.
fn check_txn(txn: &kvdb::Txn) -> Result<(), TestCaseError> {
    check_with("in a transaction", txn.iter().collect(), |name| {
        txn.index(name, IndexQuery::All).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn indexes_equal_their_recomputation_at_every_view(
        steps in proptest::collection::vec(step(), 1..40),
        late in any::<bool>(),
        durable in any::<bool>(),
    ) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let options = |declared: bool| {
            let mut options = Options::manual_maintenance();
            options.clock = clock.clone();
            if declared {
                options.indexes = indexes();
            }
            options
        };
        let dir = tempfile::tempdir().unwrap();
        let db = if durable {
            Db::open(dir.path(), options(!late)).unwrap()
        } else {
            Db::in_memory_with(options(!late)).unwrap()
        };
        let mut snapshots = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if late && i == steps.len() / 2 {
                for def in indexes() {
                    db.create_index(def).unwrap();
                }
            }
            match step {
                Step::Put(k, v) => db.put(&key(*k), v).unwrap(),
                Step::PutTtl(k, v, t) => db.put_with_ttl(&key(*k), v, Duration::from_millis(*t)).unwrap(),
                Step::Delete(k) => {
                    db.delete(&key(*k)).unwrap();
                }
                Step::Batch(ws) => {
                    let mut b = Batch::new();
                    for (k, v) in ws {
                        match v {
                            Some(v) => b.put(&key(*k), v).unwrap(),
                            None => b.delete(&key(*k)).unwrap(),
                        }
                    }
                    db.write(&b).unwrap();
                }
                Step::Txn(ws) => {
                    let mut t = db.begin().unwrap();
                    for (k, v) in ws {
                        match v {
                            Some(v) => t.put(&key(*k), v).unwrap(),
                            None => {
                                t.delete(&key(*k)).unwrap();
                            }
                        }
                    }
                    if !late || i >= steps.len() / 2 {
                        check_txn(&t)?;
                    }
                    t.commit().unwrap();
                }
                Step::Advance(ms) => clock.advance(*ms),
                Step::TakeSnapshot => snapshots.push(db.snapshot()),
                Step::Collect => {
                    db.expire_cycle();
                    db.collect_garbage(usize::MAX);
                }
            }
            if !late || i >= steps.len() / 2 {
                check(&db.snapshot())?;
            }
        }
        db.expire_cycle();
        db.collect_garbage(usize::MAX);
        for snap in &snapshots {
            if snap.index("first", IndexQuery::All).is_ok() {
                check(snap)?;
            }
        }
        check(&db.snapshot())?;
        if durable {
            drop(snapshots);
            drop(db);
            let db = Db::open(dir.path(), options(true)).unwrap();
            check(&db.snapshot())?;
        }
    }
}

#[test]
fn readers_never_see_an_entry_without_its_record_or_the_reverse() {
    let db = Arc::new(Db::in_memory_with(Options::manual_maintenance()).unwrap());
    db.create_index(IndexDef::value_bytes("owner", 0, 1).unwrap())
        .unwrap();
    for k in 0..64u8 {
        db.put(&[k], &[k % 4, 0]).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = w as usize;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_mul(31).wrapping_add(7);
                    let k = (n % 64) as u8;
                    let mut batch = Batch::new();
                    // Move two records between owners in one batch.
                    batch.put(&[k], &[(n % 4) as u8, w]).unwrap();
                    batch.put(&[k ^ 1], &[((n + 1) % 4) as u8, w]).unwrap();
                    db.write(&batch).unwrap();
                }
            })
        })
        .collect();
    let mut checks = 0;
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < deadline {
        let snap = db.snapshot();
        let mut through_index = Vec::new();
        for owner in 0..4u8 {
            for e in snap.index("owner", IndexQuery::Equal(&[owner])).unwrap() {
                assert_eq!(e.value[0], owner, "an entry whose record moved on");
                through_index.push(e.key);
            }
        }
        through_index.sort();
        let records: Vec<_> = snap.iter().map(|(k, _)| k).collect();
        assert_eq!(
            through_index, records,
            "every record once through its entry"
        );
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(checks > 10);
}
