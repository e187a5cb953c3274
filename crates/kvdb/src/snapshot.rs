//! Snapshots: consistent read views of the whole database.

use std::ops::RangeBounds;

use std::sync::Arc;

use kvdb_core::{Cursor, Iter, ReadView};

use crate::error::Result;
use crate::index::query::{IndexIter, IndexQuery};
use crate::index::registry::Registry;

/// A read view of the database at one moment. Whatever is written, deleted
/// or expires later, a snapshot keeps reading the state it was taken at.
///
/// Versions a snapshot can see are kept in memory until it is dropped, so
/// drop snapshots when done. A snapshot may outlive the database handle.
#[derive(Clone)]
pub struct Snapshot {
    view: ReadView,
    indexes: Arc<Registry>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("view", &self.view)
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(view: ReadView, indexes: Arc<Registry>) -> Self {
        Self { view, indexes }
    }

    /// The records index `name` finds for `query` at the snapshot's moment,
    /// in index key order (then key order); reverse the iterator for
    /// descending order. Query keys are given in the records' own form
    /// ([`crate::IndexDef::query_key`]). Fails if there is no such index,
    /// if it was completed after the snapshot was taken, or if a query key
    /// cannot be read as the index reads records.
    pub fn index(&self, name: &str, query: IndexQuery<'_>) -> Result<IndexIter> {
        crate::index::query::query(&self.view, &self.indexes, name, query)
    }

    /// The value of `key` at the snapshot's moment, copied.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.view.get(key)?)
    }

    /// Calls `f` with the value of `key` at the snapshot's moment, borrowed.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        Ok(self.view.get_with(key, |v| f(v.map(|v| v.value)))?)
    }

    /// The values of `keys` at the snapshot's moment, copied, in the same
    /// order: as [`crate::Db::get_many`].
    pub fn get_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        self.get_many_with(keys, |_, v| values.push(v.map(<[u8]>::to_vec)))?;
        Ok(values)
    }

    /// As [`Snapshot::get_many`], calling `f(i, value)` with each value
    /// borrowed, in order of `i`, the key's position in `keys`.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        Ok(self
            .view
            .get_many_with(keys, |i, v| f(i, v.map(|v| v.value)))?)
    }

    /// True if `key` held a live value at the snapshot's moment.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        Ok(self.view.get_with(key, |v| v.is_some())?)
    }

    /// Iterates over every key of the snapshot in ascending order.
    pub fn iter(&self) -> Iter {
        self.view.iter()
    }

    /// Iterates over the keys of the snapshot within `range`.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Iter {
        self.view.range(range)
    }

    /// Iterates over the keys of the snapshot starting with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        self.view.prefix(prefix)
    }

    /// A positionable cursor over the keys of the snapshot within `range`.
    pub fn cursor<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Cursor {
        self.view.cursor(range)
    }

    /// As [`Snapshot::cursor`], handing the snapshot's registration to the
    /// cursor: for a snapshot taken only for the cursor, the view registry's
    /// lock is taken once instead of three times.
    pub fn into_cursor<K: AsRef<[u8]>>(self, range: impl RangeBounds<K>) -> Cursor {
        self.view.into_cursor(range)
    }

    /// True if this process is a `fork()` child of the process that took
    /// the snapshot: its reads then fail.
    pub fn is_inherited_across_fork(&self) -> bool {
        self.view.is_inherited_across_fork()
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.view.seq()
    }
}
