//! Batched cursor reads (`Cursor::take_batch`) hand over exactly the pairs
//! that stepping would, in both directions, within range limits, at any
//! read view, and leave the cursor where stepping would.

use std::ops::Bound;

use kvdb_core::{Cursor, Op, ReadView, Store};
use proptest::prelude::*;

mod common;

/// Writes for a store's history: puts, deletes, and puts already expired.
#[derive(Debug, Clone)]
enum Write {
    Put(u8, u8),
    Delete(u8),
    Expired(u8),
}

fn write_strategy() -> impl Strategy<Value = Write> {
    prop_oneof![
        6 => (0u8..40, any::<u8>()).prop_map(|(k, v)| Write::Put(k, v)),
        2 => (0u8..40).prop_map(Write::Delete),
        1 => (0u8..40).prop_map(Write::Expired),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k:02}").into_bytes()
}

fn apply(store: &Store, w: &Write) {
    let past = store.now_ms() - 1;
    let k = match w {
        Write::Put(k, _) | Write::Delete(k) | Write::Expired(k) => key(*k),
    };
    let value = match w {
        Write::Put(_, v) => vec![*v; usize::from(*v % 7)],
        _ => b"gone".to_vec(),
    };
    let op = match w {
        Write::Put(..) => Op::Put {
            key: &k,
            value: &value,
            expires_at: None,
        },
        Write::Delete(_) => Op::Delete { key: &k },
        Write::Expired(_) => Op::Put {
            key: &k,
            value: &value,
            expires_at: Some(past),
        },
    };
    store.write(&[op]).unwrap();
}

fn bound(b: Option<(bool, u8)>) -> Bound<Vec<u8>> {
    match b {
        None => Bound::Unbounded,
        Some((true, k)) => Bound::Included(key(k)),
        Some((false, k)) => Bound::Excluded(key(k)),
    }
}

/// Every pair from the cursor's position on, stepping.
fn step_all(c: &mut Cursor, forward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (c.key(), c.value()) {
        out.push((k.to_vec(), v.to_vec()));
        if forward {
            c.next();
        } else {
            c.prev();
        }
    }
    out
}

/// Every pair from the cursor's position on, in batches of at most `max`
/// pairs of which `take` accepts at most `accept` each time.
fn batch_all(c: &mut Cursor, forward: bool, max: usize, accept: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut offered = 0;
        let before = out.len();
        let n = c.take_batch(forward, max, |k, v| {
            offered += 1;
            if offered > accept {
                return false;
            }
            out.push((k.to_vec(), v.to_vec()));
            true
        });
        assert_eq!(n, out.len() - before, "the count is the pairs taken");
        assert!(n <= max.min(accept));
        if n == 0 {
            assert!(!c.valid() || accept == 0, "nothing taken only at the end");
            return out;
        }
    }
}

