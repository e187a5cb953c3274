//! Checkpoints: writing a snapshot file of the current state and dropping
//! the log it covers.
//!
//! 1. Rotate the log, so that the records written so far sit in closed
//!    segments that a snapshot can make removable.
//! 2. Take a read view and stream it to a snapshot file (writers go on).
//!    The view sees what is published; a write still waiting for its sync
//!    is not in the snapshot, and stays in the log (its segment is removed
//!    only once a later snapshot covers every record in it). Publishing is
//!    left to the write path alone.
//! 3. Keep the newest `snapshots_to_keep` snapshots, and remove the log
//!    segments the *oldest kept* snapshot covers, so that recovery can still
//!    fall back to any kept snapshot if a newer one is damaged — except the
//!    newest of them, up to `watch_log_retention_bytes`, which watchers of
//!    changes replay from (recovery skips what a snapshot covers).

use std::time::{Duration, Instant};

use std::path::Path;
use std::sync::Arc;

use kvdb_core::{ReadView, Store, Tracking, access_age};
use kvdb_snapshot::{SnapshotInfo, SnapshotWriter, list, retain};
use kvdb_vfs::Vfs;

use crate::db::Inner;
use crate::error::Result;
use crate::persist::access_kind::recorded_kind;

/// Streams every live entry `view` sees, with its absolute expiry, into a
/// new snapshot file in `dir` at the view's sequence number, and syncs it
/// (writers go on meanwhile). Used by checkpoints and backups.
///
/// When the store records its keys' use (a memory limit with an LRU or LFU
/// policy), each entry records its key's as an age at the view's sequence
/// number (see kvdb-core's `access_age`), for an eviction after the
/// database reopens. The use is read as it stands when the entry is
/// written, not as of the view. If what the store records switches (a
/// policy changed between LRU and LFU, or to one that ranks nothing) while
/// the file is written, its words are in two forms, and the file is
/// written again; the last of [`WRITE_ATTEMPTS`] records no use at all
/// rather than mix them.
pub(crate) fn write_snapshot(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    view: &ReadView,
    store: &Store,
) -> Result<SnapshotInfo> {
    let mut attempt = 1;
    loop {
        let span = store.tracking_span();
        let tracking = if attempt < WRITE_ATTEMPTS {
            span.tracking
        } else {
            Tracking::Off
        };
        let access = recorded_kind(tracking);
        let mut writer = SnapshotWriter::create_recording(
            Arc::clone(vfs),
            dir,
            view.seq(),
            view.time_ms(),
            access,
        )?;
        let mut cursor = view.cursor::<&[u8]>(..);
        cursor.seek_to_first();
        while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
            let age = access_age(cursor.access().unwrap_or(0), view.seq(), tracking);
            writer.add_with_access(key, value, cursor.expires_at(), age)?;
            cursor.next();
        }
        if tracking == Tracking::Off || store.tracking_held_since(span) {
            return Ok(writer.finish()?);
        }
        // `writer`, dropped unfinished, removes its temporary file.
        attempt += 1;
    }
}

/// How many times [`write_snapshot`] writes a file that a switch of what
/// the store records overlapped, the last time recording no use.
const WRITE_ATTEMPTS: u32 = 3;

/// What a checkpoint did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// The sequence number the snapshot reads at (0 in memory).
    pub seq: u64,
    /// Entries written (0 when nothing was written).
    pub entries: u64,
    /// Bytes of the snapshot file.
    pub snapshot_bytes: u64,
    /// False when nothing was written: the database is in memory, or a
    /// snapshot at this sequence already existed and the store records no
    /// keys' use (under a memory limit with an LRU or LFU policy, reads
    /// since that snapshot change what it would record, and it is
    /// replaced).
    pub wrote_snapshot: bool,
    /// Log segments removed.
    pub wal_segments_removed: usize,
    /// Log bytes on disk afterwards.
    pub wal_bytes_after: u64,
    /// How long it took.
    pub duration: Duration,
}

impl Inner {
    /// Writes a snapshot and drops the log it covers; a no-op in memory.
    pub(crate) fn checkpoint(&self) -> Result<CheckpointReport> {
        if self.persist.is_some() {
            self.check_open()?;
        }
        self.checkpoint_open_or_closing()
    }

    /// [`Inner::checkpoint`] without the check that the database is open:
    /// for a close, which has marked it closed already (no write can start)
    /// and stopped the background threads.
    pub(crate) fn checkpoint_open_or_closing(&self) -> Result<CheckpointReport> {
        let Some(persist) = &self.persist else {
            return Ok(CheckpointReport::default());
        };
        let started = Instant::now();
        let mut state = persist.checkpoint.lock();
        persist.wal.rotate()?;
        let view = self.store.snapshot();
        let mut report = CheckpointReport {
            seq: view.seq(),
            ..CheckpointReport::default()
        };
        // A snapshot at this sequence number holds the same data; it is
        // written again (replaced whole, by a rename) only if the keys' use
        // is recorded, which reads since it have changed.
        let existing = list(&*persist.vfs, &persist.dir)?;
        let tracking = self.store.tracking();
        let current = existing.first().map(|(seq, _)| *seq) == Some(view.seq());
        if !current || tracking != Tracking::Off {
            let info = write_snapshot(&persist.vfs, &persist.dir, &view, &self.store)?;
            report.entries = info.entries;
            report.snapshot_bytes = info.bytes;
            report.wrote_snapshot = true;
        }
        drop(view);
        let kept = retain(&*persist.vfs, &persist.dir, self.options.snapshots_to_keep)?;
        if let Some(&oldest_kept) = kept.last() {
            report.wal_segments_removed = persist
                .wal
                .truncate_through_keeping(oldest_kept, self.options.watch_log_retention_bytes)?;
        }
        report.wal_bytes_after = persist.wal.disk_bytes();
        state.count += 1;
        state.wal_end = persist.wal.end();
        state.last_seq = Some(report.seq);
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Checkpoints if the log has grown by the configured amount since the
    /// last checkpoint. Run by the background checkpoint thread.
    pub(crate) fn checkpoint_if_due(&self) -> Result<Option<CheckpointReport>> {
        let (Some(persist), Some(threshold)) =
            (&self.persist, self.options.checkpoint_after_wal_bytes)
        else {
            return Ok(None);
        };
        // The last checkpoint's log end first: a checkpoint that finishes
        // between the two reads then cannot put it ahead of the end read
        // (the log's end only grows).
        let last = persist.checkpoint.lock().wal_end;
        let since = persist.wal.end().saturating_sub(last);
        if since < threshold {
            return Ok(None);
        }
        self.checkpoint().map(Some)
    }
}
