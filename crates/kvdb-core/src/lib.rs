//! The versioned, lock-free, in-memory store at the heart of kvdb.
//!
//! Keys and values are byte strings (keys up to [`MAX_KEY_LEN`], values up to
//! [`MAX_VALUE_LEN`]). Every key holds a list of versions, newest first; each
//! version is a value or a deletion marker, carries the sequence number of the
//! write that made it and, optionally, an absolute expiry time. This crate does
//! no file I/O: durability is the engine's job (`kvdb`).
//!
//! # Concurrency
//!
//! - **Reads never block.** (Point reads and scan steps take no lock;
//!   creating or dropping a view takes the view registry's mutex for an
//!   O(1) update in the common case.) Keys live in a lock-free skiplist
//!   (`crossbeam-skiplist`) for ordered access, with a lock-free-read hash
//!   index beside it for point lookups; version lists are managed with
//!   epoch-based reclamation (`crossbeam-epoch`). Any number of threads read
//!   while writers write.
//! - **Writes are serialised** by one write lock ([`Store::writer`]), which is
//!   also what makes compare-and-swap, put-if-absent and increment atomic.
//! - **Batches are atomic.** A batch is installed under sequence numbers not
//!   yet visible and then published at once ([`Store::publish`]): a reader sees
//!   all of a batch or none of it.
//! - **Read views are stable.** A [`ReadView`] reads at a fixed sequence number
//!   and a fixed clock reading; nothing written, deleted or expired later
//!   changes what it sees. Views are registered so garbage collection keeps
//!   what they can see.
//! - **Memory stays bounded.** [`Store::collect_garbage`] frees versions no
//!   view can see, and [`Store::active_expire_cycle`] reclaims expired keys
//!   without waiting for a read, as Redis does.
//!
//! # Example
//!
//! ```
//! use kvdb_core::{Op, Store};
//!
//! let store = Store::new();
//! store.write(&[Op::Put { key: b"a", value: b"1", expires_at: None }])?;
//! let before = store.snapshot();
//! store.write(&[
//!     Op::Put { key: b"a", value: b"2", expires_at: None },
//!     Op::Put { key: b"b", value: b"3", expires_at: None },
//! ])?;
//! assert_eq!(before.get(b"a")?, Some(b"1".to_vec()));
//! assert_eq!(before.get(b"b")?, None);
//! assert_eq!(store.get(b"a")?, Some(b"2".to_vec()));
//! let keys: Vec<_> = store.snapshot().iter().map(|(k, _)| k).collect();
//! assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
//! # Ok::<(), kvdb_core::CoreError>(())
//! ```
//!
//! The design is described in the repository's `ARCHITECTURE.md`.

mod access;
mod alloc_size;
mod chain;
mod clock;
mod cursor;
mod error;
mod evict;
mod expire;
mod fill_queue;
mod fork;
mod gc;
mod huge;
mod index;
mod iter;
mod key_hash;
mod limits;
mod located;
mod many;
mod prefetch;
mod prepared;
mod reorder;
mod scan;
mod space;
mod stats;
mod store;
#[cfg(test)]
mod test_scans;
mod unlink;
mod version;
mod view;
mod writer;
mod writer_count;

pub use access::{
    LFU_DECAY_UNITS, LFU_INIT, LFU_LOG_FACTOR, LFU_UNIT, LRU_UNIT, Tracking, access_age,
    access_from_age, lfu_counter, lfu_idle, lru_idle,
};
pub use alloc_size::{BlockSizes, block_sizes, set_block_sizes};
pub use clock::{Clock, ManualClock, SystemClock};
pub use cursor::Cursor;
pub use error::CoreError;
pub use evict::{Candidate, TrackingSpan, WriteClockHold, WriteCost};
pub use expire::{ExpireConfig, ExpireReport};
pub use fork::ProcessToken;
pub use gc::GcReport;
pub use iter::Iter;
pub use key_hash::KeyHash;
pub use limits::{MAX_KEY_LEN, MAX_TTL_MS, MAX_VALUE_LEN, check_key, check_ttl, check_value};
pub use located::Located;
pub use prepared::{Applied, IndexOp, PreparedBatch, SeqRange};
pub use reorder::ReorderReport;
pub use space::Space;
pub use stats::Stats;
pub use store::Store;
pub use version::VersionRef;
pub use view::{KeyRange, ReadView, prefix_bounds};
pub use writer::{Op, Writer};
