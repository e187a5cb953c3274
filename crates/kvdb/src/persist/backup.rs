//! Online backup and restore: a consistent copy of the database at one read
//! view, written as one snapshot file into a new directory (which then opens
//! as a durable database), and loading such a directory into memory.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvdb_core::Store;

use crate::db::{Db, Inner, lock_dir};
use crate::error::{Error, Result};
use crate::options::Options;
use crate::persist::checkpoint::write_snapshot;
use crate::persist::recovery::{RecoveryReport, load_read_only};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupReport {
    /// The sequence number of the read view copied: the backup holds every
    /// write up to it and none after.
    pub seq: u64,
    /// Live entries copied.
    pub entries: u64,
    /// Bytes of the snapshot file.
    pub bytes: u64,
    /// How long it took.
    pub duration: Duration,
}

impl Inner {
    fn backup_to(&self, dir: &Path) -> Result<BackupReport> {
        self.check_open()?;
        let started = Instant::now();
        let vfs = &self.options.vfs;
        prepare_empty_dir(vfs, dir)?;
        // The lock keeps anyone from opening the backup half written.
        let _lock = vfs
            .lock(dir)
            .map_err(|e| Error::io(format!("locking {}", dir.display()), e))?;
        let view = self.store.snapshot();
        let info = write_snapshot(vfs, dir, &view, &self.store)?;
        Ok(BackupReport {
            seq: info.seq,
            entries: info.entries,
            bytes: info.bytes,
            duration: started.elapsed(),
        })
    }
}

/// Creates `dir`, or accepts it if it exists and is empty.
fn prepare_empty_dir(vfs: &Arc<dyn kvdb_vfs::Vfs>, dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.as_os_str() == ":memory:" {
        return Err(Error::InvalidArgument(format!(
            "{:?} is not a backup directory",
            dir.as_os_str()
        )));
    }
    match vfs.list(dir) {
        Ok(names) if !names.is_empty() => {
            return Err(Error::InvalidArgument(format!(
                "the backup directory {} is not empty",
                dir.display()
            )));
        }
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    }
    vfs.create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating directory {}", dir.display()), e))
}

impl Db {
    /// Writes a consistent copy of the database, as of one moment, into
    /// `dir`: a new or empty directory that then holds one snapshot file and
    /// opens as a durable database ([`Db::open`]) or loads into memory
    /// ([`Db::open_in_memory_from`]). Works online, from an in-memory or a
    /// durable database: writers go on while the copy is written, and none of
    /// their writes after the moment of the copy is in it. Expiry times stay
    /// absolute (a key due in 60 s expires at the same instant in the copy).
    /// Indexes are not copied: declare them when opening the copy.
    pub fn backup_to(&self, dir: impl AsRef<Path>) -> Result<BackupReport> {
        self.inner.backup_to(dir.as_ref())
    }

    /// Opens an in-memory database holding the contents of database
    /// directory or backup `dir`, loaded as recovery does (the newest valid
    /// snapshot and the log after it, with the same checks). Nothing is
    /// written to `dir` and no repair is made there (a torn log tail is
    /// simply not loaded); the directory is locked while it is read, so it
    /// must not be open elsewhere ([`crate::ErrorKind::Locked`]). Afterwards
    /// the database touches no file. Expiry times stay absolute; indexes in
    /// `options` are built from the loaded data.
    pub fn open_in_memory_from(
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Db, RecoveryReport)> {
        let dir = dir.as_ref();
        options.validate()?;
        let vfs = Arc::clone(&options.vfs);
        if let Err(e) = vfs.list(dir) {
            return Err(match e.kind() {
                io::ErrorKind::NotFound => Error::InvalidArgument(format!(
                    "there is no database directory {}",
                    dir.display()
                )),
                _ => Error::io(format!("reading {}", dir.display()), e),
            });
        }
        let lock = lock_dir(&*vfs, dir)?;
        let store = Store::with_clock(Arc::clone(&options.clock));
        let report = load_read_only(&store, &vfs, dir, &options)?;
        drop(lock);
        let db = Db::in_memory_from_store(store, options)?;
        Ok((db, report))
    }
}
