//! What commit validation reads from the store: for the hashes of keys a
//! transaction read or wrote, the first key written after its read view,
//! found through the hash index whether the key existed at the view or not.

use kvdb_core::{Op, PreparedBatch, Store};

fn put(store: &Store, key: &[u8]) {
    store
        .write(&[Op::Put {
            key,
            value: b"v",
            expires_at: None,
        }])
        .unwrap();
}

#[test]
fn a_key_written_after_the_view_is_found_by_its_hash() {
    let store = Store::new();
    put(&store, b"a");
    let view = store.snapshot();
    let (found, hash) = view.get_hashed_with(b"a", |v| v.is_some()).unwrap();
    assert!(found);
    assert_eq!(hash, view.key_hash(b"a"));
    let writer = store.writer().unwrap();
    assert_eq!(writer.first_written_after([hash], view.seq()), None);
    drop(writer);
    put(&store, b"a");
    let writer = store.writer().unwrap();
    assert_eq!(
        writer.first_written_after([hash], view.seq()),
        Some((b"a".to_vec(), 2))
    );
}

#[test]
fn a_key_read_as_absent_and_inserted_later_is_found() {
    let store = Store::new();
    put(&store, b"other");
    let view = store.snapshot();
    let (found, hash) = view.get_hashed_with(b"ghost", |v| v.is_some()).unwrap();
    assert!(!found);
    let writer = store.writer().unwrap();
    assert_eq!(writer.first_written_after([hash], view.seq()), None);
    drop(writer);
    put(&store, b"ghost");
    let writer = store.writer().unwrap();
    assert_eq!(
        writer.first_written_after([hash], view.seq()),
        Some((b"ghost".to_vec(), 2))
    );
}

#[test]
fn a_deletion_after_the_view_counts_and_other_keys_do_not() {
    let store = Store::new();
    put(&store, b"a");
    put(&store, b"b");
    let view = store.snapshot();
    let hashes = [view.key_hash(b"a"), view.key_hash(b"c")];
    put(&store, b"b");
    put(&store, b"d");
    let writer = store.writer().unwrap();
    assert_eq!(writer.first_written_after(hashes, view.seq()), None);
    drop(writer);
    store.write(&[Op::Delete { key: b"a" }]).unwrap();
    let writer = store.writer().unwrap();
    assert_eq!(
        writer.first_written_after(hashes, view.seq()),
        Some((b"a".to_vec(), 5))
    );
}

fn put_batch(key: &[u8]) -> [Op<'_>; 1] {
    [Op::Put {
        key,
        value: b"new",
        expires_at: None,
    }]
}

#[test]
fn located_chains_validate_the_written_keys_and_then_apply() {
    let store = Store::new();
    put(&store, b"a");
    let view = store.snapshot();
    put(&store, b"a");
    let ops = [
        Op::Put {
            key: b"a",
            value: b"x",
            expires_at: None,
        },
        Op::Put {
            key: b"fresh",
            value: b"y",
            expires_at: None,
        },
    ];
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let located = writer.locate(&batch);
    assert_eq!(
        located.hashes(),
        [view.key_hash(b"a"), view.key_hash(b"fresh")]
    );
    assert_eq!(
        writer.first_located_written_after(&located, view.seq()),
        Some((b"a".to_vec(), 2))
    );
    assert_eq!(writer.first_located_written_after(&located, 2), None);
    let range = writer.assign(&batch).unwrap();
    let applied = writer.apply_located(&batch, range, located).unwrap();
    drop(writer);
    store.publish(applied);
    assert_eq!(store.get(b"a").unwrap(), Some(b"x".to_vec()));
    assert_eq!(store.get(b"fresh").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn chains_located_under_an_earlier_hold_of_the_lock_are_not_used() {
    let store = Store::new();
    put(&store, b"a");
    let ops = put_batch(b"a");
    let batch = PreparedBatch::new(&ops).unwrap();
    let stale = store.writer().unwrap().locate(&batch);
    // The key's chain leaves the index: deleted, and collected with no
    // view open.
    store.write(&[Op::Delete { key: b"a" }]).unwrap();
    assert_eq!(store.collect_garbage(usize::MAX).keys_removed, 1);
    let mut writer = store.writer().unwrap();
    let range = writer.assign(&batch).unwrap();
    let applied = writer.apply_located(&batch, range, stale).unwrap();
    drop(writer);
    store.publish(applied);
    assert_eq!(store.get(b"a").unwrap(), Some(b"new".to_vec()));
}

#[test]
fn chains_located_before_the_writer_collects_under_its_own_lock_are_not_used() {
    let store = Store::new();
    put(&store, b"a");
    store.write(&[Op::Delete { key: b"a" }]).unwrap();
    let ops = put_batch(b"a");
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let located = writer.locate(&batch);
    // The same hold of the lock collects the dead key's chain (as a write
    // at the memory limit does before refusing).
    let report = store
        .collect_garbage_under(&mut writer, usize::MAX)
        .unwrap();
    assert_eq!(report.keys_removed, 1);
    let range = writer.assign(&batch).unwrap();
    let applied = writer.apply_located(&batch, range, located).unwrap();
    drop(writer);
    store.publish(applied);
    assert_eq!(store.get(b"a").unwrap(), Some(b"new".to_vec()));
    assert_eq!(store.stats().keys_held, 1);
}

#[test]
fn chains_located_for_another_batch_are_not_used() {
    let store = Store::new();
    put(&store, b"a");
    put(&store, b"b");
    let ops_a = put_batch(b"a");
    let ops_b = put_batch(b"b");
    let (batch_a, batch_b) = (
        PreparedBatch::new(&ops_a).unwrap(),
        PreparedBatch::new(&ops_b).unwrap(),
    );
    let mut writer = store.writer().unwrap();
    let located_a = writer.locate(&batch_a);
    let range = writer.assign(&batch_b).unwrap();
    let applied = writer.apply_located(&batch_b, range, located_a).unwrap();
    drop(writer);
    store.publish(applied);
    assert_eq!(store.get(b"a").unwrap(), Some(b"v".to_vec()), "a untouched");
    assert_eq!(store.get(b"b").unwrap(), Some(b"new".to_vec()));
}
