//! An iterator copies pairs ahead of what it yields a few at a time at
//! first, so a short scan does not pay for a long one. Counted by the
//! allocator: the bytes the iterator holds after yielding its first pair.

use std::sync::atomic::Ordering;

use kvdb_core::{Op, Store};

#[path = "common/counting.rs"]
mod counting;
use counting::LIVE_BYTES;

const VALUE: usize = 1024;

#[test]
fn a_short_scan_copies_a_few_pairs_not_a_full_batch() {
    let store = Store::new();
    for i in 0..1000u32 {
        let key = i.to_be_bytes();
        let value = [7u8; VALUE];
        store
            .write(&[Op::Put {
                key: &key,
                value: &value,
                expires_at: None,
            }])
            .unwrap();
    }
    let view = store.snapshot();
    for backward in [false, true] {
        let mut iter = view.range::<&[u8]>(..);
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let first = if backward {
            iter.next_back()
        } else {
            iter.next()
        };
        let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
        assert_eq!(first.map(|(_, v)| v.len()), Some(VALUE));
        // The pair yielded, three more copied with it, and the end's cursor
        // and buffers; a full batch of 64 pairs would hold 64 KiB.
        assert!(
            held < 8 * VALUE as isize,
            "one pair yielded, {held} bytes held (backward: {backward})"
        );
        assert_eq!(iter.count(), 999, "the rest still follows");
    }
}
