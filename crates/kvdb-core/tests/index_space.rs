//! The index key space: writes to it ride a batch's sequence numbers, are
//! seen only by views of that space, and are collected and expired like
//! users' keys without being counted as theirs.

use std::sync::Arc;

use kvdb_core::{ExpireConfig, IndexOp, ManualClock, Op, PreparedBatch, Space, Store};

fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Op<'a> {
    Op::Put {
        key,
        value,
        expires_at: None,
    }
}

/// Writes `ops` with `index_ops` as one batch and publishes it.
fn write(store: &Store, ops: &[Op<'_>], index_ops: &[IndexOp<'_>]) -> u64 {
    let batch = PreparedBatch::new(ops)
        .unwrap()
        .with_index_ops(index_ops)
        .unwrap();
    let mut writer = store.writer().unwrap();
    let range = writer.assign(&batch).unwrap();
    let applied = writer.apply(&batch, range).unwrap();
    drop(writer);
    store.publish(applied);
    range.last()
}

fn index_keys(store: &Store) -> Vec<Vec<u8>> {
    store
        .snapshot()
        .in_space(Space::Index)
        .iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn index_writes_become_visible_with_their_batch_and_only_in_their_space() {
    let store = Store::new();
    let before = store.snapshot();
    write(
        &store,
        &[put(b"k", b"v")],
        &[IndexOp {
            at: 0,
            op: put(b"k", b""),
        }],
    );
    assert_eq!(index_keys(&store), vec![b"k".to_vec()]);
    assert_eq!(
        before.in_space(Space::Index).iter().count(),
        0,
        "an older view sees no entry"
    );
    let users: Vec<_> = store.snapshot().iter().collect();
    assert_eq!(
        users,
        vec![(b"k".to_vec(), b"v".to_vec())],
        "the same bytes in two spaces are two keys"
    );
    let stats = store.stats();
    assert_eq!((stats.live_keys, stats.keys_held, stats.puts), (1, 1, 1));
    assert_eq!(stats.index_entries, 1);
    assert!(stats.index_bytes > 0);
}

#[test]
fn an_index_write_takes_the_sequence_number_of_its_operation() {
    let store = Store::new();
    let last = write(
        &store,
        &[put(b"a", b"1"), put(b"b", b"2")],
        &[
            IndexOp {
                at: 0,
                op: put(b"ia", b""),
            },
            IndexOp {
                at: 1,
                op: put(b"ib", b""),
            },
        ],
    );
    assert_eq!(last, 2, "index writes take no numbers of their own");
    let writer = store.writer().unwrap();
    assert_eq!(writer.next_seq(), 3);
    assert!(writer.read_in(Space::Index, b"ia", |v| v.is_some()));
    assert!(!writer.read_in(Space::User, b"ia", |v| v.is_some()));
    assert_eq!(
        writer.first_changed_since_in(
            Space::Index,
            (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
            1
        ),
        Some(b"ib".to_vec()),
        "ia was written at 1, ib at 2"
    );
}

#[test]
fn index_operations_must_follow_the_batch_in_order() {
    let ops = [put(b"a", b"1"), put(b"b", b"2")];
    let batch = PreparedBatch::new(&ops).unwrap();
    let past_end = [IndexOp {
        at: 2,
        op: put(b"i", b""),
    }];
    assert!(batch.with_index_ops(&past_end).is_err());
    let backwards = [
        IndexOp {
            at: 1,
            op: put(b"i", b""),
        },
        IndexOp {
            at: 0,
            op: put(b"j", b""),
        },
    ];
    assert!(batch.with_index_ops(&backwards).is_err());
}

#[test]
fn deleted_index_entries_are_collected_and_uncounted() {
    let store = Store::new();
    write(
        &store,
        &[put(b"k", b"v")],
        &[IndexOp {
            at: 0,
            op: put(b"e", b""),
        }],
    );
    write(
        &store,
        &[Op::Delete { key: b"k" }],
        &[IndexOp {
            at: 0,
            op: Op::Delete { key: b"e" },
        }],
    );
    assert!(index_keys(&store).is_empty());
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.keys_removed, 2, "the record and its entry both left");
    let stats = store.stats();
    assert_eq!(stats.index_entries, 0);
    assert_eq!(
        stats.keys_removed, 1,
        "only users' keys are counted as removed"
    );
    assert_eq!(stats.versions, 0);
    // What is left is the empty hash table of the index space.
    let empty = Store::new().stats().index_bytes;
    assert_eq!(stats.index_bytes, empty);
}

#[test]
fn index_entries_expire_with_their_records() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = Store::with_clock(clock.clone());
    let at = Some(store.deadline(100).unwrap());
    write(
        &store,
        &[Op::Put {
            key: b"k",
            value: b"v",
            expires_at: at,
        }],
        &[IndexOp {
            at: 0,
            op: Op::Put {
                key: b"e",
                value: b"",
                expires_at: at,
            },
        }],
    );
    assert_eq!(index_keys(&store).len(), 1);
    clock.advance(100);
    assert!(index_keys(&store).is_empty());
    assert_eq!(store.get(b"k").unwrap(), None);
    let report = store.active_expire_cycle(&ExpireConfig::default());
    assert_eq!(report.reclaimed, 2);
    let stats = store.stats();
    assert_eq!(
        (
            stats.index_entries,
            stats.expired_reclaimed,
            stats.live_keys
        ),
        (0, 1, 0)
    );
}

