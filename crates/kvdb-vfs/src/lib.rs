//! The file-system seam of kvdb.
//!
//! The write-ahead log and the snapshot files perform a small set of file
//! operations — create, append, sync, rename, remove, truncate, read whole,
//! sync a directory, lock a directory — and perform them only through the
//! [`Vfs`] trait. [`StdFs`] does them on the real file system. [`SimFs`] keeps
//! files in memory, tracks which bytes and directory entries are durable, can
//! inject I/O errors on a countdown, and can produce the image a power failure
//! would leave ([`SimFs::crash`]), so durability can be tested without pulling
//! plugs.
//!
//! # Durability model
//!
//! Both implementations follow POSIX's strict reading, which [`SimFs`]
//! enforces: file bytes are durable once the file is synced; a created,
//! renamed or removed directory entry is durable once its directory is synced.

mod bytes;
mod sim;
mod std_fs;

use std::fmt::Debug;
use std::io;
use std::path::Path;

pub use bytes::FileBytes;
pub use sim::{CrashOptions, SimFs};
pub use std_fs::{LOCK_FILE, StdFs};

/// A file open for writing.
pub trait WritableFile: Send {
    /// Appends `buf` at the end of the file.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes `buf` at `offset` (within or at the end of what was written).
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// A held lock on a directory; dropping it releases the lock.
pub struct DirLock {
    _held: Box<dyn Send + Sync>,
}

impl DirLock {
    /// Wraps whatever keeps the lock held.
    pub fn new(held: Box<dyn Send + Sync>) -> Self {
        Self { _held: held }
    }
}

impl Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirLock")
    }
}

/// The file operations kvdb performs.
pub trait Vfs: Send + Sync + Debug {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the regular files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a new, empty file; fails if it exists.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// The whole contents of a file (memory-mapped where possible). The file
    /// must not be written while the returned bytes are alive.
    fn read(&self, path: &Path) -> io::Result<FileBytes>;
    /// Cuts a file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file, replacing any file at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes an existing file's contents durable (as
    /// [`WritableFile::sync`] does for a file being written).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `dir`, failing with
    /// [`io::ErrorKind::WouldBlock`] if any handle, in this process or
    /// another, holds it.
    fn lock(&self, dir: &Path) -> io::Result<DirLock>;
}