fn cursor(view: &ReadView, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> Cursor {
    view.cursor((lower.clone(), upper.clone()))
}

proptest! {
    #[test]
    fn batches_match_steps(
        before in prop::collection::vec(write_strategy(), 0..80),
        after in prop::collection::vec(write_strategy(), 0..30),
        lower in prop::option::of((any::<bool>(), 0u8..40)),
        upper in prop::option::of((any::<bool>(), 0u8..40)),
        start in 0u8..40,
        // Forward batches of fewer than 8 pairs step, larger ones walk.
        max in 1usize..20,
        accept in 1usize..24,
    ) {
        let store = Store::new();
        for w in &before {
            apply(&store, w);
        }
        // Writes after the view is taken must not show through it.
        let view = store.snapshot();
        for w in &after {
            apply(&store, w);
        }
        let (lower, upper) = (bound(lower), bound(upper));
        for forward in [true, false] {
            let (mut a, mut b) = (cursor(&view, &lower, &upper), cursor(&view, &lower, &upper));
            if forward {
                a.seek(&key(start));
                b.seek(&key(start));
            } else {
                a.seek_for_prev(&key(start));
                b.seek_for_prev(&key(start));
            }
            let stepped = step_all(&mut a, forward);
            let batched = batch_all(&mut b, forward, max, accept);
            prop_assert_eq!(&batched, &stepped);
        }
    }
}

#[test]
fn a_refused_pair_is_where_the_cursor_stays() {
    let store = Store::new();
    for k in 0..10u8 {
        common::put(&store, &key(k), &[k]);
    }
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek(&key(3));
    let mut seen = 0;
    assert_eq!(
        c.take_batch(true, 100, |_, _| {
            seen += 1;
            seen <= 4
        }),
        4
    );
    assert_eq!(c.key(), Some(&key(7)[..]));
    assert_eq!(c.take_batch(false, 2, |_, _| true), 2);
    assert_eq!(c.key(), Some(&key(5)[..]));
    // Stepping on from where a batch left works in either direction.
    c.next();
    assert_eq!(c.key(), Some(&key(6)[..]));
    assert_eq!(c.take_batch(true, 100, |_, _| true), 4);
    assert!(!c.valid());
    assert_eq!(c.take_batch(true, 100, |_, _| true), 0);
}

#[test]
fn batches_see_their_view_while_writers_and_collection_run() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let store = Store::new();
    for k in 0..40u8 {
        common::put(&store, &key(k), &[k]);
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let k = key((i >> 16) as u8 % 40);
                if i.is_multiple_of(3) {
                    store.write(&[Op::Delete { key: &k }]).unwrap();
                } else {
                    common::put(&store, &k, &i.to_le_bytes());
                }
                store.collect_garbage(64);
            }
        });
        for round in 0..300 {
            let view = store.snapshot();
            let all = (Bound::Unbounded, Bound::Unbounded);
            let (mut a, mut b) = (cursor(&view, &all.0, &all.1), cursor(&view, &all.0, &all.1));
            a.seek_to_first();
            b.seek_to_first();
            let stepped = step_all(&mut a, true);
            let batched = batch_all(&mut b, true, 1 + round % 13, 5);
            assert_eq!(batched, stepped);
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn backward_batches_see_their_view_while_keys_are_inserted_moved_and_collected() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let key = |i: u32| format!("key{i:06}").into_bytes();
    let passes = AtomicU32::new(0);
    let store = Store::new();
    for i in (0..6000).step_by(2) {
        common::put(&store, &key(i), &i.to_le_bytes());
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // New keys between the old ones, deletions, collection and passes
        // that move every node: a read-behind's searches start from nodes
        // that are then removed, or have new ones linked after them.
        s.spawn(|| {
            let mut i = 1u32;
            let mut writes = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let k = key((i >> 8) % 6000);
                if i.is_multiple_of(3) {
                    store.write(&[Op::Delete { key: &k }]).unwrap();
                } else {
                    common::put(&store, &k, &i.to_le_bytes());
                }
                writes += 1;
                if writes.is_multiple_of(64) {
                    store.collect_garbage(256);
                }
                if writes.is_multiple_of(2048) {
                    store.reorder(usize::MAX).unwrap();
                    passes.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // At least 150 rounds, and until three passes moved every node
        // while the rounds ran.
        let mut round = 0usize;
        while round < 150 || passes.load(Ordering::Relaxed) < 3 {
            round += 1;
            let view = store.snapshot();
            let all = (Bound::Unbounded, Bound::Unbounded);
            // The view's pairs, read forward (which reads nothing behind).
            let mut forward = cursor(&view, &all.0, &all.1);
            forward.seek_to_first();
            let mut want = step_all(&mut forward, true);
            want.reverse();
            let mut backward = cursor(&view, &all.0, &all.1);
            backward.seek_to_last();
            // Batches of up to 97 pairs, and of more than one read-behind
            // finds at a time.
            let max = match round % 2 {
                0 => 1 + round * 7 % 97,
                _ => 250 + round * 13 % 400,
            };
            let batched = batch_all(&mut backward, false, max, usize::MAX);
            assert_eq!(batched.len(), want.len(), "round {round}");
            assert!(
                batched == want,
                "round {round}: backward batches differ from the view"
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
}

proptest! {
    /// `Iter`, which copies pairs a batch at a time from each end, yields
    /// every pair of its range exactly once whatever the mix of `next` and
    /// `next_back`, and the ends never cross.
    #[test]
    fn iter_ends_meet_exactly(
        writes in prop::collection::vec(write_strategy(), 0..200),
        lower in prop::option::of((any::<bool>(), 0u8..40)),
        upper in prop::option::of((any::<bool>(), 0u8..40)),
        from_back in prop::collection::vec(any::<bool>(), 0..120),
    ) {
        let store = Store::new();
        for w in &writes {
            apply(&store, w);
        }
        let view = store.snapshot();
        let (lower, upper) = (bound(lower), bound(upper));
        let mut c = cursor(&view, &lower, &upper);
        c.seek_to_first();
        let all = step_all(&mut c, true);
        let mut iter = view.range::<Vec<u8>>((lower.clone(), upper.clone()));
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for &b in from_back.iter().chain(std::iter::repeat_n(&false, all.len() + 1)) {
            let item = if b { iter.next_back() } else { iter.next() };
            match item {
                Some(pair) if b => back.push(pair),
                Some(pair) => front.push(pair),
                None => break,
            }
        }
        prop_assert!(iter.next().is_none() && iter.next_back().is_none());
        back.reverse();
        front.extend(back);
        prop_assert_eq!(front, all);
    }
}
