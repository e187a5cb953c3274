//! Garbage collection: versions no view can see are freed, versions a view
//! can see are kept, and dead keys leave the index.

use kvdb_core::{Op, PreparedBatch, Store};

mod common;
use common::put;

#[test]
fn overwritten_versions_are_freed_when_no_view_needs_them() {
    let store = Store::new();
    for round in 0..10u32 {
        for k in 0..100u32 {
            put(&store, &k.to_be_bytes(), &round.to_be_bytes());
        }
    }
    assert_eq!(store.stats().versions, 1000);
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.versions_reclaimed, 900);
    let stats = store.stats();
    assert_eq!(stats.versions, 100);
    assert_eq!(stats.live_keys, 100);
    assert_eq!(stats.versions_reclaimed, 900);
}

#[test]
fn a_view_keeps_what_it_sees_until_dropped() {
    let store = Store::new();
    put(&store, b"k", b"old");
    let view = store.snapshot();
    put(&store, b"k", b"new");
    put(&store, b"k", b"newer");
    let report = store.collect_garbage(usize::MAX);
    // "new" is invisible to both the view and the present: freed.
    assert_eq!(
        report.versions_reclaimed, 0,
        "the view's base is old; newer ones are above the horizon"
    );
    assert_eq!(view.get(b"k").unwrap(), Some(b"old".to_vec()));
    assert_eq!(store.stats().versions, 3);
    drop(view);
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.versions_reclaimed, 2);
    assert_eq!(store.get(b"k").unwrap(), Some(b"newer".to_vec()));
    assert_eq!(store.gc_pending(), 0);
}

#[test]
fn deleted_keys_leave_the_index_once_no_view_sees_them() {
    let store = Store::new();
    put(&store, b"a", b"1");
    put(&store, b"b", b"2");
    let view = store.snapshot();
    store.write(&[Op::Delete { key: b"a" }]).unwrap();
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.keys_removed, 0);
    assert_eq!(store.stats().keys_held, 2);
    assert_eq!(view.get(b"a").unwrap(), Some(b"1".to_vec()));
    drop(view);
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.keys_removed, 1);
    let stats = store.stats();
    assert_eq!(stats.keys_held, 1);
    assert_eq!(stats.versions, 1);
    assert_eq!(stats.live_keys, 1);
    assert_eq!(store.get(b"a").unwrap(), None);
}

#[test]
fn a_key_written_again_after_its_deletion_is_not_removed() {
    let store = Store::new();
    put(&store, b"a", b"1");
    store.write(&[Op::Delete { key: b"a" }]).unwrap();
    put(&store, b"a", b"2");
    store.collect_garbage(usize::MAX);
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.stats().versions, 1);
}

#[test]
fn deleting_an_absent_key_stores_nothing() {
    let store = Store::new();
    store.write(&[Op::Delete { key: b"never" }]).unwrap();
    let stats = store.stats();
    assert_eq!(stats.keys_held, 0);
    assert_eq!(stats.versions, 0);
    assert_eq!(stats.deletes, 1);
}

#[test]
fn bytes_held_return_to_baseline_after_everything_is_deleted() {
    let store = Store::new();
    for k in 0..500u32 {
        put(&store, &k.to_be_bytes(), &[7; 100]);
    }
    assert!(store.stats().bytes >= 500 * 104);
    for k in 0..500u32 {
        store
            .write(&[Op::Delete {
                key: &k.to_be_bytes(),
            }])
            .unwrap();
    }
    store.collect_garbage(usize::MAX);
    let stats = store.stats();
    assert!(
        stats.bytes <= 16 * 16,
        "only the empty hash table's 16 slots of 16 bytes remain: {}",
        stats.bytes
    );
    assert_eq!(stats.versions, 0);
    assert_eq!(stats.keys_held, 0);
    assert_eq!(stats.keys_removed, 500);
}

#[test]
fn restored_entries_share_one_sequence_and_writes_continue_after_it() {
    let store = Store::new();
    let mut writer = store.writer().unwrap();
    let ops: Vec<Op<'_>> = [&b"a"[..], b"b", b"c"]
        .iter()
        .map(|k| Op::Put {
            key: k,
            value: b"v",
            expires_at: None,
        })
        .collect();
    let first = PreparedBatch::new(&ops[..2]).unwrap();
    let second = PreparedBatch::new(&ops[2..]).unwrap();
    assert_eq!(writer.restore(100, &first).unwrap().last(), 100);
    let applied = writer.restore(100, &second).unwrap();
    assert_eq!(writer.next_seq(), 101);
    assert_eq!(writer.latest_seq(b"c"), Some(100));
    assert!(
        writer
            .restore(50, &PreparedBatch::new(&ops).unwrap())
            .is_err(),
        "restoring below the applied sequence"
    );
    drop(writer);
    store.publish(applied);
    assert_eq!(store.snapshot().iter().count(), 3);
    let last = store.write(&[Op::Delete { key: b"a" }]).unwrap();
    assert_eq!(last, 101);
}

#[test]
fn the_writer_collects_under_its_own_lock_and_removes_dead_keys() {
    let store = Store::new();
    put(&store, b"a", b"1");
    put(&store, b"a", b"2");
    store.write(&[Op::Delete { key: b"b" }]).unwrap();
    put(&store, b"c", b"3");
    store.write(&[Op::Delete { key: b"c" }]).unwrap();
    let mut writer = store.writer().unwrap();
    // Taking the lock again would deadlock: the pass uses this one.
    let report = store
        .collect_garbage_under(&mut writer, usize::MAX)
        .unwrap();
    assert_eq!(report.keys_removed, 1, "{report:?}");
    assert_eq!(report.versions_reclaimed, 2, "{report:?}");
    // Another store's lock does not protect this store's index.
    let other = Store::new();
    put(&other, b"x", b"1");
    put(&other, b"x", b"2");
    assert!(
        other
            .collect_garbage_under(&mut writer, usize::MAX)
            .is_none()
    );
    assert_eq!(other.gc_pending(), 1);
    drop(writer);
    assert_eq!(store.stats().keys_held, 1);
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
}
