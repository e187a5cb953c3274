//! Recovery: rebuilding the store from the newest valid snapshot and the
//! log records after it, then opening the log for appending.
//!
//! Sequence numbers are consecutive across records, so replay can tell a
//! complete log from one with a hole: the first record after the snapshot
//! must start right after the snapshot's sequence number, and each record
//! right after the previous one. A hole (say, the newest snapshot was deleted
//! and the log it covered was already truncated) is reported as corruption
//! rather than silently losing the writes in it.
//!
//! Under a memory limit with an LRU or LFU policy, or without a limit when
//! the snapshot recorded the keys' use (which it then goes on recording),
//! the store records accesses before anything is loaded: the keys' use a
//! snapshot recorded is restored with them, and each write replayed counts
//! as its key's use as of the snapshot at the latest (the reads since it
//! are in no file, and the writes must not outrank the keys they used), so
//! that an eviction after the open chooses by the keys' use and not
//! blindly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvdb_core::{Applied, Op, PreparedBatch, SeqRange, Store, access_from_age};
use kvdb_snapshot::{load_newest, parse_snapshot_name, remove_temporaries};
use kvdb_vfs::Vfs;
use kvdb_wal::{TornTail, Wal, WalOptions, WalReader};

use crate::error::{Error, Result};
use crate::options::Options;
use crate::persist::access_kind::recorded_as;
use crate::persist::record;

/// What recovery found and did when the database was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The sequence number of the snapshot loaded, if one was.
    pub snapshot_seq: Option<u64>,
    /// Entries loaded from the snapshot.
    pub snapshot_entries: u64,
    /// Newer snapshots that failed verification and were passed over, with
    /// the reason for each.
    pub snapshots_rejected: Vec<String>,
    /// Log records applied.
    pub wal_records_applied: u64,
    /// Log records skipped because the snapshot already covered them, in
    /// the segments that were read.
    pub wal_records_skipped: u64,
    /// Log segments not read at all because the snapshot covered every
    /// record in them (they are kept for change streams).
    pub wal_segments_skipped: u64,
    /// Bytes of intact log records read.
    pub wal_bytes: u64,
    /// A damaged log tail that was cut off (the trace of a crash during a write).
    pub torn_tail: Option<TornTail>,
    /// Log segments set aside by point-in-time recovery.
    pub discarded_segments: Vec<PathBuf>,
    /// The newest sequence number after recovery.
    pub last_seq: u64,
    /// How long recovery took.
    pub duration: Duration,
}

/// What loading the newest valid snapshot left for replay to check.
struct SnapshotBase {
    /// The sequence number the store now holds everything up to.
    seq: u64,
    /// The receipt of the restored snapshot, if one was loaded.
    applied: Option<Applied>,
    /// The newest snapshot that failed verification and is newer than the
    /// one loaded: replay must reach its sequence number, or the writes it
    /// held are lost.
    newest_rejected: Option<(u64, kvdb_snapshot::Rejected)>,
}

impl RecoveryReport {
    /// True if recovery changed or passed over anything: a torn tail cut, a
    /// snapshot rejected, log segments set aside.
    pub fn repaired(&self) -> bool {
        self.torn_tail.is_some()
            || !self.snapshots_rejected.is_empty()
            || !self.discarded_segments.is_empty()
    }
}

/// One line per thing recovery did, repairs first.
impl std::fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for rejected in &self.snapshots_rejected {
            writeln!(f, "passed over a snapshot that cannot be used: {rejected}")?;
        }
        if let Some(torn) = &self.torn_tail {
            writeln!(
                f,
                "cut a damaged log tail of {} bytes off {} at byte {} (the trace of a crash during a write)",
                torn.dropped_bytes,
                torn.segment.display(),
                torn.offset
            )?;
        }
        for segment in &self.discarded_segments {
            writeln!(
                f,
                "set aside log segment {} (point-in-time recovery)",
                segment.display()
            )?;
        }
        match self.snapshot_seq {
            Some(seq) => writeln!(
                f,
                "loaded the snapshot at sequence {seq} ({} entries)",
                self.snapshot_entries
            )?,
            None => writeln!(f, "no snapshot loaded")?,
        }
        write!(
            f,
            "replayed {} log records ({} bytes, {} already in the snapshot, and {} segments it covers not read); the database is at sequence {}",
            self.wal_records_applied,
            self.wal_bytes,
            self.wal_records_skipped,
            self.wal_segments_skipped,
            self.last_seq
        )
    }
}

