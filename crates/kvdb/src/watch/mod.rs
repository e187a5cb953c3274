//! Change streams: watching a key range from any sequence number still
//! retained, in commit order, exactly once.
//!
//! Every committed batch is kept, in the form its log record takes, in a
//! feed in memory bounded by [`crate::Options::watch_retention_bytes`]
//! ([`feed`]). A watcher reads the feed from its position on; one that
//! needs older changes reads them from the write-ahead log still on disk
//! (durable databases; checkpoints keep up to
//! [`crate::Options::watch_log_retention_bytes`] of log a snapshot already
//! covers for this). Changes older than both are gone: the watcher then
//! fails with [`crate::ErrorKind::Lagged`], naming the oldest sequence
//! number still retained, and the documented recovery is to read a
//! snapshot and watch from its sequence number + 1.
//!
//! Writers never wait for watchers: the feed drops its oldest batches when
//! over budget, and waking a watcher costs a writer one atomic swap unless
//! the watcher was idle ([`signal`]).

mod chunk;
mod feed;
mod log;
mod signal;
mod watcher;

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use kvdb_core::{KeyRange, prefix_bounds};

pub(crate) use feed::Feed;
pub use watcher::Watcher;

use crate::db::{Db, Inner};
use crate::error::{Error, Result};

/// `from_seq` for [`Db::watch`]: start at the oldest change still retained.
pub const WATCH_FROM_OLDEST: u64 = 0;

/// `from_seq` for [`Db::watch`]: only changes committed after the call.
pub const WATCH_FROM_NOW: u64 = u64::MAX;

/// What a change did to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key was given this value (by a put, a batch, a transaction, a
    /// conditional write or a TTL change), expiring at `expires_at` (ms
    /// since the Unix epoch) if set.
    Put {
        /// The new value.
        value: Vec<u8>,
        /// When it expires, if ever.
        expires_at: Option<u64>,
    },
    /// The key was deleted by a write.
    Delete,
    /// The key's expiry time passed and the expiry cycle deleted it. The
    /// event comes when the key is reclaimed, not at its expiry time: up to
    /// one expiry interval later, and more when many keys expire at once
    /// (the cycle's work is bounded). The key reads as absent from its
    /// expiry time on.
    Expired,
    /// The key was evicted to keep the database within its memory limit
    /// ([`crate::Options::memory_limit`]); the event comes with the
    /// eviction, which the write that needed the room triggered.
    Evicted,
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The change's sequence number: consecutive across the database (a
    /// watcher of a key range sees gaps where other keys changed).
    pub seq: u64,
    /// The key.
    pub key: Vec<u8>,
    /// What happened to it.
    pub change: Change,
    /// True on the last event the watcher gets from its batch or
    /// transaction: apply the events up to here together to see the
    /// database as that commit left it.
    pub last_in_batch: bool,
}

impl Db {
    /// Watches the keys within `range` from sequence number `from_seq`:
    /// [`WATCH_FROM_OLDEST`] (0) for the oldest change still retained,
    /// [`WATCH_FROM_NOW`] for changes committed after this call, or any
    /// number (a snapshot's [`crate::Snapshot::seq`] + 1 continues exactly
    /// where the snapshot stops).
    ///
    /// A `from_seq` no longer retained is not an error here: the watcher's
    /// first call fails with [`crate::ErrorKind::Lagged`].
    ///
    /// Fails with [`crate::ErrorKind::InvalidArgument`] if change streams
    /// are off ([`crate::Options::watch_retention_bytes`] is 0).
    pub fn watch<K: AsRef<[u8]>>(
        &self,
        range: impl RangeBounds<K>,
        from_seq: u64,
    ) -> Result<Watcher> {
        let owned = |bound: Bound<&K>| match bound {
            Bound::Included(k) => Bound::Included(k.as_ref().into()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().into()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let range = (owned(range.start_bound()), owned(range.end_bound()));
        self.inner.watch(range, from_seq)
    }

    /// Watches the keys that start with `prefix` (every key if it is
    /// empty); see [`Db::watch`].
    pub fn watch_prefix(&self, prefix: &[u8], from_seq: u64) -> Result<Watcher> {
        self.inner.watch(prefix_bounds(prefix), from_seq)
    }
}

impl Inner {
    fn watch(self: &Arc<Self>, range: KeyRange, from_seq: u64) -> Result<Watcher> {
        self.check_open()?;
        if !self.feed.is_on() {
            return Err(Error::InvalidArgument(
                "change streams are off (watch_retention_bytes is 0)".into(),
            ));
        }
        // Registered before the start is read, so no commit published after
        // the start is missed by the wake-ups.
        let subscriber = self.feed.subscribe(range);
        let next_seq = match from_seq {
            WATCH_FROM_NOW => self.store.visible_seq() + 1,
            WATCH_FROM_OLDEST => self.oldest_retained(),
            seq => seq,
        };
        Ok(Watcher::new(Arc::clone(self), subscriber, next_seq))
    }

    /// The oldest sequence number a watcher can still start from.
    pub(crate) fn oldest_retained(&self) -> u64 {
        let memory = self.feed.oldest_in_memory();
        self.persist
            .as_ref()
            .and_then(log::oldest_logged)
            .map_or(memory, |logged| logged.min(memory))
    }
}
