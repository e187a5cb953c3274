//! Helpers shared by the store's integration tests.

use kvdb_core::{Op, Store};

/// Writes `key` = `value` (no TTL) as a batch of one; panics on failure.
pub(crate) fn put(store: &Store, key: &[u8], value: &[u8]) {
    store
        .write(&[Op::Put {
            key,
            value,
            expires_at: None,
        }])
        .unwrap();
}
