//! Loading sorted keys into an empty store (`Writer::load_sorted`, how a
//! snapshot is opened): every key reaches both point reads and scans, the
//! counters match a load key by key, and bad input is refused with the
//! store left consistent.

use kvdb_core::{CoreError, Op, PreparedBatch, Store, Tracking};

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

fn puts<'a>(keys: &'a [Vec<u8>], values: &'a [Vec<u8>]) -> Vec<Op<'a>> {
    keys.iter()
        .zip(values)
        .map(|(k, v)| Op::Put {
            key: k,
            value: v,
            expires_at: None,
        })
        .collect()
}

/// Every key a point read finds, a scan finds too, in order, and the
/// reverse.
fn assert_consistent(store: &Store) {
    let view = store.snapshot();
    let forward: Vec<(Vec<u8>, Vec<u8>)> = view.iter().collect();
    let mut backward: Vec<(Vec<u8>, Vec<u8>)> = view.iter().rev().collect();
    backward.reverse();
    assert_eq!(forward, backward, "the scans in either direction differ");
    assert!(
        forward.windows(2).all(|w| w[0].0 < w[1].0),
        "scan out of order"
    );
    for (k, v) in &forward {
        assert_eq!(
            view.get(k).unwrap().as_ref(),
            Some(v),
            "scan and get differ"
        );
    }
    assert_eq!(store.stats().live_keys, forward.len() as u64);
}

#[test]
fn a_sorted_load_reaches_gets_and_scans_in_both_directions() {
    // More keys than one hand-off to the linking thread, and not a multiple.
    let n = 10_000 + 7;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let values: Vec<Vec<u8>> = (0..n).map(value).collect();
    let store = Store::new();
    let mut writer = store.writer().unwrap();
    writer.reserve(keys.len());
    let applied = writer.load_sorted(40, puts(&keys, &values)).unwrap();
    assert_eq!(applied.last(), 40);
    assert_eq!(writer.next_seq(), 41);
    drop(writer);
    store.publish(applied);
    assert_consistent(&store);
    let view = store.snapshot();
    assert_eq!(view.iter().count(), n as usize);
    assert_eq!(view.get(&key(5000)).unwrap(), Some(value(5000)));
    assert_eq!(view.range(key(100)..key(103)).count(), 3);
    // Writes continue after the loaded sequence number.
    assert_eq!(store.write(&[Op::Delete { key: &key(3) }]).unwrap(), 41);
    assert_eq!(store.get(&key(3)).unwrap(), None);
    assert_eq!(
        store
            .write(&puts(&[b"a".to_vec()], &[b"b".to_vec()]))
            .unwrap(),
        42
    );
    assert_consistent(&store);
}

#[test]
fn a_sorted_load_counts_what_a_restore_counts() {
    let keys: Vec<Vec<u8>> = (0..3000).map(key).collect();
    let values: Vec<Vec<u8>> = (0..3000).map(value).collect();
    let ops = puts(&keys, &values);
    let loaded = Store::new();
    let applied = loaded
        .writer()
        .unwrap()
        .load_sorted(9, ops.iter().copied())
        .unwrap();
    loaded.publish(applied);
    let restored = Store::new();
    let batch = PreparedBatch::new(&ops).unwrap();
    let applied = restored.writer().unwrap().restore(9, &batch).unwrap();
    restored.publish(applied);
    let (a, b) = (loaded.stats(), restored.stats());
    assert_eq!(
        (a.live_keys, a.keys_held, a.versions, a.bytes, a.puts),
        (b.live_keys, b.keys_held, b.versions, b.bytes, b.puts)
    );
    assert_eq!(loaded.memory_used(), restored.memory_used());
}

/// Loads `keys` (each with a value) into a new store at sequence 1,
/// expecting the load to fail: the store and the error.
fn failed_load(keys: &[Vec<u8>]) -> (Store, CoreError) {
    let values: Vec<Vec<u8>> = (0..keys.len() as u32).map(value).collect();
    let store = Store::new();
    let err = store
        .writer()
        .unwrap()
        .load_sorted(1, puts(keys, &values))
        .unwrap_err();
    (store, err)
}

