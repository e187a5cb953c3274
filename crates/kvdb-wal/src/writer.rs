//! Appending to the log: group commit, write-through, rotation, truncation.
//!
//! # Group commit
//!
//! In [`SyncMode::GroupCommit`], [`Wal::append`] only encodes the record into
//! an in-memory buffer and returns its end position. A caller that needs the
//! record durable calls [`Wal::sync_to`]: if no one is syncing, it becomes the
//! leader, takes everything buffered so far (its own record and any appended
//! after it), writes it with one write and syncs once; callers arriving
//! meanwhile wait, and are released by that sync if it covered them or lead
//! the next one. While the leader does I/O, appends keep filling a fresh
//! buffer, so the next group forms during the current sync.
//!
//! # Gathering a group
//!
//! Left alone, concurrent writers settle into two alternating groups: while
//! one group's sync runs, the next leader starts as soon as it arrives, with
//! only the writers that were not in the running group. A new leader
//! therefore waits until as many records are buffered as the previous group
//! held (the writers released by the last sync are then back in one group),
//! but stops as soon as no record arrives for [`GATHER_GAP`], and in any
//! case after [`GATHER_LIMIT`]. A lone writer's previous group is one
//! record, its own, so it never waits; when concurrency drops, the wait ends
//! after one gap and the expected size follows.
//!
//! # Failure
//!
//! After a failed write or sync the log is *failed*: whether those bytes
//! reached the disk is unknown, so every later append and sync fails with
//! [`WalError::Failed`] until the log is reopened (and replayed) — the same
//! stance PostgreSQL took after learning that a failed fsync cannot be retried.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvdb_vfs::{Vfs, WritableFile};
use parking_lot::{Condvar, Mutex};

use crate::error::WalError;
use crate::format::{MAX_PAYLOAD, begin_frame, encode_segment_header, seal_frame};
use crate::options::{SyncMode, WalOptions};
use crate::reader::Recovered;
use crate::segment::{SegmentInfo, segment_name};

/// A position in the log: bytes of records appended since it was opened.
pub type LogPosition = u64;

/// How long a new leader waits at most for the previous group's writers.
pub const GATHER_LIMIT: Duration = Duration::from_micros(150);

/// A gathering leader stops waiting once no record arrives for this long.
pub const GATHER_GAP: Duration = Duration::from_micros(30);

struct State {
    /// Records appended but not yet written (group commit).
    buf: Vec<u8>,
    /// The highest first sequence number of a record in `buf`.
    buf_max_seq: u64,
    /// The sequence number after the last operation in `buf`.
    buf_next_seq: u64,
    /// Records in `buf`.
    buf_records: usize,
    /// Records the last sync covered.
    last_group: usize,
    /// A leader is waiting for records to gather.
    gathering: bool,
    /// The position after the last appended record.
    end: LogPosition,
    /// Everything before this position is durable.
    durable: LogPosition,
    /// A leader is writing and syncing.
    syncing: bool,
    failure: Option<Arc<str>>,
}

struct Io {
    file: Box<dyn WritableFile>,
    active: SegmentInfo,
    closed: VecDeque<SegmentInfo>,
    /// The sequence number after the last operation written to a file: the
    /// start of the next segment.
    next_seq: u64,
    /// Why the last attempt to start a new segment failed, if it did.
    rotation_failure: Option<String>,
}

/// The write-ahead log, open for appending.
pub struct Wal {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: WalOptions,
    state: Mutex<State>,
    synced: Condvar,
    /// Signalled on append while a leader is gathering.
    appended: Condvar,
    io: Mutex<Io>,
    /// Syncs of the log file done so far.
    syncs: AtomicU64,
    /// Set once `State::failure` is: lets [`Wal::failure`] answer without
    /// the state lock while the log is healthy, on every write.
    stopped: AtomicBool,
}

