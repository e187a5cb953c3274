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

/// The positions a cursor has read ahead hold no reference counts: they
/// stay readable because the cursor's view keeps their keys in the index.
/// Deleting, overwriting, collecting and reordering the keys ahead of the
/// cursor at every step changes nothing it reads.
#[test]
fn positions_read_ahead_stay_readable_while_their_keys_are_deleted_and_collected() {
    let store = Store::new();
    for i in 0..300 {
        put(&store, &key_of(i), &key_of(i + 1000));
    }
    let view = store.snapshot();
    let mut cursor = view.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    let mut i = 0;
    while cursor.valid() {
        assert_eq!(cursor.key(), Some(key_of(i).as_slice()));
        for j in i..(i + 40).min(300) {
            if j % 3 == 0 {
                put(&store, &key_of(j), b"later");
            } else {
                store.write(&[Op::Delete { key: &key_of(j) }]).unwrap();
            }
        }
        store.collect_garbage(usize::MAX);
        if i % 100 == 0 {
            store.reorder(usize::MAX).unwrap();
        }
        assert_eq!(cursor.key(), Some(key_of(i).as_slice()));
        assert_eq!(cursor.value(), Some(key_of(i + 1000).as_slice()));
        cursor.next();
        i += 1;
    }
    assert_eq!(i, 300);
    drop(cursor);
    drop(view);
    store.collect_garbage(usize::MAX);
    assert_eq!(forward_keys(&store).len(), 100, "the deleted keys leave");
}

/// A batch borrows its pairs from the store for as long as the cursor is
/// borrowed: deleting or overwriting, collecting and reordering every key
/// of the batch before its pairs are read changes none of them, in either
/// direction.
#[test]
fn pairs_a_batch_borrows_stay_readable_while_their_keys_are_deleted_and_collected() {
    let store = Store::new();
    for i in 0..300 {
        put(&store, &key_of(i), &key_of(i + 1000));
    }
    let view = store.snapshot();
    let mut cursor = view.cursor::<&[u8]>(..);
    for forward in [true, false] {
        if forward {
            cursor.seek_to_first();
        } else {
            cursor.seek_to_last();
        }
        let mut pairs = Vec::new();
        let taken = cursor.take_batch(forward, 250, |k, v| {
            pairs.push((k, v));
            true
        });
        assert_eq!(taken, 250);
        for i in 0..300 {
            if i % 3 == 0 {
                put(&store, &key_of(i), &key_of(i + 2000));
            } else {
                store.write(&[Op::Delete { key: &key_of(i) }]).unwrap();
            }
        }
        store.collect_garbage(usize::MAX);
        store.reorder(usize::MAX).unwrap();
        for i in 0..300 {
            put(&store, &key_of(i), &key_of(i + 3000));
        }
        for (n, (k, v)) in pairs.into_iter().enumerate() {
            let i = if forward { n as u64 } else { 299 - n as u64 };
            assert_eq!(k, key_of(i).as_slice());
            assert_eq!(v, key_of(i + 1000).as_slice());
        }
    }
}

/// Read-aheads take 4, 8, 16 and then 32 keys: a range that ends on,
/// before or after any of those boundaries, by running out of keys or at
/// its upper bound, is walked to its last key and no further.
#[test]
fn steps_end_exactly_where_the_range_ends_at_every_read_ahead_boundary() {
    let store = Store::new();
    for i in 0..200u32 {
        put(&store, &i.to_be_bytes(), &i.to_le_bytes());
    }
    let snapshot = store.snapshot();
    for end in 0..=130u32 {
        let mut bounded = snapshot.cursor(..end.to_be_bytes().to_vec());
        bounded.seek_to_first();
        let mut n = 0u32;
        while bounded.valid() {
            assert_eq!(bounded.key(), Some(&n.to_be_bytes()[..]), "range ..{end}");
            assert_eq!(bounded.value(), Some(&n.to_le_bytes()[..]), "range ..{end}");
            n += 1;
            bounded.next();
        }
        assert_eq!(n, end, "a walk of the range ..{end} took {n} keys");
        bounded.next();
        assert!(
            !bounded.valid(),
            "a step past the end of ..{end} stays invalid"
        );
    }
    for len in 0..=130u32 {
        let keys = Store::new();
        for i in 0..len {
            put(&keys, &i.to_be_bytes(), b"v");
        }
        let walked = forward_keys(&keys);
        let want: Vec<Vec<u8>> = (0..len).map(|i| i.to_be_bytes().to_vec()).collect();
        assert_eq!(walked, want, "a store of {len} keys");
    }
}

