//! Options for opening a database.

use std::sync::Arc;
use std::time::Duration;

use kvdb_core::{Clock, ExpireConfig, SystemClock};

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
    /// The clock that expiry is judged by.
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Always,
            expire_interval: Some(Duration::from_millis(100)),
            expire: ExpireConfig::default(),
            gc_interval: Some(Duration::from_millis(100)),
            gc_keys_per_pass: 100_000,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Options {
    /// Options with no background threads: expiry and garbage collection run
    /// only when called. For tests and single-threaded embedders.
    pub fn manual_maintenance() -> Self {
        Self {
            expire_interval: None,
            gc_interval: None,
            ..Self::default()
        }
    }
}