/// Loads the newest usable snapshot in `dir` into `store`, after setting
/// what the store's reads record: what `options`' limit asks for or,
/// without a limit, what the snapshot recorded (a tool that opens a cache
/// without its limit and checkpoints it keeps the keys' use).
fn load_snapshot(
    store: &Store,
    vfs: &dyn Vfs,
    dir: &Path,
    options: &Options,
    report: &mut RecoveryReport,
) -> Result<SnapshotBase> {
    let loaded = load_newest(vfs, dir)?;
    let recorded = loaded
        .snapshot
        .as_ref()
        .and_then(|s| recorded_as(s.info().access));
    if let Some(tracking) = options
        .eviction
        .tracking_under(options.memory_limit)
        .or(recorded)
    {
        store.set_tracking(tracking);
    }
    report.snapshots_rejected = loaded
        .rejected
        .iter()
        .map(|r| r.error.to_string())
        .collect();
    // The file name carries the sequence number even when the header is
    // unreadable; `load_newest` lists newest first.
    let newest_rejected = loaded.rejected.into_iter().find_map(|r| {
        let name = r.path.file_name()?.to_str()?;
        Some((parse_snapshot_name(name)?, r))
    });
    let Some(snapshot) = loaded.snapshot else {
        // Replay starts from the beginning of the log; its continuity checks
        // report a log that does not go back that far.
        return Ok(SnapshotBase {
            seq: 0,
            applied: None,
            newest_rejected,
        });
    };
    let seq = snapshot.info().seq;
    let mut writer = store.writer()?;
    writer.reserve(usize::try_from(snapshot.info().entries).unwrap_or(0));
    // The store is empty and the file's keys were checked to be strictly
    // ascending when it was read: the load can link the skiplist on a
    // second thread (see kvdb-core's `writer/load.rs`).
    // The keys' use the file records is restored only in the form the
    // store records now: an LRU age means nothing to LFU, nor the reverse.
    let tracking = store.tracking();
    let restores_use = recorded == Some(tracking);
    let entries = snapshot.entries().map(|entry| {
        let put = Op::Put {
            key: entry.key,
            value: entry.value,
            expires_at: entry.expires_at,
        };
        let access = entry
            .access
            .filter(|_| restores_use)
            .map(|age| access_from_age(age, seq, tracking));
        (put, access)
    });
    let applied = writer
        .load_sorted_with_access(seq, entries)
        .map_err(|e| Error::corruption_from("restoring a snapshot entry", e))?;
    report.snapshot_seq = Some(seq);
    report.snapshot_entries = snapshot.info().entries;
    Ok(SnapshotBase {
        seq,
        applied: Some(applied),
        newest_rejected,
    })
}

/// The error for snapshot `rejected`, passed over, if it holds writes at
/// or after sequence number `expected`, which the log does not reach.
fn unusable_snapshot(
    rejected: Option<(u64, kvdb_snapshot::Rejected)>,
    expected: u64,
) -> Option<Error> {
    let (seq, rejected) = rejected.filter(|(seq, _)| *seq >= expected)?;
    Some(Error::corruption_from(
        &format!(
            "snapshot {} holds writes up to sequence {seq} but cannot be used, and the log reaches only {}",
            rejected.path.display(),
            expected - 1
        ),
        rejected.error,
    ))
}

/// The log replayed into the store, before any repair.
struct Replayed {
    /// Holds what a repair would cut or set aside.
    reader: WalReader,
    /// The receipt of the last record (or snapshot chunk) applied.
    applied: Option<Applied>,
}