/// A cursor made from a view it consumes holds that view's registration,
/// and gives it up when dropped; one made from a borrowed view holds its
/// own.
#[test]
fn a_cursor_that_takes_its_view_registers_it_once() {
    let store = store_with(&[b"a", b"b"]);
    assert_eq!(store.stats().open_views, 0);
    let mut taken = store.snapshot().into_cursor::<&[u8]>(..);
    assert_eq!(store.stats().open_views, 1, "the view handed to the cursor");
    taken.seek_to_first();
    assert_eq!(taken.key(), Some(&b"a"[..]));
    let view = store.snapshot();
    let borrowed = view.cursor::<&[u8]>(..);
    assert_eq!(store.stats().open_views, 3, "a view and a cursor's own");
    drop(view);
    drop(borrowed);
    assert_eq!(store.stats().open_views, 1);
    drop(taken);
    assert_eq!(store.stats().open_views, 0);
}

/// An iterator made from a view it takes registers nothing more while it is
/// read from one end, and keeps that registration until it is dropped: its
/// first end's cursor takes the view, and only a second end registers one
/// of its own (given back when the ends meet).
#[test]
fn an_iterator_that_takes_its_view_registers_it_once() {
    let store = store_with(&[b"a", b"b", b"c", b"d"]);
    let mut iter = store.snapshot().into_range::<&[u8]>(..);
    assert_eq!(
        store.stats().open_views,
        1,
        "the view handed to the iterator"
    );
    assert_eq!(iter.next().map(|(k, _)| k), Some(b"a".to_vec()));
    assert_eq!(
        store.stats().open_views,
        1,
        "the front end's cursor holds it"
    );
    assert_eq!(iter.next_back().map(|(k, _)| k), Some(b"d".to_vec()));
    assert_eq!(store.stats().open_views, 2, "the back end's own");
    let seq = iter.view().seq();
    let rest: Vec<Vec<u8>> = iter.by_ref().map(|(k, _)| k).collect();
    assert_eq!(rest, [b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(store.stats().open_views, 1, "the ends met: one view kept");
    assert_eq!(iter.view().seq(), seq, "the view the iterator read");
    drop(iter);
    assert_eq!(store.stats().open_views, 0);

    let view = store.snapshot();
    let prefixed: Vec<Vec<u8>> = view.prefix(b"c").map(|(k, _)| k).collect();
    assert_eq!(prefixed, [b"c".to_vec()]);
    let mut taken = view.into_prefix(b"b");
    assert_eq!(store.stats().open_views, 1, "the view handed over");
    assert_eq!(taken.next().map(|(k, _)| k), Some(b"b".to_vec()));
    assert_eq!(taken.next(), None);
    assert_eq!(store.stats().open_views, 1);
    drop(taken);
    assert_eq!(store.stats().open_views, 0);
}

fn forward_keys(store: &Store) -> Vec<Vec<u8>> {
    let mut cursor = store.snapshot().cursor::<&[u8]>(..);
    let mut keys = Vec::new();
    cursor.seek_to_first();
    while let Some(k) = cursor.key() {
        keys.push(k.to_vec());
        cursor.next();
    }
    keys
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn key_of(i: u64) -> Vec<u8> {
    (i as u16).to_be_bytes().to_vec()
}

/// What a cursor over `model` (the view's live pairs within its range)
/// stands on after each movement.
struct ModelCursor<'a> {
    model: &'a std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    at: Option<Vec<u8>>,
}

impl ModelCursor<'_> {
    fn after(&self, key: &[u8], forward: bool) -> Option<Vec<u8>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let found = if forward {
            self.model
                .range::<[u8], _>((Excluded(key), Unbounded))
                .next()
        } else {
            self.model
                .range::<[u8], _>((Unbounded, Excluded(key)))
                .next_back()
        };
        found.map(|(k, _)| k.clone())
    }

    fn step(&mut self, forward: bool) {
        self.at = self.at.take().and_then(|k| self.after(&k, forward));
    }
}

