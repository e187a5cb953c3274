//! Cursor positioning: seeks, steps, direction changes and range limits.

use kvdb_core::{Op, Store};

mod common;
use common::put;

fn store_with(keys: &[&[u8]]) -> Store {
    let store = Store::new();
    for k in keys {
        put(&store, k, &[b"v-", *k].concat());
    }
    store
}

#[test]
fn seek_lands_on_first_key_at_or_after() {
    let store = store_with(&[b"b", b"d", b"f"]);
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek(b"c");
    assert_eq!(c.key(), Some(&b"d"[..]));
    assert_eq!(c.value(), Some(&b"v-d"[..]));
    c.seek(b"d");
    assert_eq!(c.key(), Some(&b"d"[..]));
    c.seek(b"g");
    assert!(!c.valid());
    assert_eq!(c.key(), None);
}

#[test]
fn seek_for_prev_lands_on_last_key_at_or_before() {
    let store = store_with(&[b"b", b"d", b"f"]);
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek_for_prev(b"e");
    assert_eq!(c.key(), Some(&b"d"[..]));
    c.seek_for_prev(b"a");
    assert!(!c.valid());
    c.seek_for_prev(b"z");
    assert_eq!(c.key(), Some(&b"f"[..]));
}

#[test]
fn next_and_prev_change_direction_in_place() {
    let store = store_with(&[b"a", b"b", b"c", b"d"]);
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek_to_first();
    c.next();
    c.next();
    assert_eq!(c.key(), Some(&b"c"[..]));
    c.prev();
    assert_eq!(c.key(), Some(&b"b"[..]));
    c.prev();
    assert_eq!(c.key(), Some(&b"a"[..]));
    c.prev();
    assert!(!c.valid());
    c.next(); // no-op on an invalid cursor
    assert!(!c.valid());
    c.seek_to_last();
    assert_eq!(c.key(), Some(&b"d"[..]));
    c.prev();
    c.next();
    assert_eq!(c.key(), Some(&b"d"[..]));
    c.next();
    assert!(!c.valid());
}

#[test]
fn range_limits_bound_every_movement() {
    let store = store_with(&[b"a", b"b", b"c", b"d", b"e"]);
    let mut c = store.snapshot().cursor(&b"b"[..]..&b"d"[..]);
    c.seek_to_first();
    assert_eq!(c.key(), Some(&b"b"[..]));
    c.seek_to_last();
    assert_eq!(c.key(), Some(&b"c"[..]));
    c.seek(b"a");
    assert_eq!(c.key(), Some(&b"b"[..]));
    c.seek_for_prev(b"z");
    assert_eq!(c.key(), Some(&b"c"[..]));
    c.next();
    assert!(!c.valid());
}

#[test]
fn cursor_skips_deleted_and_expired_and_later_writes() {
    let store = store_with(&[b"a", b"b", b"c"]);
    let past = store.now_ms() - 1;
    store
        .write(&[
            Op::Delete { key: b"b" },
            Op::Put {
                key: b"c",
                value: b"x",
                expires_at: Some(past),
            },
        ])
        .unwrap();
    let view = store.snapshot();
    put(&store, b"bb", b"later");
    let mut c = view.cursor::<&[u8]>(..);
    c.seek_to_first();
    let mut keys = Vec::new();
    while c.valid() {
        keys.push(c.key().unwrap().to_vec());
        c.next();
    }
    assert_eq!(keys, vec![b"a".to_vec()]);
}

#[test]
fn cursor_walks_more_keys_than_one_fetch_in_both_directions() {
    let store = Store::new();
    for i in 0..1000u32 {
        put(&store, &i.to_be_bytes(), b"v");
    }
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek_to_first();
    let mut n = 0u32;
    while c.valid() {
        assert_eq!(c.key(), Some(&n.to_be_bytes()[..]));
        n += 1;
        c.next();
    }
    assert_eq!(n, 1000);
    c.seek_to_last();
    while c.valid() {
        n -= 1;
        assert_eq!(c.key(), Some(&n.to_be_bytes()[..]));
        c.prev();
    }
    assert_eq!(n, 0);
}

#[test]
fn cursor_value_stays_readable_while_the_key_is_overwritten_and_collected() {
    let store = store_with(&[b"k"]);
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek_to_first();
    for i in 0..100u32 {
        put(&store, b"k", &i.to_be_bytes());
        store.collect_garbage(usize::MAX);
    }
    store.write(&[Op::Delete { key: b"k" }]).unwrap();
    store.collect_garbage(usize::MAX);
    assert_eq!(c.value(), Some(&b"v-k"[..]));
}