/// Creates segment `id`, starting at sequence number `start_seq`: header
/// written and synced, directory entry synced. On failure, a partly created
/// file is removed (if the OS lets us) and the log is left as it was.
fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    id: u64,
    start_seq: u64,
) -> Result<(Box<dyn WritableFile>, SegmentInfo), WalError> {
    let path = dir.join(segment_name(id));
    let fail = |what: &str, e| WalError::io(format!("{what} {}", path.display()), e);
    let mut file = match vfs.create(&path) {
        // Left by an earlier attempt whose clean-up failed: this id is past
        // every segment in use, so the file holds nothing of value.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            vfs.remove(&path).map_err(|e| fail("removing", e))?;
            vfs.create(&path)
        }
        other => other,
    }
    .map_err(|e| fail("creating", e))?;
    let header = encode_segment_header(id, start_seq);
    let written = file
        .append(&header)
        .map_err(|e| fail("writing the header of", e))
        .and_then(|()| file.sync().map_err(|e| fail("syncing", e)))
        .and_then(|()| {
            vfs.sync_dir(dir)
                .map_err(|e| WalError::io(format!("syncing directory {}", dir.display()), e))
        });
    if let Err(e) = written {
        drop(file);
        // Best effort: a leftover empty segment is harmless (replay skips
        // it, and the next attempt recreates the same id from scratch).
        let _ = vfs.remove(&path);
        return Err(e);
    }
    let info = SegmentInfo {
        id,
        path,
        bytes: header.len() as u64,
        max_seq: 0,
        start_seq: Some(start_seq),
        header_len: header.len() as u64,
    };
    Ok((file, info))
}

impl Io {
    fn write(&mut self, bytes: &[u8], max_seq: u64, next_seq: u64) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.append(bytes)?;
        self.active.bytes += bytes.len() as u64;
        self.active.max_seq = self.active.max_seq.max(max_seq);
        self.next_seq = next_seq;
        Ok(())
    }

    /// Syncs the active segment and starts the next one.
    ///
    /// Only a failed sync of the active segment is a failure of the log (its
    /// records' fate is then unknown). If the new segment cannot be created
    /// (no file descriptors left, a full directory), the active segment is
    /// intact and stays active: the error is returned as [`Rotation::Failed`]
    /// and appending goes on.
    fn rotate(&mut self, vfs: &dyn Vfs, dir: &Path) -> Result<Rotation, WalError> {
        self.file
            .sync()
            .map_err(|e| WalError::io(format!("syncing {}", self.active.path.display()), e))?;
        match create_segment(vfs, dir, self.active.id + 1, self.next_seq) {
            Ok((file, info)) => {
                self.file = file;
                let old = std::mem::replace(&mut self.active, info);
                self.closed.push_back(old);
                self.rotation_failure = None;
                Ok(Rotation::Done)
            }
            Err(e) => {
                self.rotation_failure = Some(e.to_string());
                Ok(Rotation::Failed(e))
            }
        }
    }
}

/// The outcome of a rotation whose sync succeeded.
enum Rotation {
    Done,
    /// The new segment could not be created; the old one stays active.
    Failed(WalError),
}