/// Steps, seeks and batches of a cursor, interleaved with writes, garbage
/// collection and reordering of the store after the cursor's view was
/// taken, land where they would over a sorted map of the view: the keys
/// a step reads ahead are those it would have found one by one.
#[test]
fn cursor_movements_match_a_model_of_its_view_under_later_writes() {
    use std::ops::Bound::{self, Excluded, Included, Unbounded};
    for seed in 1..=6u64 {
        let store = Store::new();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut model = std::collections::BTreeMap::new();
        for i in (0..600).step_by(2) {
            let value = format!("v{i}").into_bytes();
            put(&store, &key_of(i), &value);
            model.insert(key_of(i), value);
        }
        // Dead before the view: deleted, or expired.
        let past = store.now_ms() - 1;
        for _ in 0..60 {
            let k = key_of(rng.below(300) * 2);
            if rng.below(2) == 0 {
                store.write(&[Op::Delete { key: &k }]).unwrap();
            } else {
                let op = Op::Put {
                    key: &k,
                    value: b"gone",
                    expires_at: Some(past),
                };
                store.write(&[op]).unwrap();
            }
            model.remove(&k);
        }
        let bound = |rng: &mut Rng| match rng.below(3) {
            0 => Unbounded,
            1 => Included(key_of(rng.below(640))),
            _ => Excluded(key_of(rng.below(640))),
        };
        let (lower, upper): (Bound<Vec<u8>>, Bound<Vec<u8>>) = (bound(&mut rng), bound(&mut rng));
        model.retain(|k, _| {
            use std::ops::RangeBounds;
            (lower.clone(), upper.clone()).contains(k)
        });
        let view = store.snapshot();
        let mut cursor = view.cursor::<Vec<u8>>((lower.clone(), upper.clone()));
        let mut expected = ModelCursor {
            model: &model,
            at: None,
        };
        for round in 0..3000 {
            match rng.below(10) {
                0 => {
                    let k = key_of(rng.below(640));
                    cursor.seek(&k);
                    expected.at = model
                        .range::<[u8], _>((Included(k.as_slice()), Unbounded))
                        .next()
                        .map(|(k, _)| k.clone());
                }
                1 => {
                    let k = key_of(rng.below(640));
                    cursor.seek_for_prev(&k);
                    expected.at = model
                        .range::<[u8], _>((Unbounded, Included(k.as_slice())))
                        .next_back()
                        .map(|(k, _)| k.clone());
                }
                2 => {
                    cursor.seek_to_first();
                    expected.at = model.keys().next().cloned();
                }
                3 => {
                    let forward = rng.below(2) == 0;
                    let max = rng.below(40) as usize;
                    let refuse_at = rng.below(50) as usize;
                    let mut seen = Vec::new();
                    let taken = cursor.take_batch(forward, max, |k, v| {
                        if seen.len() == refuse_at {
                            return false;
                        }
                        assert_eq!(Some(&v.to_vec()), model.get(k), "seed {seed} round {round}");
                        seen.push(k.to_vec());
                        true
                    });
                    assert_eq!(taken, seen.len());
                    let mut want = Vec::new();
                    if max > 0 && refuse_at > 0 {
                        while let Some(k) = expected.at.clone() {
                            want.push(k);
                            expected.step(forward);
                            if want.len() == max.min(refuse_at) {
                                break;
                            }
                        }
                    }
                    assert_eq!(seen, want, "seed {seed} round {round}: batch");
                }
                4 => {
                    cursor.prev();
                    expected.step(false);
                }
                _ => {
                    cursor.next();
                    expected.step(true);
                }
            }
            assert_eq!(
                cursor.key().map(<[u8]>::to_vec),
                expected.at,
                "seed {seed} round {round}"
            );
            if let Some(k) = &expected.at {
                assert_eq!(cursor.value(), model.get(k).map(Vec::as_slice));
            }
            // Later writes the view must not see, and maintenance under it.
            let k = key_of(rng.below(640));
            match rng.below(8) {
                0 => store.write(&[Op::Delete { key: &k }]).map(drop).unwrap(),
                1 => put(&store, &k, b"later"),
                2 => drop(store.collect_garbage(usize::MAX)),
                3 if round % 200 == 0 => drop(store.reorder(usize::MAX).unwrap()),
                _ => {}
            }
        }
    }
}

/// Walks a cursor over a view of the even keys below 400 with `advance`
/// (called with the cursor, the round and the keys seen so far, while the
/// cursor is valid), and between any two calls writes a key the view does
/// not see and runs a reordering pass that moves every node (the old ones
/// unlinked). Returns the keys `advance` saw.
fn walk_while_nodes_move(
    mut advance: impl FnMut(&mut kvdb_core::Cursor, usize, &mut Vec<Vec<u8>>),
) -> Vec<Vec<u8>> {
    let store = Store::new();
    for i in (0..400).step_by(2) {
        put(&store, &key_of(i), b"v");
    }
    let view = store.snapshot();
    let mut cursor = view.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    let mut seen = Vec::new();
    let mut later = 1;
    for round in 0usize.. {
        if !cursor.valid() {
            break;
        }
        advance(&mut cursor, round, &mut seen);
        put(&store, &key_of(later), b"later");
        later += 2;
        let report = store.reorder(usize::MAX).unwrap();
        assert!(report.keys_moved > 0, "the pass moved the nodes");
    }
    seen
}

