//! What a victim's deletion frees: its record and versions, which the
//! store measures, and the secondary-index entries the deletion removes
//! with it, which only the engine can name (it knows the indexes).
//!
//! An index entry of an 8-byte value takes about as much as the key's own
//! record: counting only records, an eviction that has to free a given
//! number of bytes would find the policy's keys short of it even when
//! deleting them frees enough, and refuse.

use kvdb_core::{Candidate, Space, Store};

use crate::index::maintain::entries_of;
use crate::index::registry::Registry;

/// Judges candidates for eviction in one database.
pub(crate) struct Judge<'a> {
    pub(crate) store: &'a Store,
    indexes: &'a Registry,
}

impl<'a> Judge<'a> {
    pub(crate) fn new(store: &'a Store, indexes: &'a Registry) -> Self {
        Self { store, indexes }
    }

    /// `candidate` as it stands at the clock reading `now_ms`, if it still
    /// holds a value (see [`Store::judge`]), its bytes counting the index
    /// entries its deletion removes (a live value's), and their number.
    pub(crate) fn judge(&self, candidate: &Candidate, now_ms: u64) -> Option<Candidate> {
        if !self.indexes.any() {
            return self.store.judge(candidate, now_ms);
        }
        let key = candidate.key();
        let mut entries = 0;
        let mut judged = self.store.judge_with(candidate, now_ms, |value| {
            let mut bytes = 0;
            // An extractor that fails counts nothing here: the eviction's
            // own plan of the deletion meets the failure and reports it.
            let _ = entries_of(self.indexes, key, value, |entry| {
                bytes += self.store.bytes_held(Space::Index, entry);
                entries += 1;
            });
            bytes
        })?;
        judged.index_entries = entries;
        Some(judged)
    }
}