impl Wal {
    /// Opens the log in `dir` for appending after replay: a new segment is
    /// started after the newest one replay kept, recording `next_seq` (the
    /// sequence number the next record will carry) as its start. Segments
    /// that hold no record (left by sessions that wrote nothing) are then
    /// removed, so opening and closing repeatedly does not pile up files; the
    /// new segment is durable first, so the start sequence number on disk is
    /// never lost on the way.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: WalOptions,
        recovered: Recovered,
        next_seq: u64,
    ) -> Result<Self, WalError> {
        let next_id = recovered.segments.last().map_or(1, |s| s.id + 1);
        // What recovery read may not be durable yet: a record whose sync
        // failed, or one written under a policy that does not sync, may be
        // there only because the file system still held it. New records
        // follow it in sequence, so it is made durable first; otherwise a
        // power failure could lose it and keep them, a hole in the log.
        for segment in recovered.segments.iter().filter(|s| !s.is_empty()) {
            vfs.sync_file(&segment.path)
                .map_err(|e| WalError::io(format!("syncing {}", segment.path.display()), e))?;
        }
        let (file, active) = create_segment(&*vfs, dir, next_id, next_seq)?;
        let (empty, segments): (Vec<_>, Vec<_>) = recovered
            .segments
            .into_iter()
            .partition(SegmentInfo::is_empty);
        for segment in &empty {
            vfs.remove(&segment.path)
                .map_err(|e| WalError::io(format!("removing {}", segment.path.display()), e))?;
        }
        if !empty.is_empty() {
            vfs.sync_dir(dir)
                .map_err(|e| WalError::io(format!("syncing directory {}", dir.display()), e))?;
        }
        Ok(Self {
            vfs,
            dir: dir.to_path_buf(),
            options,
            state: Mutex::new(State {
                buf: Vec::new(),
                buf_max_seq: 0,
                buf_next_seq: next_seq,
                buf_records: 0,
                last_group: 1,
                gathering: false,
                end: 0,
                durable: 0,
                syncing: false,
                failure: None,
            }),
            synced: Condvar::new(),
            appended: Condvar::new(),
            syncs: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            io: Mutex::new(Io {
                file,
                active,
                closed: segments.into(),
                next_seq,
                rotation_failure: None,
            }),
        })
    }

    /// Appends a record holding the `count` operations with sequence numbers
    /// from `seq`, its payload written by `encode` into the buffer it is
    /// given. Returns the position after the record; pass it to
    /// [`Wal::sync_to`] to wait until it is durable.
    ///
    /// In write-through mode the record is written to the file before this
    /// returns. Each record starts right after the previous one's operations
    /// (the segments record where they start, and replay checks it).
    pub fn append(
        &self,
        seq: u64,
        count: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<LogPosition, WalError> {
        let mut state = self.state.lock();
        if let Some(failure) = &state.failure {
            return Err(WalError::Failed(Arc::clone(failure)));
        }
        let start = begin_frame(&mut state.buf);
        encode(&mut state.buf);
        let frame_len = state.buf.len() - start;
        let payload_len = frame_len - crate::format::FRAME_HEADER_LEN;
        if payload_len > MAX_PAYLOAD {
            state.buf.truncate(start);
            return Err(WalError::RecordTooLarge { len: payload_len });
        }
        seal_frame(&mut state.buf, start, seq);
        state.buf_max_seq = seq;
        state.buf_next_seq = seq + count;
        state.buf_records += 1;
        state.end += frame_len as u64;
        if state.gathering {
            self.appended.notify_one();
        }
        if self.options.sync == SyncMode::WriteThrough {
            let state = &mut *state;
            let mut io = self.io.lock();
            let written = io.write(&state.buf, state.buf_max_seq, state.buf_next_seq);
            state.buf.clear();
            state.buf_records = 0;
            if let Err(e) = written {
                return Err(self.fail(state, WalError::io("appending to the write-ahead log", e)));
            }
            if io.active.bytes >= self.options.segment_bytes
                && let Err(e) = io.rotate(&*self.vfs, &self.dir)
            {
                return Err(self.fail(state, e));
            }
        }
        Ok(state.end)
    }

    fn fail(&self, state: &mut State, error: WalError) -> WalError {
        state
            .failure
            .get_or_insert_with(|| error.to_string().into());
        self.stopped.store(true, Ordering::Release);
        error
    }

    /// Waits until every record before `position` is durable, writing and
    /// syncing as the group's leader if no one else is.
    pub fn sync_to(&self, position: LogPosition) -> Result<(), WalError> {
        let mut state = self.state.lock();
        loop {
            if let Some(failure) = &state.failure {
                return Err(WalError::Failed(Arc::clone(failure)));
            }
            if state.durable >= position {
                return Ok(());
            }
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            state.syncing = true;
            // Gather: wait for the writers the last sync released.
            let deadline = Instant::now() + GATHER_LIMIT;
            state.gathering = true;
            while state.buf_records < state.last_group && state.failure.is_none() {
                let gap_end = (Instant::now() + GATHER_GAP).min(deadline);
                if self.appended.wait_until(&mut state, gap_end).timed_out() {
                    break;
                }
            }
            state.gathering = false;
            state.last_group = state.buf_records.max(1);
            state.buf_records = 0;
            let mut group = std::mem::take(&mut state.buf);
            let (max_seq, next_seq) = (state.buf_max_seq, state.buf_next_seq);
            let target = state.end;
            drop(state);
            let result = self.write_and_sync(&group, max_seq, next_seq);
            state = self.state.lock();
            state.syncing = false;
            self.synced.notify_all();
            match result {
                Ok(()) => state.durable = state.durable.max(target),
                // The leader reports the operating system's error itself;
                // the followers see the log failed.
                Err(e) => return Err(self.fail(&mut state, e)),
            }
            if state.buf.is_empty() {
                // Hand the allocation back for the next group.
                group.clear();
                state.buf = group;
            }
        }
    }

    fn write_and_sync(&self, group: &[u8], max_seq: u64, next_seq: u64) -> Result<(), WalError> {
        let mut io = self.io.lock();
        io.write(group, max_seq, next_seq)
            .map_err(|e| WalError::io("writing to the write-ahead log", e))?;
        io.file
            .sync()
            .map_err(|e| WalError::io("syncing the write-ahead log", e))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if io.active.bytes >= self.options.segment_bytes {
            // The group is durable whatever happens to the rotation; a new
            // segment that cannot be created yet is tried again next time.
            io.rotate(&*self.vfs, &self.dir)?;
        }
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&self) -> Result<(), WalError> {
        let end = self.state.lock().end;
        self.sync_to(end)
    }

    /// The position after the last appended record.
    pub fn end(&self) -> LogPosition {
        self.state.lock().end
    }

    /// Starts a new segment, so that everything appended so far can later be
    /// dropped by [`Wal::truncate_through`] without touching what follows.
    ///
    /// A failed sync fails the log (see the module docs). A new segment that
    /// cannot be created (say, no file descriptor is left) is an error of
    /// this call only: the active segment stays active and writes go on.
    pub fn rotate(&self) -> Result<(), WalError> {
        self.sync()?;
        let rotated = self.io.lock().rotate(&*self.vfs, &self.dir);
        match rotated {
            Ok(Rotation::Done) => Ok(()),
            Ok(Rotation::Failed(e)) => Err(e),
            // The io lock is released first: appends take state, then io.
            Err(e) => Err(self.fail(&mut self.state.lock(), e)),
        }
    }

    /// Why the last attempt to start a new segment failed, if it did and no
    /// rotation has succeeded since. Such a failure does not stop the log.
    pub fn rotation_failure(&self) -> Option<String> {
        self.io.lock().rotation_failure.clone()
    }

    /// Removes the oldest closed segments whose records all have sequence
    /// numbers at or below `seq` (they are covered by a snapshot). Returns how
    /// many were removed.
    pub fn truncate_through(&self, seq: u64) -> Result<usize, WalError> {
        self.truncate_through_keeping(seq, 0)
    }

    /// As [`Wal::truncate_through`], but keeps the newest of those segments
    /// while the ones kept hold less than `keep_bytes` (so up to one segment
    /// more than `keep_bytes`): readers of recent history, such as watchers
    /// of changes, can still replay them.
    pub fn truncate_through_keeping(&self, seq: u64, keep_bytes: u64) -> Result<usize, WalError> {
        let mut io = self.io.lock();
        let covered = io.closed.iter().take_while(|s| s.max_seq <= seq).count();
        let mut kept_bytes = 0u64;
        let mut keep = 0;
        for segment in io.closed.iter().take(covered).rev() {
            if kept_bytes >= keep_bytes {
                break;
            }
            kept_bytes += segment.bytes;
            keep += 1;
        }
        let mut removed = 0;
        while removed < covered - keep {
            let segment = io.closed.pop_front().expect("checked above");
            self.vfs
                .remove(&segment.path)
                .map_err(|e| WalError::io(format!("removing {}", segment.path.display()), e))?;
            removed += 1;
        }
        if removed > 0 {
            self.vfs.sync_dir(&self.dir).map_err(|e| {
                WalError::io(format!("syncing directory {}", self.dir.display()), e)
            })?;
        }
        Ok(removed)
    }

    /// The segments on disk, oldest first (the active one last).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let io = self.io.lock();
        io.closed
            .iter()
            .cloned()
            .chain([io.active.clone()])
            .collect()
    }

    /// Bytes of all segments on disk.
    pub fn disk_bytes(&self) -> u64 {
        let io = self.io.lock();
        io.closed.iter().map(|s| s.bytes).sum::<u64>() + io.active.bytes
    }

    /// Syncs of the log file done so far (each may have covered a group of
    /// records).
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The failure that stopped the log, if one did.
    pub fn failure(&self) -> Option<Arc<str>> {
        if !self.stopped.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().failure.clone()
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish()
    }
}