fn even_keys_below_400() -> Vec<Vec<u8>> {
    (0..400).step_by(2).map(key_of).collect()
}

/// A cursor keeps its place between read-aheads in the skiplist node where
/// the last one stopped. With every node moved between any two steps,
/// stepping still hands out each key of the view once, in order, and new
/// keys written meanwhile stay out.
#[test]
fn steps_continue_past_nodes_moved_between_read_aheads() {
    let seen = walk_while_nodes_move(|cursor, _, seen| {
        seen.extend(cursor.key().map(<[u8]>::to_vec));
        cursor.next();
    });
    assert_eq!(seen, even_keys_below_400());
}

/// A forward batch continues from the skiplist node of the pair the cursor
/// stands on (the seek's, or the one the last batch stopped on) instead of
/// searching for its key. With every node moved between batches, and steps
/// mixed in, batches still hand out each key of the view once, in order.
#[test]
fn batches_continue_past_nodes_moved_between_them() {
    let seen = walk_while_nodes_move(|cursor, round, seen| {
        if round % 3 == 2 {
            seen.extend(cursor.key().map(<[u8]>::to_vec));
            cursor.next();
        } else {
            cursor.take_batch(true, 1 + round % 7, |k, _| {
                seen.push(k.to_vec());
                true
            });
        }
    });
    assert_eq!(seen, even_keys_below_400());
}

/// Steps backward read behind: one search finds a node some way back, a
/// walk forward finds the keys up to the current one, and the steps hand
/// them out from the last. From every start and within every lower bound,
/// long runs of steps back (through blocks of 4 to 32 keys, across
/// stretches of keys the view does not see, which send the read-behind
/// further back) hand out exactly the view's keys in descending order,
/// while later writes, collection and reordering move the nodes.
#[test]
fn steps_back_through_read_behind_blocks_match_a_model_of_the_view() {
    use std::ops::Bound::{self, Excluded, Included, Unbounded};
    for seed in 1..=4u64 {
        let store = Store::new();
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut model = std::collections::BTreeMap::new();
        for i in 0..2000 {
            let value = format!("v{i}").into_bytes();
            put(&store, &key_of(i), &value);
            model.insert(key_of(i), value);
        }
        // A long stretch the view does not see, and scattered holes.
        for i in (700..1000).chain((0..2000).filter(|i| i % 7 == 3)) {
            store.write(&[Op::Delete { key: &key_of(i) }]).unwrap();
            model.remove(&key_of(i));
        }
        let view = store.snapshot();
        for run in 0..40 {
            let lower: Bound<Vec<u8>> = match rng.below(3) {
                0 => Unbounded,
                1 => Included(key_of(rng.below(2000))),
                _ => Excluded(key_of(rng.below(2000))),
            };
            let start = key_of(rng.below(2100));
            let mut cursor = view.cursor::<Vec<u8>>((lower.clone(), Unbounded));
            cursor.seek_for_prev(&start);
            let want: Vec<Vec<u8>> = model
                .range::<[u8], _>((Unbounded, Included(start.as_slice())))
                .rev()
                .map(|(k, _)| k.clone())
                .take_while(|k| {
                    use std::ops::RangeBounds;
                    (lower.clone(), Unbounded::<Vec<u8>>).contains(k)
                })
                .collect();
            let mut seen = Vec::new();
            while let Some(k) = cursor.key() {
                assert_eq!(cursor.value(), model.get(k).map(Vec::as_slice));
                seen.push(k.to_vec());
                cursor.prev();
                // Later writes the view must not see, and maintenance.
                let k = key_of(rng.below(2000));
                match rng.below(16) {
                    0 => store.write(&[Op::Delete { key: &k }]).map(drop).unwrap(),
                    1 => put(&store, &k, b"later"),
                    2 => drop(store.collect_garbage(usize::MAX)),
                    3 if seen.len() % 300 == 0 => drop(store.reorder(usize::MAX).unwrap()),
                    _ => {}
                }
            }
            assert_eq!(
                seen, want,
                "seed {seed} run {run}: {lower:?} from {start:?}"
            );
        }
    }
}
