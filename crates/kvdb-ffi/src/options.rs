//! `kvdb_options_t`: options for `kvdb_open`. Owned by the caller
//! (`kvdb_options_new` / `kvdb_options_free`); `kvdb_open` only reads it.

use std::ffi::c_int;
use std::time::Duration;

use engine::{Options, RecoveryMode, SyncPolicy};

use crate::boundary::{guard, handle_mut, status};
use crate::error::FfiError;
use crate::status::kvdb_status_t;

impl crate::boundary::Handle for kvdb_options_t {}

/// Options for opening a database (opaque).
pub struct kvdb_options_t {
    pub(crate) options: Options,
}

/// Sync policy: leave flushing to the operating system.
pub const KVDB_SYNC_NEVER: c_int = 0;
/// Sync policy: sync in the background every `interval_ms`.
pub const KVDB_SYNC_INTERVAL: c_int = 1;
/// Sync policy: sync before acknowledging each write (the default).
pub const KVDB_SYNC_ALWAYS: c_int = 2;

/// Recovery: cut a torn log tail; other damage is an error (the default).
pub const KVDB_RECOVERY_TOLERATE_CORRUPT_TAIL: c_int = 0;
/// Recovery: any damage, a torn tail included, is an error.
pub const KVDB_RECOVERY_ABSOLUTE_CONSISTENCY: c_int = 1;
/// Recovery: stop at the first damage and open what precedes it.
pub const KVDB_RECOVERY_POINT_IN_TIME: c_int = 2;

/// New options with the defaults: `KVDB_SYNC_ALWAYS`, background expiry,
/// garbage collection and checkpoints. Free with `kvdb_options_free`.
/// Returns NULL only if the library failed internally.
#[unsafe(no_mangle)]
pub extern "C" fn kvdb_options_new() -> *mut kvdb_options_t {
    guard("kvdb_options_new", || {
        Box::into_raw(Box::new(kvdb_options_t {
            options: Options::default(),
        }))
    })
}

/// Frees options; NULL is a no-op.
///
/// # Safety
///
/// `opts` is NULL or was returned by `kvdb_options_new` and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_free(opts: *mut kvdb_options_t) {
    guard("kvdb_options_free", || {
        if !opts.is_null() {
            // SAFETY: per the contract, `opts` came from Box::into_raw.
            drop(unsafe { Box::from_raw(opts) });
        }
    });
}

/// Sets when writes reach stable storage: `KVDB_SYNC_NEVER`,
/// `KVDB_SYNC_INTERVAL` (every `interval_ms`, at least 1) or
/// `KVDB_SYNC_ALWAYS` (`interval_ms` ignored). Any other mode, or an interval
/// of 0, is `KVDB_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_sync(
    opts: *mut kvdb_options_t,
    mode: c_int,
    interval_ms: u32,
) -> kvdb_status_t {
    status("kvdb_options_set_sync", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.sync = match mode {
            KVDB_SYNC_NEVER => SyncPolicy::Never,
            KVDB_SYNC_INTERVAL if interval_ms == 0 => {
                return Err(FfiError::invalid("the sync interval must be at least 1 ms"));
            }
            KVDB_SYNC_INTERVAL => SyncPolicy::Interval(Duration::from_millis(interval_ms.into())),
            KVDB_SYNC_ALWAYS => SyncPolicy::Always,
            other => return Err(FfiError::invalid(format!("unknown sync mode {other}"))),
        };
        Ok(())
    })
}

/// Sets what recovery does with a damaged log: one of the
/// `KVDB_RECOVERY_*` modes; anything else is `KVDB_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_recovery_mode(
    opts: *mut kvdb_options_t,
    mode: c_int,
) -> kvdb_status_t {
    status("kvdb_options_set_recovery_mode", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.recovery = match mode {
            KVDB_RECOVERY_TOLERATE_CORRUPT_TAIL => RecoveryMode::TolerateCorruptTail,
            KVDB_RECOVERY_ABSOLUTE_CONSISTENCY => RecoveryMode::AbsoluteConsistency,
            KVDB_RECOVERY_POINT_IN_TIME => RecoveryMode::PointInTime,
            other => return Err(FfiError::invalid(format!("unknown recovery mode {other}"))),
        };
        Ok(())
    })
}

/// Sets how many bytes of log trigger a background checkpoint; 0 disables
/// background checkpoints (call `kvdb_checkpoint` yourself). Default 256 MiB.
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_checkpoint_bytes(
    opts: *mut kvdb_options_t,
    bytes: u64,
) -> kvdb_status_t {
    status("kvdb_options_set_checkpoint_bytes", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.checkpoint_after_wal_bytes = (bytes > 0).then_some(bytes);
        Ok(())
    })
}

/// Sets what change streams retain: `memory_bytes` of recent committed
/// batches in memory (default 8 MiB; 0 turns change streams off and saves
/// the copy each write makes for them), and `log_bytes` of log that
/// checkpoints keep although a snapshot covers it, so watchers can replay
/// older changes, also after a restart (default 64 MiB; durable databases).
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_watch_retention(
    opts: *mut kvdb_options_t,
    memory_bytes: u64,
    log_bytes: u64,
) -> kvdb_status_t {
    status("kvdb_options_set_watch_retention", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.watch_retention_bytes = usize::try_from(memory_bytes)
            .map_err(|_| FfiError::invalid("memory_bytes does not fit in memory"))?;
        opts.options.watch_log_retention_bytes = log_bytes;
        Ok(())
    })
}

/// Sets how many snapshot files are kept (at least 1; default 2).
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_snapshots_to_keep(
    opts: *mut kvdb_options_t,
    count: u32,
) -> kvdb_status_t {
    status("kvdb_options_set_snapshots_to_keep", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        if count == 0 {
            return Err(FfiError::invalid("at least one snapshot must be kept"));
        }
        opts.options.snapshots_to_keep = count as usize;
        Ok(())
    })
}

/// Makes `kvdb_close` checkpoint the database first (non-zero) or not (0,
/// the default): the next open loads the snapshot and replays no log, and,
/// under a memory limit with an LRU or LFU policy, finds each key's use as
/// it was at the close, reads included (otherwise as of the last
/// checkpoint, with the writes since), as Redis saves its RDB file at
/// shutdown. Closing then takes as long as a checkpoint; if it fails,
/// `kvdb_close` reports it (the handle is freed all the same) and nothing
/// acknowledged is lost. Durable databases only.
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_checkpoint_on_close(
    opts: *mut kvdb_options_t,
    enabled: c_int,
) -> kvdb_status_t {
    status("kvdb_options_set_checkpoint_on_close", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        opts.options.checkpoint_on_close = enabled != 0;
        Ok(())
    })
}

/// Turns the background threads for active expiry, garbage collection and
/// reordering on (non-zero, the default) or off (0: expired keys still read
/// as absent, memory is reclaimed only by `kvdb_collect_garbage`, and the
/// index is put back in key order only by `kvdb_reorder`).
///
/// # Safety
///
/// `opts` is NULL (an error) or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_set_background_maintenance(
    opts: *mut kvdb_options_t,
    enabled: c_int,
) -> kvdb_status_t {
    status("kvdb_options_set_background_maintenance", || {
        // SAFETY: per the contract.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        let defaults = Options::default();
        let on = enabled != 0;
        opts.options.expire_interval = if on { defaults.expire_interval } else { None };
        opts.options.gc_interval = if on { defaults.gc_interval } else { None };
        opts.options.reorder_interval = if on { defaults.reorder_interval } else { None };
        Ok(())
    })
}
