//! Snapshots: consistent read views of the whole database.

use std::ops::RangeBounds;

use kvdb_core::{Cursor, Iter, ReadView};

use crate::error::Result;

/// A read view of the database at one moment. Whatever is written, deleted
/// or expires later, a snapshot keeps reading the state it was taken at.
///
/// Versions a snapshot can see are kept in memory until it is dropped, so
/// drop snapshots when done. A snapshot may outlive the database handle.
#[derive(Debug, Clone)]
pub struct Snapshot {
    view: ReadView,
}

impl Snapshot {
    pub(crate) fn new(view: ReadView) -> Self {
        Self { view }
    }

    /// The value of `key` at the snapshot's moment, copied.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.view.get(key)?)
    }

    /// Calls `f` with the value of `key` at the snapshot's moment, borrowed.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        Ok(self.view.get_with(key, |v| f(v.map(|v| v.value)))?)
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
