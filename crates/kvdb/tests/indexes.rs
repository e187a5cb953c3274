//! Secondary indexes: kept in the same atomic batch as the data through
//! every kind of write, queried at any view, unique indexes refusing whole
//! writes, online builds, drops, expiry and reopen.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kvdb::{Batch, Db, Endian, ErrorKind, IndexDef, IndexQuery, IntType, ManualClock, Options};

fn keys(iter: impl Iterator<Item = kvdb::IndexEntry>) -> Vec<Vec<u8>> {
    iter.map(|e| e.key).collect()
}

fn json_db() -> Db {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.create_index(IndexDef::json_field("by_age", "age").unwrap())
        .unwrap();
    db
}

fn age(db: &Db, q: &str) -> Vec<Vec<u8>> {
    keys(db.index("by_age", IndexQuery::Equal(q.as_bytes())).unwrap())
}

#[test]
fn puts_updates_and_deletes_move_index_entries() {
    let db = json_db();
    db.put(b"ann", br#"{"age": 30}"#).unwrap();
    db.put(b"bob", br#"{"age": 30}"#).unwrap();
    db.put(b"cid", br#"{"age": 41}"#).unwrap();
    assert_eq!(age(&db, "30"), vec![b"ann".to_vec(), b"bob".to_vec()]);
    db.put(b"bob", br#"{"age": 31}"#).unwrap();
    assert_eq!(age(&db, "30"), vec![b"ann".to_vec()]);
    assert_eq!(
        age(&db, "31.0"),
        vec![b"bob".to_vec()],
        "31 and 31.0 are one index key"
    );
    db.delete(b"ann").unwrap();
    assert!(age(&db, "30").is_empty());
    db.put(b"cid", b"not json any more").unwrap();
    assert!(
        age(&db, "41").is_empty(),
        "a record that no longer has the field leaves the index"
    );
    let found: Vec<_> = db.index("by_age", IndexQuery::All).unwrap().collect();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].key.as_slice(), found[0].value.as_slice()),
        (&b"bob"[..], &br#"{"age": 31}"#[..])
    );
}

#[test]
fn users_reads_scans_and_counts_never_show_index_entries() {
    let db = json_db();
    db.put(b"ann", br#"{"age": 30}"#).unwrap();
    assert_eq!(db.iter().count(), 1);
    let stats = db.stats();
    assert_eq!((stats.live_keys, stats.keys_held), (1, 1));
    assert_eq!(stats.index_entries, 1);
}

#[test]
fn json_ranges_run_in_numeric_order_both_ways() {
    let db = json_db();
    for (k, a) in [(b"a", 5), (b"b", 40), (b"c", 100), (b"d", -3), (b"e", 7)] {
        db.put(k, format!(r#"{{"age": {a}}}"#).as_bytes()).unwrap();
    }
    let q = IndexQuery::Range(Bound::Included(b"5"), Bound::Excluded(b"100"));
    assert_eq!(
        keys(db.index("by_age", q).unwrap()),
        vec![b"a".to_vec(), b"e".to_vec(), b"b".to_vec()]
    );
    assert_eq!(
        keys(db.index("by_age", q).unwrap().rev()),
        vec![b"b".to_vec(), b"e".to_vec(), b"a".to_vec()]
    );
    let all = keys(db.index("by_age", IndexQuery::All).unwrap());
    assert_eq!(all, [b"d", b"a", b"e", b"b", b"c"].map(|k| k.to_vec()));
}

#[test]
fn a_struct_field_index_orders_little_endian_integers_numerically() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.create_index(IndexDef::value_int("score", 4, IntType::U32(Endian::Little)).unwrap())
        .unwrap();
    let record = |id: u32, score: u32| [id.to_le_bytes(), score.to_le_bytes()].concat();
    db.put(b"p1", &record(1, 256)).unwrap();
    db.put(b"p2", &record(2, 255)).unwrap();
    db.put(b"p3", &record(3, 70_000)).unwrap();
    db.put(b"short", b"abc").unwrap();
    let top: Vec<_> = db
        .index("score", IndexQuery::All)
        .unwrap()
        .rev()
        .map(|e| e.key)
        .collect();
    assert_eq!(top, vec![b"p3".to_vec(), b"p1".to_vec(), b"p2".to_vec()]);
    let eq = db
        .index("score", IndexQuery::Equal(&256u32.to_le_bytes()))
        .unwrap();
    assert_eq!(keys(eq), vec![b"p1".to_vec()]);
    let err = db.index("score", IndexQuery::Equal(b"12")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn key_field_and_callback_indexes() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.create_index(IndexDef::key_field("city", b':', 1).unwrap())
        .unwrap();
    db.create_index(
        IndexDef::callback("words", |_k, v, out| {
            for w in v.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
                out.push(w.to_vec());
            }
        })
        .unwrap(),
    )
    .unwrap();
    db.put(b"u:paris:1", b"red fox").unwrap();
    db.put(b"u:rome:2", b"red hen").unwrap();
    assert_eq!(
        keys(db.index("city", IndexQuery::Equal(b"rome")).unwrap()),
        vec![b"u:rome:2".to_vec()]
    );
    assert_eq!(
        keys(db.index("words", IndexQuery::Equal(b"red")).unwrap()).len(),
        2
    );
    assert_eq!(
        keys(db.index("words", IndexQuery::Prefix(b"f")).unwrap()),
        vec![b"u:paris:1".to_vec()]
    );
    db.put(b"u:rome:2", b"blue hen").unwrap();
    assert_eq!(
        keys(db.index("words", IndexQuery::Equal(b"red")).unwrap()).len(),
        1
    );
}

fn unique_db() -> Db {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.create_index(IndexDef::json_field("email", "email").unwrap().unique())
        .unwrap();
    db.put(b"u1", br#"{"email": "a@x"}"#).unwrap();
    db
}

#[test]
fn a_unique_index_refuses_a_duplicate_put_and_applies_nothing() {
    let db = unique_db();
    let err = db.put(b"u2", br#"{"email": "a@x"}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Constraint, "{err}");
    assert_eq!(db.get(b"u2").unwrap(), None);
    db.put(b"u1", br#"{"email": "a@x", "n": 2}"#).unwrap();
    db.put(b"u2", br#"{"email": "b@x"}"#).unwrap();
}

#[test]
fn a_unique_index_refuses_a_batch_whole() {
    let db = unique_db();
    let mut batch = Batch::new();
    batch.put(b"u3", br#"{"email": "c@x"}"#).unwrap();
    batch.put(b"u4", br#"{"email": "a@x"}"#).unwrap();
    assert_eq!(db.write(&batch).unwrap_err().kind(), ErrorKind::Constraint);
    assert_eq!(db.get(b"u3").unwrap(), None, "nothing of the batch applied");
    // Two records of one batch sharing a new key are refused too.
    let mut batch = Batch::new();
    batch.put(b"u5", br#"{"email": "d@x"}"#).unwrap();
    batch.put(b"u6", br#"{"email": "d@x"}"#).unwrap();
    assert_eq!(db.write(&batch).unwrap_err().kind(), ErrorKind::Constraint);
    // A batch that frees a key and reuses it is fine.
    let mut batch = Batch::new();
    batch.delete(b"u1").unwrap();
    batch.put(b"u7", br#"{"email": "a@x"}"#).unwrap();
    db.write(&batch).unwrap();
    assert_eq!(
        keys(db.index("email", IndexQuery::Equal(br#""a@x""#)).unwrap()),
        vec![b"u7".to_vec()]
    );
}

#[test]
fn a_unique_index_refuses_a_transaction_whole() {
    let db = unique_db();
    let mut txn = db.begin().unwrap();
    txn.put(b"u8", br#"{"email": "e@x"}"#).unwrap();
    txn.put(b"u9", br#"{"email": "a@x"}"#).unwrap();
    assert_eq!(txn.commit().unwrap_err().kind(), ErrorKind::Constraint);
    assert_eq!(db.get(b"u8").unwrap(), None);
    let err = db
        .transaction(|txn| txn.put(b"u9", br#"{"email": "a@x"}"#))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Constraint,
        "not retried as a conflict"
    );
}

#[test]
fn building_a_unique_index_over_duplicates_fails_and_leaves_nothing() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.put(b"a", b"same").unwrap();
    db.put(b"b", b"same").unwrap();
    let err = db
        .create_index(IndexDef::value_bytes("v", 0, 4).unwrap().unique())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Constraint);
    assert!(db.indexes().is_empty());
    db.collect_garbage(usize::MAX);
    assert_eq!(db.stats().index_entries, 0);
}

/// An in-memory database on a clock the test moves.
fn db_with_manual_clock() -> (Db, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    (Db::in_memory_with(options).unwrap(), clock)
}

/// A database whose index "v" holds each value's first byte, on a clock
/// the test moves.
fn first_byte_indexed_with_manual_clock() -> (Db, Arc<ManualClock>) {
    let (db, clock) = db_with_manual_clock();
    db.create_index(IndexDef::value_bytes("v", 0, 1).unwrap())
        .unwrap();
    (db, clock)
}

#[test]
fn conditional_writes_and_ttl_changes_keep_the_index() {
    let (db, clock) = first_byte_indexed_with_manual_clock();
    assert!(db.put_if_absent(b"k", b"1").unwrap());
    db.compare_and_swap(b"k", b"1", b"2").unwrap();
    assert_eq!(
        keys(db.index("v", IndexQuery::Equal(b"2")).unwrap()),
        vec![b"k".to_vec()]
    );
    db.increment(b"k", 5).unwrap();
    assert!(keys(db.index("v", IndexQuery::Equal(b"2")).unwrap()).is_empty());
    assert_eq!(
        keys(db.index("v", IndexQuery::Equal(b"7")).unwrap()),
        vec![b"k".to_vec()]
    );
    db.expire(b"k", Duration::from_millis(50)).unwrap();
    clock.advance(49);
    assert_eq!(
        keys(db.index("v", IndexQuery::Equal(b"7")).unwrap()).len(),
        1
    );
    clock.advance(1);
    assert!(
        keys(db.index("v", IndexQuery::Equal(b"7")).unwrap()).is_empty(),
        "the entry expired with its record"
    );
    db.expire_cycle();
    assert_eq!(db.stats().index_entries, 0);
}

#[test]
fn persist_keeps_the_entry_alive_with_its_record() {
    let (db, clock) = first_byte_indexed_with_manual_clock();
    db.put_with_ttl(b"k", b"x", Duration::from_millis(10))
        .unwrap();
    db.persist(b"k").unwrap();
    clock.advance(100);
    assert_eq!(
        keys(db.index("v", IndexQuery::Equal(b"x")).unwrap()),
        vec![b"k".to_vec()]
    );
}

#[test]
fn snapshots_query_their_own_moment_and_refuse_younger_indexes() {
    let db = json_db();
    db.put(b"ann", br#"{"age": 30}"#).unwrap();
    let before = db.snapshot();
    db.put(b"ann", br#"{"age": 31}"#).unwrap();
    assert_eq!(
        keys(before.index("by_age", IndexQuery::Equal(b"30")).unwrap()),
        vec![b"ann".to_vec()]
    );
    assert!(keys(db.index("by_age", IndexQuery::Equal(b"30")).unwrap()).is_empty());
    db.create_index(IndexDef::json_field("late", "age").unwrap())
        .unwrap();
    assert_eq!(
        before.index("late", IndexQuery::All).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.snapshot()
            .index("late", IndexQuery::All)
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn a_snapshot_taken_before_a_record_expired_finds_it_in_an_index_built_after() {
    let (db, clock) = db_with_manual_clock();
    db.put_with_ttl(b"k", b"x", Duration::from_millis(10))
        .unwrap();
    db.put(b"m", b"y").unwrap();
    let before = db.snapshot();
    clock.advance(10);
    // Nothing written since: the build ends at the snapshot's sequence
    // number, so the snapshot may use the index.
    db.create_index(IndexDef::value_bytes("v", 0, 1).unwrap())
        .unwrap();
    assert_eq!(before.get(b"k").unwrap(), Some(b"x".to_vec()));
    assert_eq!(
        keys(before.index("v", IndexQuery::Equal(b"x")).unwrap()),
        vec![b"k".to_vec()],
        "the snapshot's index agrees with its data"
    );
    assert_eq!(
        keys(db.index("v", IndexQuery::All).unwrap()),
        vec![b"m".to_vec()],
        "expired now"
    );
    drop(before);
    db.expire_cycle();
    db.collect_garbage(usize::MAX);
    assert_eq!(db.stats().index_entries, 1, "the expired entry went too");
}

#[test]
fn building_a_unique_index_ignores_records_that_have_expired() {
    let (db, clock) = db_with_manual_clock();
    db.put_with_ttl(b"a", b"same", Duration::from_millis(10))
        .unwrap();
    db.put(b"b", b"same").unwrap();
    clock.advance(10);
    db.create_index(IndexDef::value_bytes("v", 0, 4).unwrap().unique())
        .unwrap();
    assert_eq!(
        keys(db.index("v", IndexQuery::Equal(b"same")).unwrap()),
        vec![b"b".to_vec()]
    );
    assert_eq!(
        db.put(b"c", b"same").unwrap_err().kind(),
        ErrorKind::Constraint,
        "b holds the key"
    );
}

#[test]
fn a_build_indexes_existing_records_and_writes_made_during_it() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let db = Arc::new(Db::in_memory_with(Options::manual_maintenance()).unwrap());
    for i in 0..5_000u32 {
        db.put(format!("k{i:05}").as_bytes(), &(i % 10).to_le_bytes())
            .unwrap();
    }
    let building = Arc::new(AtomicBool::new(true));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, building, writes) = (Arc::clone(&db), Arc::clone(&building), Arc::clone(&writes));
        std::thread::spawn(move || {
            // Writes on both sides of the build's progress, until it ends.
            let mut i = 0u32;
            while building.load(Ordering::Acquire) {
                i = (i + 7919) % 6_000;
                db.put(format!("k{i:05}").as_bytes(), &(i / 3 % 10).to_le_bytes())
                    .unwrap();
                writes.fetch_add(1, Ordering::Release);
            }
        })
    };
    while writes.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    // A slow extractor stretches the build over many chunks and many of
    // the other thread's writes.
    let index = IndexDef::callback("mod", |_k, v, out| {
        std::thread::sleep(Duration::from_micros(20));
        out.push(
            u32::from_le_bytes(v[..4].try_into().unwrap())
                .to_be_bytes()
                .to_vec(),
        );
    })
    .unwrap();
    db.create_index(index).unwrap();
    let during = writes.load(Ordering::Acquire);
    building.store(false, Ordering::Release);
    writer.join().unwrap();
    assert!(during >= 10, "only {during} writes ran during the build");
    // Compare with the index recomputed from the data.
    let snap = db.snapshot();
    let mut expected: Vec<(Vec<u8>, Vec<u8>)> = snap
        .iter()
        .map(|(k, v)| {
            (
                u32::from_le_bytes(v[..4].try_into().unwrap())
                    .to_be_bytes()
                    .to_vec(),
                k,
            )
        })
        .collect();
    expected.sort();
    let found: Vec<_> = snap
        .index("mod", IndexQuery::All)
        .unwrap()
        .map(|e| (e.index_key, e.key))
        .collect();
    assert_eq!(found.len(), expected.len());
    assert_eq!(found, expected);
}

#[test]
fn dropping_an_index_removes_its_entries_and_its_name() {
    let db = json_db();
    for i in 0..3_000 {
        db.put(format!("k{i}").as_bytes(), br#"{"age": 1}"#)
            .unwrap();
    }
    let before = db.snapshot();
    db.drop_index("by_age").unwrap();
    assert_eq!(
        db.index("by_age", IndexQuery::All).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(db.stats().index_entries, 0);
    assert!(db.indexes().is_empty());
    assert!(
        before.index("by_age", IndexQuery::All).is_err(),
        "the name is gone for every view"
    );
    drop(before);
    db.put(b"k0", br#"{"age": 2}"#).unwrap();
    db.collect_garbage(usize::MAX);
    assert_eq!(
        db.stats().index_bytes,
        Db::in_memory().unwrap().stats().index_bytes
    );
    assert_eq!(
        db.drop_index("by_age").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn names_are_unique_and_listed() {
    let db = json_db();
    let err = db
        .create_index(IndexDef::key_field("by_age", b':', 0).unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let listed = db.indexes();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].def.name(), listed[0].ready), ("by_age", true));
}

#[test]
fn declared_indexes_are_rebuilt_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        let mut o = Options::manual_maintenance();
        o.indexes = vec![IndexDef::json_field("by_age", "age").unwrap()];
        o
    };
    {
        let db = Db::open(dir.path(), options()).unwrap();
        db.put(b"ann", br#"{"age": 30}"#).unwrap();
        db.checkpoint().unwrap();
        db.put(b"bob", br#"{"age": 30}"#).unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(age(&db, "30"), vec![b"ann".to_vec(), b"bob".to_vec()]);
    drop(db);
    let db = Db::open(dir.path(), Options::manual_maintenance()).unwrap();
    assert!(
        db.index("by_age", IndexQuery::All).is_err(),
        "an undeclared index is not served"
    );
}
