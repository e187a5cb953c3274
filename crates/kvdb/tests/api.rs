//! The documented behaviour of every Rust API call.

use std::sync::Arc;
use std::time::Duration;

use kvdb::{
    Batch, CasOutcome, Db, ErrorKind, MAX_KEY_LEN, MAX_VALUE_LEN, ManualClock, Options, Ttl,
};

fn manual_db() -> (Db, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(5_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    (Db::in_memory_with(options).unwrap(), clock)
}

#[test]
fn put_get_delete_exists() {
    let db = Db::in_memory().unwrap();
    assert_eq!(db.get(b"k").unwrap(), None);
    db.put(b"k", b"v1").unwrap();
    db.put(b"k", b"v2").unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v2".to_vec()));
    assert!(db.exists(b"k").unwrap());
    assert!(db.delete(b"k").unwrap());
    assert!(!db.delete(b"k").unwrap(), "second delete finds nothing");
    assert!(!db.exists(b"k").unwrap());
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn get_many_returns_each_keys_value_in_order() {
    let (db, clock) = manual_db();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    db.put_with_ttl(b"brief", b"3", Duration::from_millis(10))
        .unwrap();
    db.delete(b"b").unwrap();
    let keys: [&[u8]; 5] = [b"a", b"b", b"missing", b"brief", b"a"];
    let one = |v: &[u8]| Some(v.to_vec());
    assert_eq!(
        db.get_many(&keys).unwrap(),
        [one(b"1"), None, None, one(b"3"), one(b"1")]
    );
    let snapshot = db.snapshot();
    db.put(b"a", b"new").unwrap();
    clock.advance(20);
    assert_eq!(
        db.get_many(&keys).unwrap(),
        [one(b"new"), None, None, None, one(b"new")],
        "the brief key expired"
    );
    assert_eq!(
        snapshot.get_many(&keys).unwrap(),
        [one(b"1"), None, None, one(b"3"), one(b"1")],
        "a snapshot keeps its moment"
    );
    let mut lengths = Vec::new();
    db.get_many_with(&keys, |i, v| lengths.push((i, v.map(<[u8]>::len))))
        .unwrap();
    assert_eq!(
        lengths,
        [(0, Some(3)), (1, None), (2, None), (3, None), (4, Some(3))]
    );
    assert_eq!(
        db.get_many::<&[u8]>(&[]).unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    let big_key = vec![0u8; MAX_KEY_LEN + 1];
    let err = db.get_many(&[&b"a"[..], &big_key]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

#[test]
fn empty_keys_and_values_are_ordinary() {
    let db = Db::in_memory().unwrap();
    db.put(b"", b"").unwrap();
    assert_eq!(db.get(b"").unwrap(), Some(Vec::new()));
    assert_eq!(
        db.iter().collect::<Vec<_>>(),
        vec![(Vec::new(), Vec::new())]
    );
}

#[test]
fn get_with_borrows_without_copying() {
    let db = Db::in_memory().unwrap();
    db.put(b"k", b"hello").unwrap();
    assert_eq!(db.get_with(b"k", |v| v.map(<[u8]>::len)).unwrap(), Some(5));
    assert!(db.get_with(b"nope", |v| v.is_none()).unwrap());
}

#[test]
fn oversized_keys_and_values_are_rejected_everywhere() {
    let db = Db::in_memory().unwrap();
    let big_key = vec![0u8; MAX_KEY_LEN + 1];
    let max_key = vec![1u8; MAX_KEY_LEN];
    let big_value = vec![0u8; MAX_VALUE_LEN + 1];
    let kind = |r: kvdb::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(db.put(&big_key, b"v")), ErrorKind::TooLarge);
    assert_eq!(kind(db.put(b"k", &big_value)), ErrorKind::TooLarge);
    assert_eq!(db.get(&big_key).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(db.exists(&big_key).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(db.delete(&big_key).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(
        db.increment(&big_key, 1).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    assert_eq!(
        db.put_if_absent(&big_key, b"").unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    assert_eq!(
        db.compare_and_swap(b"k", b"", &big_value)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
    let mut batch = Batch::new();
    assert_eq!(kind(batch.put(&big_key, b"")), ErrorKind::TooLarge);
    assert_eq!(kind(batch.put(b"k", &big_value)), ErrorKind::TooLarge);
    assert_eq!(kind(batch.delete(&big_key)), ErrorKind::TooLarge);
    assert!(batch.is_empty(), "rejected operations are not added");
    db.put(&max_key, b"ok").unwrap();
    assert_eq!(db.get(&max_key).unwrap(), Some(b"ok".to_vec()));
    assert_eq!(db.stats().live_keys, 1, "nothing else was stored");
}

#[test]
fn ttl_reports_remaining_life_and_put_replaces_it() {
    let (db, clock) = manual_db();
    db.put_with_ttl(b"k", b"v", Duration::from_millis(1000))
        .unwrap();
    clock.advance(400);
    assert_eq!(
        db.ttl(b"k").unwrap(),
        Some(Ttl::Expires(Duration::from_millis(600)))
    );
    db.put(b"k", b"v2").unwrap();
    assert_eq!(db.ttl(b"k").unwrap(), Some(Ttl::Persistent));
    assert_eq!(db.ttl(b"absent").unwrap(), None);
}

#[test]
fn expired_keys_read_as_absent() {
    let (db, clock) = manual_db();
    db.put_with_ttl(b"k", b"v", Duration::from_millis(10))
        .unwrap();
    clock.advance(10);
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(!db.exists(b"k").unwrap());
    assert_eq!(db.ttl(b"k").unwrap(), None);
    assert!(!db.delete(b"k").unwrap(), "an expired key is not live");
    assert!(
        db.put_if_absent(b"k", b"new").unwrap(),
        "an expired key counts as absent"
    );
}

#[test]
fn expire_and_persist_change_only_live_keys() {
    let (db, clock) = manual_db();
    assert!(!db.expire(b"k", Duration::from_secs(1)).unwrap());
    assert!(!db.persist(b"k").unwrap());
    db.put(b"k", b"v").unwrap();
    assert!(
        db.persist(b"k").unwrap(),
        "persist on a key without TTL succeeds"
    );
    assert!(db.expire(b"k", Duration::from_millis(50)).unwrap());
    assert_eq!(
        db.ttl(b"k").unwrap(),
        Some(Ttl::Expires(Duration::from_millis(50)))
    );
    assert!(db.persist(b"k").unwrap());
    clock.advance(100);
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        db.expire(b"k", Duration::ZERO).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.put_with_ttl(b"k", b"v", Duration::ZERO)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_batch_refuses_a_ttl_past_the_limit_when_it_is_added() {
    let db = Db::in_memory().unwrap();
    let mut batch = kvdb::Batch::new();
    for ms in [u64::MAX, kvdb::MAX_TTL_MS + 1] {
        let err = batch
            .put_with_ttl(b"k", b"v", Duration::from_millis(ms))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{ms}: {err}");
        assert_eq!(
            db.put_with_ttl(b"k", b"v", Duration::from_millis(ms))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
    }
    assert!(batch.is_empty(), "a refused put is not added");
    batch
        .put_with_ttl(b"k", b"v", Duration::from_millis(kvdb::MAX_TTL_MS))
        .unwrap();
    db.write(&batch).unwrap();
    assert!(db.exists(b"k").unwrap());
}

#[test]
fn put_if_absent_stores_once() {
    let (db, clock) = manual_db();
    assert!(db.put_if_absent(b"k", b"first").unwrap());
    assert!(!db.put_if_absent(b"k", b"second").unwrap());
    assert_eq!(db.get(b"k").unwrap(), Some(b"first".to_vec()));
    assert!(
        db.put_if_absent_with_ttl(b"lock", b"me", Duration::from_millis(30))
            .unwrap()
    );
    assert!(
        !db.put_if_absent_with_ttl(b"lock", b"you", Duration::from_millis(30))
            .unwrap()
    );
    clock.advance(30);
    assert!(
        db.put_if_absent_with_ttl(b"lock", b"you", Duration::from_millis(30))
            .unwrap()
    );
    assert_eq!(db.get(b"lock").unwrap(), Some(b"you".to_vec()));
}

#[test]
fn compare_and_swap_outcomes_and_ttl_is_kept() {
    let (db, _clock) = manual_db();
    assert_eq!(
        db.compare_and_swap(b"k", b"a", b"b").unwrap(),
        CasOutcome::NotFound
    );
    db.put_with_ttl(b"k", b"a", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        db.compare_and_swap(b"k", b"x", b"b").unwrap(),
        CasOutcome::Mismatch
    );
    assert_eq!(db.get(b"k").unwrap(), Some(b"a".to_vec()));
    assert_eq!(
        db.compare_and_swap(b"k", b"a", b"b").unwrap(),
        CasOutcome::Swapped
    );
    assert_eq!(db.get(b"k").unwrap(), Some(b"b".to_vec()));
    assert_eq!(
        db.ttl(b"k").unwrap(),
        Some(Ttl::Expires(Duration::from_secs(10)))
    );
}

#[test]
fn increment_counts_in_decimal_ascii() {
    let (db, _clock) = manual_db();
    assert_eq!(db.increment(b"n", 5).unwrap(), 5);
    assert_eq!(db.increment(b"n", -7).unwrap(), -2);
    assert_eq!(db.get(b"n").unwrap(), Some(b"-2".to_vec()));
    db.put(b"text", b"12a").unwrap();
    assert_eq!(
        db.increment(b"text", 1).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.put(b"max", i64::MAX.to_string().as_bytes()).unwrap();
    assert_eq!(
        db.increment(b"max", 1).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.get(b"max").unwrap(),
        Some(i64::MAX.to_string().into_bytes()),
        "unchanged after overflow"
    );
    db.put_with_ttl(b"ttl", b"1", Duration::from_secs(5))
        .unwrap();
    assert_eq!(db.increment(b"ttl", 1).unwrap(), 2);
    assert_eq!(
        db.ttl(b"ttl").unwrap(),
        Some(Ttl::Expires(Duration::from_secs(5)))
    );
}

#[test]
fn fetch_update_returns_previous_and_can_delete() {
    let db = Db::in_memory().unwrap();
    let prev = db.fetch_update(b"k", |old| {
        assert_eq!(old, None);
        Some(b"1".to_vec())
    });
    assert_eq!(prev.unwrap(), None);
    let prev = db
        .fetch_update(b"k", |old| old.map(|v| [v, b"2"].concat()))
        .unwrap();
    assert_eq!(prev, Some(b"1".to_vec()));
    assert_eq!(db.get(b"k").unwrap(), Some(b"12".to_vec()));
    let batches = db.stats().batches;
    db.fetch_update(b"k", |old| old.map(<[u8]>::to_vec))
        .unwrap();
    assert_eq!(
        db.stats().batches,
        batches,
        "an unchanged value writes nothing"
    );
    db.fetch_update(b"k", |_| None).unwrap();
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn writing_from_inside_an_update_closure_fails_instead_of_deadlocking() {
    let db = Db::in_memory().unwrap();
    let mut inner = None;
    db.fetch_update(b"k", |_| {
        inner = Some(db.put(b"other", b"x"));
        Some(b"v".to_vec())
    })
    .unwrap();
    assert_eq!(
        inner.unwrap().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn batch_applies_all_in_order_and_is_reusable() {
    let db = Db::in_memory().unwrap();
    db.put(b"gone", b"x").unwrap();
    let mut batch = Batch::new();
    batch.put(b"a", b"1").unwrap();
    batch.put(b"a", b"2").unwrap();
    batch.delete(b"gone").unwrap();
    batch
        .put_with_ttl(b"t", b"x", Duration::from_secs(60))
        .unwrap();
    assert_eq!(batch.len(), 4);
    db.write(&batch).unwrap();
    assert_eq!(
        db.get(b"a").unwrap(),
        Some(b"2".to_vec()),
        "the later write wins"
    );
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert!(matches!(db.ttl(b"t").unwrap(), Some(Ttl::Expires(_))));
    batch.clear();
    assert!(batch.is_empty());
    batch.put(b"b", b"3").unwrap();
    db.write(&batch).unwrap();
    assert_eq!(db.get(b"b").unwrap(), Some(b"3".to_vec()));
    db.write(&Batch::new()).unwrap();
}

#[test]
fn snapshot_is_unchanged_by_later_writes_deletes_and_expiry() {
    let (db, clock) = manual_db();
    db.put(b"a", b"1").unwrap();
    db.put_with_ttl(b"t", b"soon", Duration::from_millis(5))
        .unwrap();
    let snap = db.snapshot();
    db.put(b"a", b"2").unwrap();
    db.put(b"b", b"new").unwrap();
    db.delete(b"a").unwrap();
    clock.advance(100);
    db.collect_garbage(usize::MAX);
    db.expire_cycle();
    assert_eq!(snap.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snap.get(b"b").unwrap(), None);
    assert_eq!(snap.get(b"t").unwrap(), Some(b"soon".to_vec()));
    let keys: Vec<_> = snap.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"a".to_vec(), b"t".to_vec()]);
    let now: Vec<_> = db.iter().map(|(k, _)| k).collect();
    assert_eq!(now, vec![b"b".to_vec()]);
}

#[test]
fn range_prefix_and_reverse_iteration() {
    let db = Db::in_memory().unwrap();
    for k in [&b"app"[..], b"apple", b"apq", b"b", b"ap\xff", b"aq"] {
        db.put(k, b"v").unwrap();
    }
    let keys = |it: kvdb::Iter| it.map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(db.prefix(b"ap")),
        vec![
            b"app".to_vec(),
            b"apple".to_vec(),
            b"apq".to_vec(),
            b"ap\xff".to_vec()
        ]
    );
    assert_eq!(keys(db.range(&b"apple"[..]..&b"b"[..])).len(), 4);
    assert_eq!(
        keys(db.range(&b"apq"[..]..=&b"b"[..])).last().unwrap(),
        b"b"
    );
    let rev: Vec<_> = db.prefix(b"app").rev().map(|(k, _)| k).collect();
    assert_eq!(rev, vec![b"apple".to_vec(), b"app".to_vec()]);
    let mut both = db.iter();
    assert_eq!(both.next().unwrap().0, b"app".to_vec());
    assert_eq!(both.next_back().unwrap().0, b"b".to_vec());
    assert_eq!(both.count(), 4);
}

#[test]
fn snapshots_and_iterators_outlive_close() {
    let db = Db::in_memory().unwrap();
    db.put(b"k", b"v").unwrap();
    let snap = db.snapshot();
    let iter = db.iter();
    db.close().unwrap();
    assert_eq!(snap.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(iter.count(), 1);
}

/// Each scan of the database as of now holds one registered view (the one
/// it was made with) while it reads from one end, and none once dropped.
#[test]
fn a_scan_as_of_now_holds_one_view() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    for k in [b"a1", b"a2", b"b1"] {
        db.put(k, b"v").unwrap();
    }
    let mut all = db.iter();
    let mut range = db.range(&b"a2"[..]..);
    let mut prefix = db.prefix(b"a");
    let mut cursor = db.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    assert_eq!(all.next().map(|(k, _)| k), Some(b"a1".to_vec()));
    assert_eq!(range.next().map(|(k, _)| k), Some(b"a2".to_vec()));
    assert_eq!(prefix.next().map(|(k, _)| k), Some(b"a1".to_vec()));
    assert_eq!(cursor.key(), Some(&b"a1"[..]));
    assert_eq!(db.stats().open_views, 4);
    drop((all, range, prefix, cursor));
    assert_eq!(db.stats().open_views, 0);
}

#[test]
fn stats_count_operations_and_memory() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    for i in 0..100u32 {
        db.put(&i.to_be_bytes(), &[0; 100]).unwrap();
    }
    db.delete(&0u32.to_be_bytes()).unwrap();
    db.get(b"x").unwrap();
    let snap = db.snapshot();
    let s = db.stats();
    assert_eq!(s.live_keys, 99);
    assert_eq!(s.versions, 101);
    assert_eq!(s.puts, 100);
    assert_eq!(s.deletes, 1);
    assert_eq!(s.gets, 1);
    assert_eq!(s.open_views, 1);
    assert!(
        s.bytes > 100 * 104,
        "bytes {} must cover keys and values",
        s.bytes
    );
    drop(snap);
    db.collect_garbage(usize::MAX);
    let s = db.stats();
    assert_eq!(s.versions, 99);
    assert_eq!(s.keys_held, 99);
    assert_eq!(s.open_views, 0);
}