/// Replays the log after `base`, then checks that nothing acknowledged is
/// missing before any repair is made: the records continue without a hole
/// from the snapshot on, they reach the start of every segment kept (a
/// segment records the sequence number it starts at, so a segment cut at a
/// record boundary or deleted before an empty newest one shows), and they
/// reach every snapshot that was rejected.
fn replay(
    store: &Store,
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
    base: SnapshotBase,
    report: &mut RecoveryReport,
) -> Result<Replayed> {
    let mut reader = WalReader::open(Arc::clone(vfs), dir, options.recovery)?;
    if base.applied.is_some() {
        // Segments the snapshot covers (kept for change streams) are not
        // read at all.
        reader.skip_covered_through(base.seq);
    }
    // The keys' use the snapshot restored is as of its sequence number; the
    // reads since are in no file. Each write replayed counts as its key's
    // use as of then at the latest, so that the keys written since (in a
    // cache, the misses) do not outrank the keys read since.
    let _clock = base
        .applied
        .is_some()
        .then(|| store.hold_write_clock(base.seq));
    let mut writer = store.writer()?;
    let mut expected = base.seq + 1;
    let mut applied = base.applied;
    while let Some(rec) = reader.next_record()? {
        let malformed =
            |reason| Error::corruption(format!("log record at sequence {}: {reason}", rec.seq));
        // A covered record is skipped on its count alone, undecoded.
        let count = record::op_count(rec.payload).map_err(malformed)?;
        if count == 0 {
            return Err(Error::corruption(format!(
                "log record at sequence {} is empty",
                rec.seq
            )));
        }
        let last = rec.seq + count - 1;
        if last <= base.seq {
            report.wal_records_skipped += 1;
            continue;
        }
        let ops = record::decode(rec.payload).map_err(malformed)?;
        if rec.seq != expected {
            // A snapshot passed over that would have covered the hole is
            // the cause to name (say, one of a format this build does not
            // read).
            if let Some(unusable) = unusable_snapshot(base.newest_rejected, expected) {
                return Err(unusable);
            }
            return Err(Error::corruption(format!(
                "the log has a hole: expected sequence {expected}, found {} (a snapshot or log segment is missing)",
                rec.seq
            )));
        }
        let replay_failed = |e| Error::corruption_from("replaying the log", e);
        let batch = PreparedBatch::new(&ops).map_err(replay_failed)?;
        let range = SeqRange::starting_at(rec.seq, count).ok_or_else(|| {
            Error::corruption(format!(
                "log record at sequence {} runs past the largest sequence number",
                rec.seq
            ))
        })?;
        applied = Some(writer.apply(&batch, range).map_err(replay_failed)?);
        report.wal_records_applied += 1;
        expected = last + 1;
    }
    drop(writer);
    report.wal_segments_skipped = reader.report().segments_skipped as u64;
    if let Some(unusable) = unusable_snapshot(base.newest_rejected, expected) {
        return Err(unusable);
    }
    if let Some(segment) = reader
        .kept_segments()
        .iter()
        .filter(|s| s.start_seq.is_some_and(|start| start > expected))
        .max_by_key(|s| s.start_seq)
    {
        return Err(Error::corruption(format!(
            "the log has a hole: segment {} starts at sequence {}, but the snapshot and the records before it end at {} (a log segment, or the end of one, is missing)",
            segment.path.display(),
            segment.start_seq.unwrap_or(0),
            expected - 1
        )));
    }
    Ok(Replayed { reader, applied })
}

/// Rebuilds `store` from `dir` and opens the log for appending.
pub(crate) fn recover(
    store: &Store,
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
) -> Result<(Wal, RecoveryReport)> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    remove_temporaries(&**vfs, dir)?;
    let base = load_snapshot(store, &**vfs, dir, options, &mut report)?;
    let Replayed { reader, applied } = replay(store, vfs, dir, options, base, &mut report)?;
    let recovered = reader.finish()?;
    report.wal_bytes = recovered.report.bytes;
    report.torn_tail = recovered.report.torn_tail.clone();
    report.discarded_segments = recovered.report.discarded_segments.clone();
    // Nothing recovered is acknowledged anew, so it is all made visible at
    // once, before the database is handed out.
    if let Some(applied) = applied {
        store.publish(applied);
    }
    let last = store.applied_seq();
    let wal_options = WalOptions {
        segment_bytes: options.wal_segment_bytes,
        sync: options.sync.wal_mode(),
    };
    let wal = Wal::open(Arc::clone(vfs), dir, wal_options, recovered, last + 1)?;
    report.last_seq = last;
    report.duration = started.elapsed();
    Ok((wal, report))
}

/// Loads the contents of database directory (or backup) `dir` into `store`
/// as recovery does, checks included, but repairs and writes nothing there:
/// a torn log tail is left in place (and not loaded), temporary snapshot
/// files stay. For an in-memory copy that then touches no file.
pub(crate) fn load_read_only(
    store: &Store,
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
) -> Result<RecoveryReport> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let base = load_snapshot(store, &**vfs, dir, options, &mut report)?;
    let Replayed { applied, .. } = replay(store, vfs, dir, options, base, &mut report)?;
    if let Some(applied) = applied {
        store.publish(applied);
    }
    report.last_seq = store.applied_seq();
    report.duration = started.elapsed();
    Ok(report)
}
