//! `kvdb_recovery_t`: what recovery found and did when a database was
//! opened, for C callers (the Rust API's `RecoveryReport`).

use std::ffi::c_char;

use crate::boundary::{handle, out, status};
use crate::db::kvdb_t;
use crate::error::{FfiError, copy_message};
use crate::status::kvdb_status_t;

/// What recovery found and did when the database was opened, filled in by
/// `kvdb_recovery_info`. All zero for an in-memory database.
///
/// The struct may grow at its end in later versions: set `size` to
/// `sizeof(kvdb_recovery_t)` before the call; the library fills in only the
/// fields that fit in `size` bytes and sets `size` to what it filled in.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvdb_recovery_t {
    /// In: the bytes the caller's struct holds. Out: the bytes filled in.
    pub size: usize,
    /// True if a snapshot was loaded.
    pub snapshot_loaded: bool,
    /// The sequence number of the snapshot loaded.
    pub snapshot_seq: u64,
    /// Entries loaded from the snapshot.
    pub snapshot_entries: u64,
    /// Newer snapshots that failed verification and were passed over (an
    /// older snapshot and the log covered everything they held; otherwise
    /// the open would have failed with `KVDB_CORRUPTION`).
    pub snapshots_rejected: u64,
    /// Log records applied.
    pub wal_records_applied: u64,
    /// Log records skipped because the snapshot already held them.
    pub wal_records_skipped: u64,
    /// Bytes of intact log records read.
    pub wal_bytes: u64,
    /// True if a damaged log tail (the trace of a crash during a write) was
    /// cut off.
    pub torn_tail_cut: bool,
    /// The length the damaged segment was cut to.
    pub torn_tail_offset: u64,
    /// The bytes cut off.
    pub torn_tail_bytes: u64,
    /// Log segments set aside by point-in-time recovery.
    pub segments_discarded: u64,
    /// The newest sequence number after recovery.
    pub last_seq: u64,
    /// How long recovery took, in microseconds.
    pub duration_us: u64,
    /// Log segments not read at all because the snapshot held every record
    /// in them (kept for change streams).
    pub wal_segments_skipped: u64,
}

/// Copies what recovery found and did into `*out`, whose `size` the caller
/// has set to `sizeof(kvdb_recovery_t)` (see the struct). `KVDB_OK` with
/// every field zero for an in-memory database. `kvdb_recovery_message`
/// gives the same in words, with file names.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `out` is valid for reading and
/// writing `out->size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_recovery_info(
    db: *mut kvdb_t,
    out_info: *mut kvdb_recovery_t,
) -> kvdb_status_t {
    status("kvdb_recovery_info", || {
        let out_info = out(out_info, "out")?;
        // SAFETY: per the contract, `out` is readable for its `size` field.
        let size = unsafe { std::ptr::addr_of!((*out_info).size).read() };
        if size < std::mem::size_of::<usize>() {
            return Err(FfiError::invalid(format!(
                "out->size is {size}: set it to sizeof(kvdb_recovery_t)"
            )));
        }
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let mut info = kvdb_recovery_t::default();
        if let Some(r) = db.db.recovery_report() {
            info = kvdb_recovery_t {
                size: 0,
                snapshot_loaded: r.snapshot_seq.is_some(),
                snapshot_seq: r.snapshot_seq.unwrap_or(0),
                snapshot_entries: r.snapshot_entries,
                snapshots_rejected: r.snapshots_rejected.len() as u64,
                wal_records_applied: r.wal_records_applied,
                wal_records_skipped: r.wal_records_skipped,
                wal_bytes: r.wal_bytes,
                torn_tail_cut: r.torn_tail.is_some(),
                torn_tail_offset: r.torn_tail.as_ref().map_or(0, |t| t.offset),
                torn_tail_bytes: r.torn_tail.as_ref().map_or(0, |t| t.dropped_bytes),
                segments_discarded: r.discarded_segments.len() as u64,
                last_seq: r.last_seq,
                duration_us: u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX),
                wal_segments_skipped: r.wal_segments_skipped,
            };
        }
        let filled = size.min(std::mem::size_of::<kvdb_recovery_t>());
        info.size = filled;
        // SAFETY: `out` is valid for `size >= filled` bytes, and `info` is
        // a plain `repr(C)` value of at least `filled` bytes; the regions
        // are distinct (one is on our stack).
        unsafe {
            std::ptr::copy_nonoverlapping(
                std::ptr::addr_of!(info).cast::<u8>(),
                out_info.cast::<u8>(),
                filled,
            );
        }
        Ok(())
    })
}

/// Copies what recovery found and did, in words (one line per finding,
/// naming files and offsets), into `buf` like `kvdb_last_error`: at most
/// `cap` bytes with the NUL, and returns the full length. Empty for an
/// in-memory database; 0 for a NULL `db`.
///
/// # Safety
///
/// `db` is NULL or a live handle; `buf` is NULL or valid for `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_recovery_message(
    db: *mut kvdb_t,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    crate::boundary::guard("kvdb_recovery_message", || {
        // SAFETY: per the contract.
        let Ok(db) = (unsafe { handle(db, "db") }) else {
            return 0;
        };
        let text = db
            .db
            .recovery_report()
            .map(|r| r.to_string())
            .unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { copy_message(&text, buf, cap) }
    })
}
