//! kvdb's snapshot files: a point-in-time copy of every live key, value and
//! expiry time, sorted by key, from which a database is rebuilt faster than
//! by replaying its whole log.
//!
//! - [`SnapshotWriter`] streams entries into a temporary file, then syncs,
//!   renames it into place and syncs the directory: no reader ever sees a
//!   partial snapshot.
//! - [`SnapshotFile::open`] maps a file into memory and verifies every byte
//!   (magic, format version, checksums of header, footer and all entries,
//!   every length, the entry count, key order) before anything is used.
//! - [`load_newest`] falls back to older snapshots when the newest fails
//!   verification, and reports those it rejected; [`retain`] keeps the newest
//!   N.
//!
//! The layout is in [`format`] and `docs/FORMAT.md`.
//!
//! ```
//! use std::sync::Arc;
//! use kvdb_vfs::{SimFs, Vfs};
//! use kvdb_snapshot::{SnapshotWriter, load_newest};
//!
//! let fs = Arc::new(SimFs::new());
//! let dir = std::path::Path::new("/db");
//! fs.create_dir_all(dir)?;
//! let mut writer = SnapshotWriter::create(fs.clone(), dir, 42, 1_700_000_000_000)?;
//! writer.add(b"apple", b"red", None)?;
//! writer.add(b"banana", b"yellow", Some(1_800_000_000_000))?;
//! writer.finish()?;
//!
//! let loaded = load_newest(&*fs, dir)?;
//! let snapshot = loaded.snapshot.expect("a valid snapshot");
//! assert_eq!(snapshot.info().seq, 42);
//! let keys: Vec<_> = snapshot.entries().map(|e| e.key.to_vec()).collect();
//! assert_eq!(keys, vec![b"apple".to_vec(), b"banana".to_vec()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dir;
mod error;
mod file;
pub mod format;
mod writer;

pub use dir::{
    Loaded, Rejected, list, load_newest, parse_snapshot_name, remove_temporaries, retain,
    snapshot_name,
};
pub use error::SnapshotError;
pub use file::{Entries, SnapshotFile, verify};
pub use writer::{SnapshotInfo, SnapshotWriter};
