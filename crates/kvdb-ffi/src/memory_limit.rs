//! The memory limit and eviction: `kvdb_options_set_memory_limit`,
//! `kvdb_set_memory_limit`, `kvdb_memory_usage` and the `KVDB_EVICT_*`
//! policies (Redis's `maxmemory-policy` names and meanings).

use std::ffi::c_int;

use engine::EvictionPolicy;

use crate::boundary::{handle, handle_mut, status, write};
use crate::db::kvdb_t;
use crate::error::{FfiError, FfiResult};
use crate::options::kvdb_options_t;
use crate::status::kvdb_status_t;

/// A write that would pass the limit fails with `KVDB_MEMORY_LIMIT`.
pub const KVDB_EVICT_NOEVICTION: c_int = 0;
/// Evict the least recently used keys.
pub const KVDB_EVICT_ALLKEYS_LRU: c_int = 1;
/// Evict the least frequently used keys.
pub const KVDB_EVICT_ALLKEYS_LFU: c_int = 2;
/// Evict random keys.
pub const KVDB_EVICT_ALLKEYS_RANDOM: c_int = 3;
/// Evict the least recently used keys that have a TTL.
pub const KVDB_EVICT_VOLATILE_LRU: c_int = 4;
/// Evict the least frequently used keys that have a TTL.
pub const KVDB_EVICT_VOLATILE_LFU: c_int = 5;
/// Evict random keys that have a TTL.
pub const KVDB_EVICT_VOLATILE_RANDOM: c_int = 6;
/// Evict the keys that expire soonest.
pub const KVDB_EVICT_VOLATILE_TTL: c_int = 7;

fn parse_policy(code: c_int) -> FfiResult<EvictionPolicy> {
    EvictionPolicy::from_code(code).ok_or_else(|| {
        FfiError::invalid(format!(
            "policy {code} is not a KVDB_EVICT_* value (0 to 7)"
        ))
    })
}

/// Sets the memory limit in bytes (0, the default: none) and the policy
/// applied at it (`KVDB_EVICT_*`). A database that holds more than the
/// limit when opened evicts down to it before `kvdb_open` returns, as
/// `kvdb_set_memory_limit` does. Under an LRU or LFU policy it chooses by
/// the keys' use as of the last checkpoint (a snapshot records it) and the
/// writes replayed from the log. Without a limit, reads go on recording
/// the kind of use the snapshot recorded, so that opening a cache without
/// its limit and checkpointing it keeps that use.
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_memory_limit(
    opts: *mut kvdb_options_t,
    bytes: u64,
    policy: c_int,
) -> kvdb_status_t {
    status("kvdb_options_set_memory_limit", || {
        let policy = parse_policy(policy)?;
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.memory_limit = bytes;
        opts.options.eviction = policy;
        Ok(())
    })
}

/// Changes the memory limit (0: none) and the policy of an open database.
/// If it holds more than the new limit, the policy evicts down to it
/// before this returns; if the keys the policy may evict cannot free that
/// much, it evicts them all and returns `KVDB_OK`, and writes are refused
/// with `KVDB_MEMORY_LIMIT` until room is made. Setting an LRU or LFU
/// policy where none recorded the keys' use, or changing between LRU and
/// LFU, counts every key held as written now (one pass over the keys).
/// Removing the limit (0) leaves what reads record as it was.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_set_memory_limit(
    db: *mut kvdb_t,
    bytes: u64,
    policy: c_int,
) -> kvdb_status_t {
    status("kvdb_set_memory_limit", || {
        let policy = parse_policy(policy)?;
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        Ok(db.db.set_memory_limit(bytes, policy)?)
    })
}

/// Reports the bytes the database holds (as the allocator sizes its
/// blocks, versions kept for open snapshots included), its limit (0: none)
/// and the keys evicted since it opened. Any out-parameter may be NULL
/// when its figure is not wanted.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; each out-parameter is NULL or
/// valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_memory_usage(
    db: *mut kvdb_t,
    used: *mut u64,
    limit: *mut u64,
    evicted_keys: *mut u64,
) -> kvdb_status_t {
    status("kvdb_memory_usage", || {
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let usage = db.db.memory_usage();
        for (ptr, value) in [
            (used, usage.used),
            (limit, usage.limit),
            (evicted_keys, usage.evicted_keys),
        ] {
            if !ptr.is_null() {
                // SAFETY: non-NULL, and valid for writing per the contract.
                unsafe { write(ptr, value) };
            }
        }
        Ok(())
    })
}