#[test]
fn keys_out_of_order_stop_the_load_with_what_came_before_it_consistent() {
    let keys: Vec<Vec<u8>> = [5, 6, 7, 3, 8].into_iter().map(key).collect();
    let (store, err) = failed_load(&keys);
    assert_eq!(err, CoreError::LoadOutOfOrder { position: 3 });
    let mut writer = store.writer().unwrap();
    assert_eq!(writer.next_seq(), 1, "a failed load took a sequence number");
    // What was loaded is there, consistently, once a later write publishes.
    let ops = [Op::Put {
        key: b"z",
        value: b"v",
        expires_at: None,
    }];
    let batch = PreparedBatch::new(&ops).unwrap();
    let range = writer.assign(&batch).unwrap();
    let applied = writer.apply(&batch, range).unwrap();
    drop(writer);
    store.publish(applied);
    assert_consistent(&store);
    let held: Vec<Vec<u8>> = store.snapshot().iter().map(|(k, _)| k).collect();
    assert_eq!(held, vec![key(5), key(6), key(7), b"z".to_vec()]);
}

#[test]
fn a_repeated_key_is_out_of_order() {
    let (store, err) = failed_load(&[key(1), key(2), key(2)]);
    assert_eq!(err, CoreError::LoadOutOfOrder { position: 2 });
    assert_eq!(store.stats().keys_held, 2);
}

#[test]
fn an_oversized_key_stops_the_load() {
    let (store, err) = failed_load(&[key(1), vec![b'k'; kvdb_core::MAX_KEY_LEN + 1]]);
    assert_eq!(
        err,
        CoreError::KeyTooLarge {
            len: kvdb_core::MAX_KEY_LEN + 1
        }
    );
    assert_eq!(store.stats().keys_held, 1);
}

#[test]
fn a_store_that_holds_keys_refuses_a_sorted_load() {
    let store = Store::new();
    store.write(&puts(&[key(1)], &[value(1)])).unwrap();
    let keys = vec![key(0), key(2)];
    let values = vec![value(0), value(2)];
    let mut writer = store.writer().unwrap();
    let next = writer.next_seq();
    let err = writer.load_sorted(next, puts(&keys, &values)).unwrap_err();
    assert_eq!(err, CoreError::LoadIntoNonEmptyStore);
    drop(writer);
    assert_eq!(store.stats().keys_held, 1);
    assert_eq!(store.get(&key(0)).unwrap(), None);
}

#[test]
fn a_load_below_the_applied_sequence_is_refused() {
    let store = Store::new();
    store.write(&puts(&[key(1)], &[value(1)])).unwrap();
    store.write(&[Op::Delete { key: &key(1) }]).unwrap();
    let err = store
        .writer()
        .unwrap()
        .load_sorted(0, Vec::new())
        .unwrap_err();
    assert_eq!(
        err,
        CoreError::SequenceRegression {
            expected: 3,
            got: 0
        }
    );
}

#[test]
fn deletes_in_a_load_find_nothing_and_loaded_expiry_times_are_kept() {
    let ops = [
        Op::Delete { key: b"a" },
        Op::Put {
            key: b"b",
            value: b"1",
            expires_at: Some(u64::MAX / 2),
        },
        Op::Put {
            key: b"c",
            value: b"2",
            expires_at: Some(1),
        },
    ];
    let store = Store::new();
    let applied = store.writer().unwrap().load_sorted(3, ops).unwrap();
    store.publish(applied);
    let stats = store.stats();
    assert_eq!((stats.deletes, stats.puts, stats.keys_held), (1, 2, 2));
    assert_eq!(store.get(b"b").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get(b"c").unwrap(), None, "expired at 1 ms");
}

#[test]
fn loaded_keys_carry_the_access_words_given_and_the_others_a_writes() {
    let store = Store::new();
    store.set_tracking(Tracking::Lru);
    let put = |key| Op::Put {
        key,
        value: b"v",
        expires_at: None,
    };
    let ops = [
        (put(b"a"), Some(77)),
        (put(b"b"), None),
        (put(b"c"), Some(0)),
    ];
    let applied = store
        .writer()
        .unwrap()
        .load_sorted_with_access(3_200, ops)
        .unwrap();
    store.publish(applied);
    let view = store.snapshot();
    let mut cursor = view.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    let mut words = Vec::new();
    while let Some(key) = cursor.key() {
        words.push((key.to_vec(), cursor.access().unwrap()));
        cursor.next();
    }
    // A write at 3,200 stamps 3,200 / LRU_UNIT.
    let written = (3_200 / kvdb_core::LRU_UNIT) as u32;
    assert_eq!(
        words,
        vec![
            (b"a".to_vec(), 77),
            (b"b".to_vec(), written),
            (b"c".to_vec(), 0)
        ]
    );
}
