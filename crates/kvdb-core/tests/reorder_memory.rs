//! A reordering pass frees the nodes it replaced before it returns, counted
//! by the allocator: left to crossbeam-epoch's queue, they would be freed
//! by whichever readers came next, slowing them down.

use std::sync::atomic::Ordering;

use kvdb_core::{Op, Store};

#[path = "common/counting.rs"]
mod counting;
use counting::LIVE_BYTES;

const KEYS: u64 = 50_000;

/// One test function: the allocation counter is global, so nothing else may
/// allocate in this process while it measures.
#[test]
fn a_pass_frees_the_nodes_it_replaced_before_returning() {
    let store = Store::new();
    for i in 0..KEYS {
        let key = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
        store
            .write(&[Op::Put {
                key: &key,
                value: b"value",
                expires_at: None,
            }])
            .unwrap();
    }
    for _ in 0..256 {
        crossbeam_epoch::pin().flush();
    }
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let report = store.reorder(usize::MAX).unwrap();
    assert_eq!(report.keys_moved as u64, KEYS);
    let grown = LIVE_BYTES.load(Ordering::Relaxed) - before;
    // Every node is at least 40 bytes: all of them left behind would be
    // 2 MB; allow a few hundred still queued.
    assert!(
        grown < 40 * 512,
        "{grown} bytes more allocated after moving {KEYS} nodes"
    );
    assert_eq!(store.scattered_keys(), 0);
}
