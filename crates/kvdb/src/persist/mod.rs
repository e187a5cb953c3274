//! Durability for a database opened on a directory: the directory lock, the
//! write-ahead log, snapshot files, recovery, checkpoints, backup and restore.

pub(crate) mod access_kind;
pub(crate) mod backup;
pub(crate) mod checkpoint;
pub mod inspect;
pub(crate) mod record;
pub(crate) mod recovery;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kvdb_vfs::{DirLock, Vfs};
use kvdb_wal::Wal;
use parking_lot::Mutex;

use recovery::RecoveryReport;

/// Bookkeeping of checkpoints, held while one runs.
#[derive(Debug, Default)]
pub(crate) struct CheckpointState {
    pub(crate) count: u64,
    /// The log position after the last checkpoint.
    pub(crate) wal_end: u64,
    pub(crate) last_seq: Option<u64>,
}

/// The durable side of an open database.
pub(crate) struct Persist {
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) dir: PathBuf,
    pub(crate) wal: Wal,
    pub(crate) lock: Mutex<Option<DirLock>>,
    pub(crate) checkpoint: Mutex<CheckpointState>,
    pub(crate) recovery: RecoveryReport,
    background_errors: AtomicU64,
    last_background_error: Mutex<Option<String>>,
}

impl Persist {
    pub(crate) fn new(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        wal: Wal,
        lock: DirLock,
        recovery: RecoveryReport,
    ) -> Self {
        Self {
            vfs,
            dir,
            wal,
            lock: Mutex::new(Some(lock)),
            checkpoint: Mutex::new(CheckpointState::default()),
            recovery,
            background_errors: AtomicU64::new(0),
            last_background_error: Mutex::new(None),
        }
    }

    /// Records a failure of background work (a checkpoint or interval sync).
    pub(crate) fn note_background_error(&self, error: &crate::Error) {
        self.background_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_background_error.lock() = Some(error.to_string());
    }

    pub(crate) fn stats(&self) -> DurabilityStats {
        let checkpoint = self.checkpoint.lock();
        DurabilityStats {
            dir: self.dir.clone(),
            wal_bytes: self.wal.disk_bytes(),
            wal_segments: self.wal.segments().len(),
            wal_syncs: self.wal.sync_count(),
            checkpoints: checkpoint.count,
            last_checkpoint_seq: checkpoint.last_seq,
            wal_failure: self.wal.failure().map(|f| f.to_string()),
            wal_rotation_failure: self.wal.rotation_failure(),
            background_errors: self.background_errors.load(Ordering::Relaxed),
            last_background_error: self.last_background_error.lock().clone(),
        }
    }
}

/// The state of a persistent database's files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DurabilityStats {
    /// The database directory.
    pub dir: PathBuf,
    /// Bytes of log segments on disk.
    pub wal_bytes: u64,
    /// Log segments on disk.
    pub wal_segments: usize,
    /// Syncs of the log since the database was opened; under the `always`
    /// policy, acknowledged writes divided by this is the group-commit size.
    pub wal_syncs: u64,
    /// Checkpoints completed since the database was opened.
    pub checkpoints: u64,
    /// The sequence number of the last checkpoint's snapshot.
    pub last_checkpoint_seq: Option<u64>,
    /// Why the log refuses writes, if a write or sync failed.
    pub wal_failure: Option<String>,
    /// Why the last attempt to start a new log segment failed, if it did and
    /// none has succeeded since (writes go on in the active segment, which
    /// then grows past its size until a rotation succeeds).
    pub wal_rotation_failure: Option<String>,
    /// Failed background checkpoints and syncs.
    pub background_errors: u64,
    /// The last background failure.
    pub last_background_error: Option<String>,
}
