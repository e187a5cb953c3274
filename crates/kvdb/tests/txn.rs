//! Transactions: read-your-writes through gets and cursors in both
//! directions, savepoints, TTL writes, and the anomalies serializability
//! rules out — each test fails if the protection it names is removed.

use std::sync::Arc;
use std::time::Duration;

use kvdb::{Batch, Db, ErrorKind, IndexDef, IndexQuery, ManualClock, Options};

fn db() -> Db {
    Db::in_memory_with(Options::manual_maintenance()).unwrap()
}

fn conflict(result: kvdb::Result<u64>) {
    let err = result.expect_err("the commit must conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

fn pairs(it: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    it.map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn p(k: &str, v: &str) -> (String, String) {
    (k.into(), v.into())
}

#[test]
fn a_transaction_reads_its_own_writes_over_its_view() {
    let db = db();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3"), ("e", "5")] {
        db.put(k.as_bytes(), v.as_bytes()).unwrap();
    }
    let mut txn = db.begin().unwrap();
    txn.put(b"b", b"two").unwrap();
    assert!(txn.delete(b"c").unwrap());
    assert!(!txn.delete(b"zz").unwrap(), "absent: nothing to delete");
    txn.put(b"d", b"4").unwrap();
    txn.put(b"0", b"zero").unwrap();
    assert_eq!(txn.get(b"b").unwrap(), Some(b"two".to_vec()));
    assert_eq!(txn.get(b"c").unwrap(), None);
    assert_eq!(txn.get(b"d").unwrap(), Some(b"4".to_vec()));
    db.put(b"f", b"6").unwrap();
    assert_eq!(txn.get(b"f").unwrap(), None, "later writes are not seen");
    let want = vec![
        p("0", "zero"),
        p("a", "1"),
        p("b", "two"),
        p("d", "4"),
        p("e", "5"),
    ];
    assert_eq!(pairs(txn.iter()), want);
    let mut back = want.clone();
    back.reverse();
    assert_eq!(pairs(txn.range_desc::<&[u8]>(..)), back);
    assert_eq!(pairs(txn.range(&b"b"[..]..&b"e"[..])), want[2..4]);
    let mut cursor = txn.cursor::<&[u8]>(..);
    cursor.seek(b"c");
    assert_eq!(cursor.key(), Some(&b"d"[..]));
    cursor.prev();
    assert_eq!(
        (cursor.key(), cursor.value()),
        (Some(&b"b"[..]), Some(&b"two"[..]))
    );
    cursor.next();
    cursor.next();
    assert_eq!(cursor.key(), Some(&b"e"[..]));
    cursor.seek_for_prev(b"c");
    assert_eq!(cursor.key(), Some(&b"b"[..]));
    cursor.seek_to_last();
    assert_eq!(cursor.key(), Some(&b"e"[..]));
    cursor.next();
    assert!(!cursor.valid());
    // It read "f" as absent, and "f" was written since: nothing applies.
    conflict(txn.commit());
    assert_eq!(
        pairs(db.iter()),
        vec![
            p("a", "1"),
            p("b", "2"),
            p("c", "3"),
            p("e", "5"),
            p("f", "6")
        ]
    );
    let mut txn = db.begin().unwrap();
    txn.put(b"b", b"two").unwrap();
    assert!(txn.delete(b"c").unwrap());
    assert_eq!(pairs(txn.prefix(b"b")), vec![p("b", "two")]);
    txn.commit().unwrap();
    assert_eq!(
        pairs(db.iter()),
        vec![p("a", "1"), p("b", "two"), p("e", "5"), p("f", "6")]
    );
}

#[test]
fn savepoints_undo_the_writes_since_them() {
    let db = db();
    db.put(b"k", b"base").unwrap();
    let mut txn = db.begin().unwrap();
    assert_eq!(
        txn.rollback_to_savepoint().unwrap_err().kind(),
        ErrorKind::NotFound
    );
    txn.put(b"a", b"1").unwrap();
    txn.savepoint();
    txn.put(b"a", b"2").unwrap();
    txn.put(b"b", b"x").unwrap();
    txn.savepoint();
    txn.delete(b"k").unwrap();
    assert_eq!(txn.get(b"k").unwrap(), None);
    txn.rollback_to_savepoint().unwrap();
    assert_eq!(txn.get(b"k").unwrap(), Some(b"base".to_vec()));
    assert_eq!(txn.get(b"a").unwrap(), Some(b"2".to_vec()));
    txn.rollback_to_savepoint().unwrap();
    assert_eq!(txn.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(txn.get(b"b").unwrap(), None);
    assert_eq!(
        txn.rollback_to_savepoint().unwrap_err().kind(),
        ErrorKind::NotFound
    );
    txn.commit().unwrap();
    assert_eq!(pairs(db.iter()), vec![p("a", "1"), p("k", "base")]);
}

#[test]
fn ttl_writes_in_a_transaction_start_at_commit() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    let mut txn = db.begin().unwrap();
    txn.put_with_ttl(b"t", b"v", Duration::from_millis(100))
        .unwrap();
    assert_eq!(txn.get(b"t").unwrap(), Some(b"v".to_vec()));
    clock.advance(50);
    txn.commit().unwrap();
    clock.advance(99);
    assert!(db.exists(b"t").unwrap(), "the TTL runs from the commit");
    clock.advance(1);
    assert!(!db.exists(b"t").unwrap());
    let mut txn = db.begin().unwrap();
    assert_eq!(
        txn.put_with_ttl(b"t", b"v", Duration::ZERO)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

/// Transactions begun while `t` (value "x", 10 ms TTL) was live, after
/// which it expired by the clock and, if `reap`, an expiry cycle removed it.
fn transactions_over_a_key_that_expires(reap: bool) -> [kvdb::Result<u64>; 4] {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    db.create_index(IndexDef::value_bytes("first", 0, 1).unwrap())
        .unwrap();
    db.put_with_ttl(b"t", b"x", Duration::from_millis(10))
        .unwrap();
    let mut read = db.begin().unwrap();
    let mut blind = db.begin().unwrap();
    let mut scan = db.begin().unwrap();
    let mut query = db.begin().unwrap();
    clock.advance(10);
    if reap {
        assert_eq!(db.expire_cycle().reclaimed, 1);
    }
    assert_eq!(read.get(b"t").unwrap(), Some(b"x".to_vec()));
    read.put(b"o1", b"1").unwrap();
    blind.put(b"t", b"y").unwrap();
    // Each writes a key outside what the others read.
    assert_eq!(scan.range(b"s".as_slice()..b"u".as_slice()).count(), 1);
    scan.put(b"o2", b"2").unwrap();
    assert_eq!(
        query
            .index("first", IndexQuery::Equal(b"x"))
            .unwrap()
            .count(),
        1
    );
    query.put(b"o3", b"3").unwrap();
    // The blind write last: the others read `t`.
    [read.commit(), scan.commit(), query.commit(), blind.commit()]
}

#[test]
fn a_key_expiring_while_transactions_run_conflicts_with_none_whether_or_not_it_was_reaped() {
    for reap in [false, true] {
        for (what, result) in ["read", "scan", "index query", "blind write"]
            .iter()
            .zip(transactions_over_a_key_that_expires(reap))
        {
            let reaped = if reap { "reaped" } else { "not reaped" };
            assert!(
                result.is_ok(),
                "the {what} transaction, key {reaped}: {}",
                result.unwrap_err()
            );
        }
    }
}

/// A deletion of a key whose value has already expired changes nothing a
/// reader can see, so it is no more a write to conflict with than the
/// expiry was — whether or not garbage collection dropped the value first.
#[test]
fn deleting_an_expired_key_is_not_a_write_transactions_conflict_with() {
    for collected in [false, true] {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let mut options = Options::manual_maintenance();
        options.clock = clock.clone();
        let db = Db::in_memory_with(options).unwrap();
        db.put_with_ttl(b"k", b"v", Duration::from_millis(10))
            .unwrap();
        clock.advance(10);
        if collected {
            db.collect_garbage(usize::MAX);
        }
        let mut txn = db.begin().unwrap();
        assert_eq!(txn.range::<&[u8]>(..).count(), 0);
        txn.put(b"k", b"mine").unwrap();
        let mut batch = Batch::new();
        batch.delete(b"k").unwrap();
        db.write(&batch).unwrap();
        let committed = txn.commit();
        assert!(
            committed.is_ok(),
            "value collected first: {collected}: {}",
            committed.unwrap_err()
        );
        assert_eq!(db.get(b"k").unwrap(), Some(b"mine".to_vec()));
    }
}

#[test]
fn lost_update_is_prevented() {
    let db = db();
    db.put(b"counter", b"10").unwrap();
    let mut a = db.begin().unwrap();
    let mut b = db.begin().unwrap();
    let read = |t: &mut kvdb::Txn| -> i64 {
        String::from_utf8(t.get(b"counter").unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    let (x, y) = (read(&mut a), read(&mut b));
    a.put(b"counter", (x + 1).to_string().as_bytes()).unwrap();
    b.put(b"counter", (y + 1).to_string().as_bytes()).unwrap();
    a.commit().unwrap();
    conflict(b.commit());
    assert_eq!(db.get(b"counter").unwrap(), Some(b"11".to_vec()));
}

#[test]
fn write_skew_on_points_is_prevented() {
    // Two doctors on call; each may go off call if the other is still on.
    let db = db();
    db.put(b"alice", b"on").unwrap();
    db.put(b"bob", b"on").unwrap();
    let mut a = db.begin().unwrap();
    let mut b = db.begin().unwrap();
    assert_eq!(a.get(b"bob").unwrap(), Some(b"on".to_vec()));
    assert_eq!(b.get(b"alice").unwrap(), Some(b"on".to_vec()));
    a.put(b"alice", b"off").unwrap();
    b.put(b"bob", b"off").unwrap();
    a.commit().unwrap();
    conflict(b.commit());
    assert_eq!(db.get(b"bob").unwrap(), Some(b"on".to_vec()));
}

#[test]
fn write_skew_through_prefix_and_range_scans_is_prevented() {
    // Each transaction counts the rows of a range, then writes outside it
    // a row that would change the other's count.
    for use_prefix in [true, false] {
        let db = db();
        db.put(b"x/1", b"").unwrap();
        db.put(b"y/1", b"").unwrap();
        let count = |t: &kvdb::Txn, p: &[u8]| {
            if use_prefix {
                t.prefix(p).count()
            } else {
                let mut end = p.to_vec();
                *end.last_mut().unwrap() += 1;
                t.range(p..end.as_slice()).count()
            }
        };
        let mut a = db.begin().unwrap();
        let mut b = db.begin().unwrap();
        assert_eq!(count(&a, b"y/"), 1);
        assert_eq!(count(&b, b"x/"), 1);
        a.put(b"x/2", b"").unwrap();
        b.put(b"y/2", b"").unwrap();
        a.commit().unwrap();
        conflict(b.commit());
    }
}

#[test]
fn an_insert_into_an_empty_range_a_transaction_scanned_conflicts() {
    let db = db();
    let mut a = db.begin().unwrap();
    assert_eq!(a.prefix(b"job/").count(), 0, "nothing there");
    a.put(b"jobs-seen", b"0").unwrap();
    db.put(b"job/1", b"new").unwrap();
    conflict(a.commit());
}

#[test]
fn an_unbounded_scan_counts_the_gap_up_to_the_key_that_ended_it() {
    let db = db();
    db.put(b"a", b"").unwrap();
    db.put(b"m", b"").unwrap();
    let mut t = db.begin().unwrap();
    let mut cursor = t.cursor::<&[u8]>(..);
    cursor.seek(b"b");
    assert_eq!(cursor.key(), Some(&b"m"[..]));
    drop(cursor);
    t.put(b"out", b"").unwrap();
    db.put(b"c", b"").unwrap(); // inside [b, m]: a phantom for the seek
    conflict(t.commit());

    let mut t = db.begin().unwrap();
    let mut cursor = t.cursor::<&[u8]>(..);
    cursor.seek(b"b");
    drop(cursor);
    t.put(b"out", b"").unwrap();
    db.put(b"z", b"").unwrap(); // past the key that ended the seek
    t.commit().unwrap();
}

#[test]
fn a_deleted_key_in_a_scanned_range_brought_back_conflicts() {
    let db = db();
    db.put(b"r/1", b"").unwrap();
    db.delete(b"r/1").unwrap(); // a tombstone the scan passes over
    let mut a = db.begin().unwrap();
    assert_eq!(a.prefix(b"r/").count(), 0);
    a.put(b"w", b"").unwrap();
    let mut b = db.begin().unwrap();
    b.put(b"r/1", b"back").unwrap();
    b.commit().unwrap();
    conflict(a.commit());
}

#[test]
fn a_key_read_as_absent_then_inserted_conflicts() {
    let db = db();
    let mut a = db.begin().unwrap();
    assert_eq!(a.get(b"user:7").unwrap(), None);
    a.put(b"user:count", b"0").unwrap();
    db.put(b"user:7", b"ada").unwrap();
    conflict(a.commit());
}

#[test]
fn plain_writes_of_every_kind_conflict_with_a_reader() {
    type Write = fn(&Db);
    let writes: [(&str, Write); 7] = [
        ("put", |db| db.put(b"k", b"x").unwrap()),
        ("delete", |db| assert!(db.delete(b"k").unwrap())),
        ("batch", |db| {
            let mut b = Batch::new();
            b.put(b"k", b"x").unwrap();
            db.write(&b).unwrap();
        }),
        ("compare and swap", |db| {
            db.compare_and_swap(b"k", b"1", b"2").unwrap();
        }),
        ("increment", |db| {
            db.increment(b"k", 1).unwrap();
        }),
        ("expire", |db| {
            assert!(db.expire(b"k", Duration::from_secs(60)).unwrap())
        }),
        ("persist after expire", |db| {
            db.expire(b"k", Duration::from_secs(60)).unwrap();
        }),
    ];
    for (what, write) in writes {
        let db = db();
        db.put(b"k", b"1").unwrap();
        let mut t = db.begin().unwrap();
        t.get(b"k").unwrap();
        t.put(b"other", b"").unwrap();
        write(&db);
        let err = t.commit().expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Conflict, "{what}: {err}");
    }
}

#[test]
fn writes_that_touch_nothing_read_commit_and_the_first_committer_wins() {
    let db = db();
    let mut a = db.begin().unwrap();
    let mut b = db.begin().unwrap();
    a.put(b"a", b"1").unwrap();
    b.put(b"b", b"1").unwrap();
    a.commit().unwrap();
    b.commit().unwrap();
    let mut c = db.begin().unwrap();
    let mut d = db.begin().unwrap();
    c.put(b"same", b"c").unwrap();
    d.put(b"same", b"d").unwrap();
    d.commit().unwrap();
    conflict(c.commit());
    assert_eq!(db.get(b"same").unwrap(), Some(b"d".to_vec()));
}

#[test]
fn read_only_transactions_commit_without_validation() {
    let db = db();
    db.put(b"k", b"1").unwrap();
    let mut t = db.begin().unwrap();
    assert_eq!(t.get(b"k").unwrap(), Some(b"1".to_vec()));
    db.put(b"k", b"2").unwrap();
    assert_eq!(
        t.get(b"k").unwrap(),
        Some(b"1".to_vec()),
        "its view is fixed"
    );
    t.commit().unwrap();
}

/// Threads increment one counter in transactions through the helper, all
/// at once: every increment must commit, however often the others win.
fn contended_increments(db: &Db, threads: usize, each: usize) {
    db.put(b"n", b"0").unwrap();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..each {
                    db.transaction(|t| {
                        let n: usize = String::from_utf8(t.get(b"n")?.unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        t.put(b"n", (n + 1).to_string().as_bytes())
                    })
                    .expect("the helper commits however busy the key is");
                }
            });
        }
    });
    let n: usize = String::from_utf8(db.get(b"n").unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(n, threads * each, "every increment committed once");
}

#[test]
fn the_transaction_helper_commits_every_transaction_on_one_hot_key() {
    contended_increments(&db(), 4, 500);
}

#[test]
fn the_transaction_helper_commits_every_transaction_on_one_hot_key_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::manual_maintenance();
    options.sync = kvdb::SyncPolicy::Always;
    let db = Db::open(dir.path(), options).unwrap();
    contended_increments(&db, 3, 60);
}

#[test]
fn the_last_retry_holds_the_write_lock_so_a_write_through_the_db_inside_fails() {
    let db = db();
    db.put(b"k", b"0").unwrap();
    let mut calls = 0;
    let err = db
        .transaction(|t| {
            calls += 1;
            t.get(b"k")?;
            // Written behind the transaction's back: every optimistic
            // attempt conflicts. The last one holds the write lock, so
            // this write fails instead of waiting for it forever.
            db.put(b"k", calls.to_string().as_bytes())?;
            t.put(b"out", b"x")
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(calls, kvdb::TRANSACTION_RETRIES + 1);
    assert_eq!(db.get(b"out").unwrap(), None, "nothing committed");
    assert_eq!(
        db.get(b"k").unwrap(),
        Some(kvdb::TRANSACTION_RETRIES.to_string().into_bytes())
    );
    db.put(b"k", b"free").expect("the lock was released");
}

#[test]
fn a_transaction_outliving_close_gets_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::manual_maintenance()).unwrap();
    db.put(b"k", b"v").unwrap();
    let mut t = db.begin().unwrap();
    db.close().unwrap();
    assert_eq!(t.get(b"k").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        t.put(b"k", b"w").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(t.commit().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn committed_transactions_are_durable_and_whole_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::manual_maintenance()).unwrap();
    let mut t = db.begin().unwrap();
    for i in 0..50u32 {
        t.put(&i.to_be_bytes(), b"v").unwrap();
    }
    t.delete(b"none").unwrap();
    t.commit().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::manual_maintenance()).unwrap();
    assert_eq!(db.iter().count(), 50);
}

#[test]
fn a_transactions_multi_get_reads_its_own_writes_over_its_view() {
    let db = db();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    db.put(b"c", b"3").unwrap();
    let mut txn = db.begin().unwrap();
    txn.put(b"b", b"two").unwrap();
    txn.delete(b"c").unwrap();
    txn.put(b"d", b"four").unwrap();
    // Written after the transaction began: not in its view.
    db.put(b"e", b"5").unwrap();
    let keys: [&[u8]; 6] = [b"a", b"b", b"c", b"d", b"e", b"a"];
    let want = [
        Some(b"1".to_vec()),
        Some(b"two".to_vec()),
        None,
        Some(b"four".to_vec()),
        None,
        Some(b"1".to_vec()),
    ];
    assert_eq!(txn.get_many(&keys).unwrap(), want);
    // Many more keys than one group of overlapped reads.
    let many: Vec<Vec<u8>> = (0..100).map(|i| format!("k{i:03}").into_bytes()).collect();
    for key in many.iter().step_by(2) {
        db.put(key, key).unwrap();
    }
    let mut txn = db.begin().unwrap();
    txn.put(b"k001", b"mine").unwrap();
    let got = txn.get_many(&many).unwrap();
    for (i, (key, value)) in many.iter().zip(&got).enumerate() {
        let want = match i {
            1 => Some(b"mine".to_vec()),
            i if i % 2 == 0 => Some(key.clone()),
            _ => None,
        };
        assert_eq!(*value, want, "key {i}");
    }
}

#[test]
fn every_key_a_multi_get_read_counts_for_validation() {
    let db = db();
    let keys: [&[u8]; 2] = [b"present", b"absent"];
    db.put(b"present", b"1").unwrap();
    // A value read, then changed by another writer.
    let mut txn = db.begin().unwrap();
    txn.get_many(&keys).unwrap();
    txn.put(b"out", b"x").unwrap();
    db.put(b"present", b"2").unwrap();
    conflict(txn.commit());
    // A key read as absent, then inserted.
    let mut txn = db.begin().unwrap();
    txn.get_many(&keys).unwrap();
    txn.put(b"out", b"y").unwrap();
    db.put(b"absent", b"now").unwrap();
    conflict(txn.commit());
    // Keys read that nobody wrote since: the commit goes through.
    let mut txn = db.begin().unwrap();
    txn.get_many(&keys).unwrap();
    txn.put(b"out", b"z").unwrap();
    db.put(b"unrelated", b"w").unwrap();
    txn.commit().unwrap();
    assert_eq!(db.get(b"out").unwrap(), Some(b"z".to_vec()));
}

#[test]
fn a_transactions_multi_get_with_an_oversized_key_fails_and_records_nothing() {
    let db = db();
    db.put(b"k", b"1").unwrap();
    let mut txn = db.begin().unwrap();
    let long = vec![b'x'; kvdb::MAX_KEY_LEN + 1];
    let err = txn.get_many(&[b"k".as_slice(), &long]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    // Nothing was read, so a write of the key does not conflict.
    txn.put(b"out", b"x").unwrap();
    db.put(b"k", b"2").unwrap();
    txn.commit().unwrap();
}
