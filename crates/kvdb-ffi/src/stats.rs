//! `kvdb_stats_t`: a copy of a database's statistics.

use crate::boundary::{handle, out, status, write};
use crate::db::kvdb_t;
use crate::status::kvdb_status_t;

/// Statistics of a database, filled in by `kvdb_stats`. Counts of keys,
/// versions and bytes describe memory actually held, so they include
/// versions kept for open snapshots and expired keys not yet reclaimed.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvdb_stats_t {
    /// Keys whose newest version is a value.
    pub live_keys: u64,
    /// Keys held in memory, deletion markers still needed included.
    pub keys_held: u64,
    /// Versions held across all keys.
    pub versions: u64,
    /// Estimated bytes held (keys, values and overhead).
    pub bytes: u64,
    /// Keys removed because their TTL passed.
    pub expired_reclaimed: u64,
    /// Old versions freed by garbage collection.
    pub versions_reclaimed: u64,
    /// Point reads served.
    pub gets: u64,
    /// Puts applied (batches included).
    pub puts: u64,
    /// Deletes applied (batches included).
    pub deletes: u64,
    /// Write groups applied.
    pub batches: u64,
    /// Snapshots and iterators open.
    pub open_views: u64,
    /// Bytes of write-ahead log on disk (0 in memory).
    pub wal_bytes: u64,
    /// Checkpoints completed since open (0 in memory).
    pub checkpoints: u64,
}

/// Copies the statistics of `db` into `*out`.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_stats(
    db: *mut kvdb_t,
    out_stats: *mut kvdb_stats_t,
) -> kvdb_status_t {
    status("kvdb_stats", || {
        let out_stats = out(out_stats, "out")?;
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let s = db.db.stats();
        let durability = db.db.durability_stats();
        let stats = kvdb_stats_t {
            live_keys: s.live_keys,
            keys_held: s.keys_held,
            versions: s.versions,
            bytes: s.bytes,
            expired_reclaimed: s.expired_reclaimed,
            versions_reclaimed: s.versions_reclaimed,
            gets: s.gets,
            puts: s.puts,
            deletes: s.deletes,
            batches: s.batches,
            open_views: s.open_views,
            wal_bytes: durability.as_ref().map_or(0, |d| d.wal_bytes),
            checkpoints: durability.as_ref().map_or(0, |d| d.checkpoints),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out_stats, stats) };
        Ok(())
    })
}