#[test]
fn an_expiry_cycle_ends_when_the_expired_entries_it_finds_are_kept_for_a_view() {
    // An expired index entry an open view may still read is kept. A cycle
    // that finds only such entries can reclaim nothing more by sampling
    // again: it must end, not sample until its time budget is spent (the
    // background thread runs a cycle ten times a second).
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = Store::with_clock(clock.clone());
    let at = Some(store.deadline(100).unwrap());
    let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'e', i]).collect();
    let index_ops: Vec<IndexOp<'_>> = entries
        .iter()
        .map(|key| IndexOp {
            at: 0,
            op: Op::Put {
                key,
                value: b"",
                expires_at: at,
            },
        })
        .collect();
    write(&store, &[put(b"k", b"v")], &index_ops);
    let view = store.snapshot();
    clock.advance(100);
    let config = ExpireConfig {
        time_budget: std::time::Duration::from_secs(1),
        ..ExpireConfig::default()
    };
    let report = store.active_expire_cycle(&config);
    assert_eq!(report.reclaimed, 0, "{report:?}");
    assert!(report.rounds <= 2, "{report:?}");
    drop(view);
    let report = store.active_expire_cycle(&config);
    assert_eq!(report.reclaimed, 10, "{report:?}");
}

#[test]
fn installed_entries_sit_at_the_newest_applied_number() {
    let store = Store::new();
    write(&store, &[put(b"a", b"1")], &[]);
    let view = store.snapshot();
    let mut writer = store.writer().unwrap();
    writer.install_index_entries(&[put(b"e", b"")]).unwrap();
    assert_eq!(writer.next_seq(), 2, "installing takes no number");
    drop(writer);
    assert_eq!(
        view.in_space(Space::Index).iter().count(),
        1,
        "a view at the newest number sees the entries"
    );
}

#[test]
fn writer_lists_live_keys_of_a_space_in_range() {
    let store = Store::new();
    write(
        &store,
        &[put(b"a", b"1"), put(b"b", b"1")],
        &[
            IndexOp {
                at: 0,
                op: put(b"x1", b""),
            },
            IndexOp {
                at: 1,
                op: put(b"x2", b""),
            },
        ],
    );
    write(
        &store,
        &[put(b"c", b"")],
        &[IndexOp {
            at: 0,
            op: Op::Delete { key: b"x1" },
        }],
    );
    let writer = store.writer().unwrap();
    let mut seen = Vec::new();
    writer.for_each_live_in(
        Space::Index,
        (
            std::ops::Bound::Included(&b"x"[..]),
            std::ops::Bound::Unbounded,
        ),
        |k| {
            seen.push(k.to_vec());
            true
        },
    );
    assert_eq!(seen, vec![b"x2".to_vec()]);
}

#[test]
fn index_keys_may_be_longer_than_a_user_key() {
    // An index entry key embeds a primary key of up to MAX_KEY_LEN bytes
    // after the index key, so it may pass the user key limit.
    let store = Store::new();
    let user_key = vec![b'k'; kvdb_core::MAX_KEY_LEN];
    let mut entry_key = b"\0\0\0\x01index-key\0\x01".to_vec();
    entry_key.extend_from_slice(&user_key);
    let ops = [put(&user_key, b"v")];
    write(
        &store,
        &ops,
        &[IndexOp {
            at: 0,
            op: put(&entry_key, b""),
        }],
    );
    assert_eq!(index_keys(&store), vec![entry_key]);
}
