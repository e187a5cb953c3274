//! Options for opening a database.

use std::sync::Arc;
use std::time::Duration;

use kvdb_core::{Clock, ExpireConfig, SystemClock};
use kvdb_vfs::{StdFs, Vfs};
use kvdb_wal::{RecoveryMode, SyncMode};

/// When acknowledged writes reach stable storage. Ignored in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Leave flushing to the operating system: a write survives a crash of
    /// the process but may be lost on power failure or kernel crash.
    Never,
    /// Sync in the background at this interval: at most about one interval of
    /// acknowledged writes may be lost on power failure.
    Interval(Duration),
    /// Sync before acknowledging (concurrent writers share one sync): an
    /// acknowledged write survives power failure. The default.
    #[default]
    Always,
}

impl SyncPolicy {
    /// How the log writes under this policy: `Always` buffers records and
    /// syncs them in groups; the others write each record through at once so
    /// that it survives a crash of the process.
    pub(crate) fn wal_mode(self) -> SyncMode {
        match self {
            SyncPolicy::Always => SyncMode::GroupCommit,
            SyncPolicy::Never | SyncPolicy::Interval(_) => SyncMode::WriteThrough,
        }
    }
}

/// Options for [`crate::Db`]. Start from `Options::default()` and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// When writes reach stable storage (persistent databases only).
    pub sync: SyncPolicy,
    /// How often the active expiry cycle runs; `None` disables the background
    /// cycle (expired keys still read as absent).
    pub expire_interval: Option<Duration>,
    /// Tuning of each active expiry cycle.
    pub expire: ExpireConfig,
    /// How often garbage collection runs; `None` disables the background
    /// collector (then call [`crate::Db::collect_garbage`] yourself).
    pub gc_interval: Option<Duration>,
    /// Keys examined per garbage-collection pass at most.
    pub gc_keys_per_pass: usize,
    /// How often the background thread that puts the ordered index's nodes
    /// back in key order in memory checks whether to (see
    /// [`crate::Db::reorder`]); `None` disables it. A pass starts in a
    /// check that finds no new key written since the one before, once keys
    /// inserted since the last pass number an eighth of the keys held (and
    /// at least 4096), and stops when a new key is written (resuming later).
    /// It holds about 96 bytes per key until it stops; under a memory limit
    /// it starts only if that fits.
    pub reorder_interval: Option<Duration>,
    /// The clock that expiry is judged by.
    pub clock: Arc<dyn Clock>,
    /// What recovery does with a damaged log (persistent databases only).
    pub recovery: RecoveryMode,
    /// A new log segment starts when the active one reaches this size.
    pub wal_segment_bytes: u64,
    /// A background checkpoint runs once this many bytes have been logged
    /// since the last one; `None` leaves checkpoints to [`crate::Db::checkpoint`].
    pub checkpoint_after_wal_bytes: Option<u64>,
    /// Whether closing the database checkpoints it first (default false):
    /// the next open then loads the snapshot and replays no log, and, under
    /// a memory limit with an LRU or LFU policy, finds each key's use as it
    /// was at the close, reads included (without it, as of the last
    /// checkpoint, with the writes since). As Redis saves its RDB file at
    /// shutdown. Closing takes as long as a checkpoint; a failed checkpoint
    /// is reported by the close, which still syncs the log and loses
    /// nothing. Durable databases only; dropping a [`crate::Db`] closes it
    /// the same way.
    pub checkpoint_on_close: bool,
    /// How often the background checkpoint thread checks the log's growth.
    pub checkpoint_check_interval: Duration,
    /// Snapshot files kept (at least 1). The log is kept back to the oldest
    /// of them, so recovery can fall back to it if a newer one is damaged.
    pub snapshots_to_keep: usize,
    /// The file system the database's files go through (tests swap in a
    /// simulator).
    pub vfs: Arc<dyn Vfs>,
    /// Secondary indexes, built from the data when the database opens
    /// (after recovery) and kept up to date from then on. Index entries are
    /// not stored in the database's files: declare every index again each
    /// time the database is opened (one built later with
    /// [`crate::Db::create_index`] is gone after a reopen unless declared
    /// here). Opening costs one pass over the records per index.
    pub indexes: Vec<kvdb_index::IndexDef>,
    /// Bytes of recent committed batches kept in memory for watchers
    /// ([`crate::Db::watch`]); the oldest are dropped beyond it. A watcher
    /// that falls further behind reads the log on disk (durable databases)
    /// or fails with [`crate::ErrorKind::Lagged`]. 0 turns change streams
    /// off, and with them the copy each write makes for the feed. Kept in
    /// blocks of up to 64 KiB (a sixteenth of this, at least 1 KiB), so the
    /// feed holds between this less one block and this; a watcher reading
    /// a block the budget dropped keeps that block alive until it moves on.
    pub watch_retention_bytes: usize,
    /// Bytes of log a checkpoint keeps although its snapshot covers them,
    /// newest segments first, so that watchers — running, or resuming after
    /// a restart — can replay changes older than the feed in memory holds.
    /// Whole segments are kept, so up to one segment more may stay. 0 keeps
    /// none. Durable databases only.
    pub watch_log_retention_bytes: u64,
    /// The most memory the database may hold, in bytes, as
    /// [`crate::Db::memory_usage`] counts it (0, the default: no limit).
    /// What happens at the limit is [`Options::eviction`]. Change both at
    /// run time with [`crate::Db::set_memory_limit`]. A database that holds
    /// more than the limit when opened evicts down to it before
    /// [`crate::Db::open`] returns, as lowering the limit does.
    pub memory_limit: u64,
    /// What a write that would pass [`Options::memory_limit`] does: fail
    /// (the default, `NoEviction`) or evict keys first, with Redis's
    /// policies. The keys' use (recency or frequency) that LRU and LFU
    /// choose by is kept across a reopen as of the last checkpoint or
    /// backup, when the database opens with a policy of the same kind or
    /// without a limit; the writes replayed from the log count as their
    /// keys' use as of that checkpoint at the latest (the reads since it
    /// are not kept). Without a limit, reads go on recording what they
    /// recorded (the snapshot's kind at an open, the last limit's policy's
    /// after [`crate::Db::set_memory_limit`] removes it), so that a tool
    /// that opens a cache without its limit and checkpoints or backs it up
    /// keeps its keys' use; a limit with a policy that ranks no key
    /// (`NoEviction`, random, TTL) stops the recording.
    pub eviction: crate::EvictionPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Always,
            expire_interval: Some(Duration::from_millis(100)),
            expire: ExpireConfig::default(),
            gc_interval: Some(Duration::from_millis(100)),
            gc_keys_per_pass: 100_000,
            reorder_interval: Some(Duration::from_millis(100)),
            clock: Arc::new(SystemClock),
            recovery: RecoveryMode::TolerateCorruptTail,
            wal_segment_bytes: 64 * 1024 * 1024,
            checkpoint_after_wal_bytes: Some(256 * 1024 * 1024),
            checkpoint_on_close: false,
            checkpoint_check_interval: Duration::from_secs(1),
            snapshots_to_keep: 2,
            vfs: Arc::new(StdFs),
            indexes: Vec::new(),
            watch_retention_bytes: 8 * 1024 * 1024,
            watch_log_retention_bytes: 64 * 1024 * 1024,
            memory_limit: 0,
            eviction: crate::EvictionPolicy::NoEviction,
        }
    }
}

impl Options {
    /// Options with no background threads: expiry, garbage collection,
    /// reordering and checkpoints run only when called. For tests and single-threaded
    /// embedders. (An `Interval` sync policy still starts its sync thread.)
    pub fn manual_maintenance() -> Self {
        Self {
            expire_interval: None,
            gc_interval: None,
            reorder_interval: None,
            checkpoint_after_wal_bytes: None,
            ..Self::default()
        }
    }

    /// Checks option values that can be wrong.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| Err(crate::Error::InvalidArgument(what.to_owned()));
        if self.sync == SyncPolicy::Interval(Duration::ZERO) {
            return bad("the sync interval must be at least 1 ms");
        }
        if self.wal_segment_bytes < 4096 {
            return bad("log segments must be at least 4096 bytes");
        }
        if self.checkpoint_check_interval.is_zero() {
            return bad("the checkpoint check interval must not be zero");
        }
        Ok(())
    }
}
