//! Helpers for unit tests: a put, and the keys a scan hands out in either
//! direction.

use crate::store::Store;
use crate::writer::Op;

pub(crate) fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Op<'a> {
    Op::Put {
        key,
        value,
        expires_at: None,
    }
}

/// Every key, first to last, through a snapshot's iterator.
pub(crate) fn forward(store: &Store) -> Vec<Vec<u8>> {
    store.snapshot().iter().map(|(k, _)| k.to_vec()).collect()
}

/// Every key, last to first, through a snapshot's cursor.
pub(crate) fn backward(store: &Store) -> Vec<Vec<u8>> {
    let mut c = store.snapshot().cursor::<&[u8]>(..);
    c.seek_to_last();
    let mut keys = Vec::new();
    while let Some(k) = c.key() {
        keys.push(k.to_vec());
        c.prev();
    }
    keys
}
