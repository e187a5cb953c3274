//! Index queries inside transactions: they see the transaction's own
//! writes, and what they looked at counts for commit validation, so a
//! transaction that found records through an index conflicts with writes
//! that change what it found.

use std::ops::Bound;

use kvdb::{Db, ErrorKind, IndexDef, IndexQuery, Options};

fn db() -> Db {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.create_index(IndexDef::json_field("by_city", "city").unwrap())
        .unwrap();
    db
}

fn rec(city: &str, n: u32) -> Vec<u8> {
    format!(r#"{{"city": "{city}", "n": {n}}}"#).into_bytes()
}

fn city(c: &str) -> Vec<u8> {
    format!("{c:?}").into_bytes()
}

fn found(iter: impl Iterator<Item = kvdb::IndexEntry>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|e| (e.key, e.value)).collect()
}

#[test]
fn a_transaction_index_query_sees_its_own_puts_updates_and_deletes() {
    let db = db();
    db.put(b"a", &rec("oslo", 1)).unwrap();
    db.put(b"b", &rec("oslo", 2)).unwrap();
    db.put(b"c", &rec("rome", 3)).unwrap();
    db.put(b"d", &rec("oslo", 4)).unwrap();
    let mut txn = db.begin().unwrap();
    txn.delete(b"a").unwrap();
    txn.put(b"b", &rec("oslo", 20)).unwrap(); // same index key, new value
    txn.put(b"c", &rec("oslo", 30)).unwrap(); // moves into the query
    txn.put(b"d", &rec("rome", 40)).unwrap(); // moves out of it
    txn.put(b"e", &rec("oslo", 50)).unwrap(); // new record
    let oslo = city("oslo");
    let expected = vec![
        (b"b".to_vec(), rec("oslo", 20)),
        (b"c".to_vec(), rec("oslo", 30)),
        (b"e".to_vec(), rec("oslo", 50)),
    ];
    assert_eq!(
        found(txn.index("by_city", IndexQuery::Equal(&oslo)).unwrap()),
        expected
    );
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(
        found(
            txn.index("by_city", IndexQuery::Equal(&oslo))
                .unwrap()
                .rev()
        ),
        reversed
    );
    // Both ends at once meet in the middle without losing or repeating.
    let mut both = txn.index("by_city", IndexQuery::All).unwrap();
    let first = both.next().unwrap();
    let last = both.next_back().unwrap();
    let middle: Vec<_> = both.map(|e| e.key).collect();
    assert_eq!(first.key, b"b");
    assert_eq!(last.key, b"d", "rome sorts after oslo");
    assert_eq!(middle, vec![b"c".to_vec(), b"e".to_vec()]);
    // Outside the transaction nothing changed.
    assert_eq!(
        db.index("by_city", IndexQuery::Equal(&oslo))
            .unwrap()
            .map(|e| e.key)
            .collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]
    );
    txn.commit().unwrap();
    assert_eq!(
        found(db.index("by_city", IndexQuery::Equal(&oslo)).unwrap()),
        expected
    );
}

#[test]
fn a_record_joining_a_queried_index_range_after_begin_is_a_conflict() {
    let db = db();
    db.put(b"a", &rec("oslo", 1)).unwrap();
    let mut txn = db.begin().unwrap();
    let lima = city("lima");
    assert_eq!(
        txn.index("by_city", IndexQuery::Equal(&lima))
            .unwrap()
            .count(),
        0
    );
    txn.put(b"only-lima-record", &rec("lima", 1)).unwrap();
    // Another writer adds a lima record: the transaction's "there is none"
    // is no longer true.
    db.put(b"z", &rec("lima", 2)).unwrap();
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(db.get(b"only-lima-record").unwrap().is_none());
}

#[test]
fn a_record_found_through_an_index_and_changed_after_begin_is_a_conflict() {
    let db = db();
    db.put(b"a", &rec("oslo", 1)).unwrap();
    let mut txn = db.begin().unwrap();
    let oslo = city("oslo");
    let total: usize = txn
        .index("by_city", IndexQuery::Equal(&oslo))
        .unwrap()
        .map(|e| e.value.len())
        .sum();
    txn.put(b"total", total.to_string().as_bytes()).unwrap();
    // The record keeps its index key (its entry is not rewritten) but its
    // value changes.
    db.put(b"a", &rec("oslo", 1000)).unwrap();
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

#[test]
fn writes_outside_the_queried_index_range_do_not_conflict() {
    let db = db();
    db.put(b"a", &rec("oslo", 1)).unwrap();
    db.put(b"r", &rec("rome", 1)).unwrap();
    let mut txn = db.begin().unwrap();
    let (lo, hi) = (city("a"), city("p"));
    let q = IndexQuery::Range(Bound::Included(&lo), Bound::Excluded(&hi));
    assert_eq!(txn.index("by_city", q).unwrap().count(), 1);
    txn.put(b"seen", b"1").unwrap();
    db.put(b"r", &rec("rome", 2)).unwrap();
    db.put(b"s", &rec("sofia", 2)).unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_transaction_cannot_query_an_index_completed_after_it_began() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    let txn = db.begin().unwrap();
    db.put(b"a", &rec("oslo", 1)).unwrap();
    db.create_index(IndexDef::json_field("late", "city").unwrap())
        .unwrap();
    let err = txn.index("late", IndexQuery::All).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("after this view"), "{err}");
}
