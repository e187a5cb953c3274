//! kvdb's write-ahead log.
//!
//! A log is a directory of segment files, each starting with a header (magic,
//! format version, segment id) followed by CRC-framed records. A record is an
//! opaque payload plus the first sequence number of what it holds; the engine
//! writes one record per batch. The layout is in [`format`] and
//! `docs/FORMAT.md`.
//!
//! - **Appending** ([`Wal`]) with group commit: concurrent writers share one
//!   write and one sync ([`SyncMode::GroupCommit`]), or records are written
//!   as they come and synced on demand ([`SyncMode::WriteThrough`]).
//! - **Rotation** to a new segment at a size threshold, and **truncation** of
//!   whole segments covered by a snapshot.
//! - **Replay** ([`WalReader`]) in order, with RocksDB-style recovery modes
//!   ([`RecoveryMode`]): a torn tail is cut off and reported; damage
//!   elsewhere is an error unless point-in-time recovery was asked for.
//! - All file access goes through [`kvdb_vfs::Vfs`], so tests inject I/O
//!   errors and simulate power loss.
//!
//! ```
//! use std::sync::Arc;
//! use kvdb_vfs::{SimFs, Vfs};
//! use kvdb_wal::{RecoveryMode, Wal, WalOptions, WalReader};
//!
//! let fs = Arc::new(SimFs::new());
//! let dir = std::path::Path::new("/db");
//! fs.create_dir_all(dir)?;
//! let recovered = WalReader::open(fs.clone(), dir, RecoveryMode::default())?.finish()?;
//! let wal = Wal::open(fs.clone(), dir, WalOptions::default(), recovered, 1)?;
//! let end = wal.append(1, 1, |buf| buf.extend_from_slice(b"first batch"))?;
//! wal.sync_to(end)?;
//! drop(wal);
//!
//! let mut reader = WalReader::open(fs, dir, RecoveryMode::default())?;
//! let record = reader.next_record()?.expect("one record");
//! assert_eq!((record.seq, record.payload), (1, &b"first batch"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod format;
mod options;
mod reader;
mod segment;
mod writer;

pub use error::WalError;
pub use options::{RecoveryMode, SyncMode, WalOptions};
pub use reader::{Record, Recovered, ReplayReport, TornTail, WalReader};
pub use segment::{SegmentInfo, parse_segment_name, segment_name};
pub use writer::{GATHER_GAP, GATHER_LIMIT, LogPosition, Wal};
