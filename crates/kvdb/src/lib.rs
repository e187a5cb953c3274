//! kvdb: an embeddable, concurrent, in-memory key-value database.
//!
//! Byte keys and values live in RAM in a lock-free ordered store; reads never
//! wait for writes. On top of it: TTLs, atomic batches, snapshots (MVCC read
//! views), iterators with range and prefix scans, optimistic serializable
//! transactions ([`Txn`]), secondary indexes ([`IndexDef`], [`Db::index`]),
//! compare-and-swap, put-if-absent, counters and closure updates.
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use kvdb::{Batch, Db};
//!
//! let db = Db::in_memory()?;
//! db.put(b"user:1", b"ada")?;
//! db.put_with_ttl(b"session:9", b"token", Duration::from_secs(60))?;
//! assert_eq!(db.get(b"user:1")?, Some(b"ada".to_vec()));
//!
//! // All or nothing: readers see both writes or neither.
//! let mut batch = Batch::new();
//! batch.put(b"user:2", b"grace")?;
//! batch.delete(b"user:1")?;
//! db.write(&batch)?;
//!
//! let snapshot = db.snapshot();
//! db.put(b"user:3", b"linus")?;
//! let users: Vec<_> = snapshot.prefix(b"user:").map(|(k, _)| k).collect();
//! assert_eq!(users, vec![b"user:2".to_vec()]);
//!
//! assert_eq!(db.increment(b"hits", 5)?, 5);
//!
//! // A transaction: what it read is still current when it commits, or the
//! // commit fails with ErrorKind::Conflict and nothing applies.
//! let mut txn = db.begin()?;
//! let n = txn.prefix(b"user:").count();
//! txn.put(b"users", n.to_string().as_bytes())?;
//! txn.commit()?;
//! assert_eq!(db.get(b"users")?, Some(b"2".to_vec())); // user:2 and user:3
//!
//! // A secondary index on a JSON field, kept in the same batch as each write.
//! db.create_index(kvdb::IndexDef::json_field("by_city", "city")?)?;
//! db.put(b"user:4", br#"{"city": "oslo"}"#)?;
//! let found: Vec<_> = db
//!     .index("by_city", kvdb::IndexQuery::Equal(br#""oslo""#))?
//!     .map(|e| e.key)
//!     .collect();
//! assert_eq!(found, vec![b"user:4".to_vec()]);
//! db.close()?;
//! # Ok::<(), kvdb::Error>(())
//! ```
//!
//! # Semantics worth knowing
//!
//! - Keys are 0 to 65,536 bytes, values 0 to 256 MiB; larger ones fail with
//!   [`ErrorKind::TooLarge`].
//! - A snapshot sees one moment: later writes, deletes and expiries do not
//!   change it. Iterators read a snapshot taken when they were created.
//! - TTLs are absolute times; an expired key reads as absent at once and is
//!   reclaimed in the background. `put` replaces a TTL; `compare_and_swap`,
//!   `increment` and `fetch_update` keep it.
//! - Background threads (active expiry, garbage collection) belong to the
//!   [`Db`] and are joined by [`Db::close`] or on drop.
//!
//! See `ARCHITECTURE.md` in the repository for how it works.

mod background;
mod batch;
mod commit;
mod conditional;
mod db;
mod error;
mod evict;
mod index;
mod options;
mod persist;
mod reorder;
mod snapshot;
mod ttl;
mod txn;
mod watch;

/// The file-system seam: tests (yours too) can open a database on
/// [`vfs::SimFs`] to inject I/O errors and simulate power loss.
pub use kvdb_vfs as vfs;

pub use batch::Batch;
pub use conditional::CasOutcome;
pub use db::Db;
pub use error::{Error, ErrorKind, Result};
pub use evict::{EvictionPolicy, MemoryUsage};
pub use index::{
    Callback, Endian, Extractor, IndexDef, IndexEntry, IndexError, IndexInfo, IndexIter,
    IndexQuery, IntType,
};
pub use kvdb_core::{
    BlockSizes, Clock, Cursor, ExpireConfig, ExpireReport, GcReport, Iter, MAX_KEY_LEN, MAX_TTL_MS,
    MAX_VALUE_LEN, ManualClock, Stats, SystemClock, block_sizes, prefix_bounds, set_block_sizes,
};
pub use kvdb_wal::{RecoveryMode, TornTail};
pub use options::{Options, SyncPolicy};
pub use persist::DurabilityStats;
pub use persist::backup::BackupReport;
pub use persist::checkpoint::CheckpointReport;
pub use persist::inspect;
pub use persist::recovery::RecoveryReport;
pub use snapshot::Snapshot;
pub use ttl::Ttl;
pub use txn::{MAX_TXN_WRITE_BYTES, TRANSACTION_RETRIES, Txn, TxnCursor, TxnIndexIter, TxnIter};
pub use watch::{Change, Event, WATCH_FROM_NOW, WATCH_FROM_OLDEST, Watcher};
