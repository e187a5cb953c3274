//! `kvdb_watch_t`: a change stream over a key range, in commit order, from
//! any sequence number still retained. Owned by the caller
//! (`kvdb_watch_new*` / `kvdb_watch_free`); used by one thread at a time.
//! An event's pointers borrow from the watcher until its next call.

use std::ffi::{c_int, c_void};
use std::time::Duration;

use engine::{Change, Event, Watcher};

use crate::boundary::{bytes, engine, guard, handle, handle_mut, out, status, write};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::status::{KVDB_OK, KVDB_TIMED_OUT, kvdb_status_t};

/// `from_seq`: only changes committed after the call.
pub const KVDB_WATCH_FROM_NOW: u64 = u64::MAX;
/// `from_seq`: the oldest change still retained.
pub const KVDB_WATCH_FROM_OLDEST: u64 = 0;

/// Event kind: the key was given a value (`val`, `vlen`, `expires_at_ms`).
pub const KVDB_EVENT_PUT: c_int = 0;
/// Event kind: the key was deleted by a write.
pub const KVDB_EVENT_DELETE: c_int = 1;
/// Event kind: the key's expiry time passed and the expiry cycle deleted it.
pub const KVDB_EVENT_EXPIRED: c_int = 2;
/// Event kind: the key was evicted to keep within the memory limit.
pub const KVDB_EVENT_EVICTED: c_int = 3;

/// One change, filled by `kvdb_watch_next`. `key` and `val` borrow from the
/// watcher until its next call (or `kvdb_watch_free`).
#[repr(C)]
pub struct kvdb_event_t {
    /// The change's sequence number.
    pub seq: u64,
    /// `KVDB_EVENT_PUT`, `_DELETE`, `_EXPIRED` or `_EVICTED`.
    pub kind: c_int,
    /// The key.
    pub key: *const c_void,
    /// The key's length.
    pub klen: usize,
    /// The new value (puts; NULL with length 0 otherwise).
    pub val: *const c_void,
    /// The value's length.
    pub vlen: usize,
    /// When the new value expires, in ms since the Unix epoch; 0 for none.
    pub expires_at_ms: u64,
    /// True on the last event this watcher gets from its batch or
    /// transaction.
    pub last_in_batch: bool,
}

/// A change stream (opaque).
pub struct kvdb_watch_t {
    watcher: Watcher,
    /// The event the last `kvdb_watch_next` returned; its bytes back the
    /// pointers handed out.
    current: Option<Event>,
}

impl crate::boundary::Handle for kvdb_watch_t {
    fn inherited_across_fork(&self) -> bool {
        self.watcher.is_inherited_across_fork()
    }
}

fn new_watch(
    function: &'static str,
    db: *mut kvdb_t,
    start: impl FnOnce(&engine::Db) -> engine::Result<Watcher>,
    out_watch: *mut *mut kvdb_watch_t,
) -> kvdb_status_t {
    status(function, || {
        let out_watch = out(out_watch, "out")?;
        // SAFETY: per the callers' contracts.
        let db = unsafe { handle(db, "db") }?;
        let watcher = engine(start(&db.db))?;
        let w = Box::into_raw(Box::new(kvdb_watch_t {
            watcher,
            current: None,
        }));
        // SAFETY: checked non-NULL.
        unsafe { write(out_watch, w) };
        Ok(())
    })
}

/// Watches the keys that start with `prefix` (NULL or length 0: every key)
/// from sequence number `from_seq`: `KVDB_WATCH_FROM_OLDEST` (0) for the
/// oldest change retained, `KVDB_WATCH_FROM_NOW` for changes committed
/// after the call, or a number (a snapshot's `kvdb_snapshot_seq` + 1
/// continues exactly where the snapshot stops). A `from_seq` no longer
/// retained makes the first `kvdb_watch_next` return `KVDB_LAGGED`. On
/// success `*out` receives the watcher; free it with `kvdb_watch_free`.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `prefix` is NULL or valid for
/// `plen` bytes; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_new(
    db: *mut kvdb_t,
    prefix: *const c_void,
    plen: usize,
    from_seq: u64,
    out: *mut *mut kvdb_watch_t,
) -> kvdb_status_t {
    // SAFETY: per the contract.
    match unsafe { bytes(prefix, plen, "prefix") } {
        Ok(prefix) => new_watch(
            "kvdb_watch_new",
            db,
            |db| db.watch_prefix(prefix, from_seq),
            out,
        ),
        Err(e) => status("kvdb_watch_new", || Err(e)),
    }
}

/// As `kvdb_watch_new`, for the keys from `start` (inclusive; NULL or
/// length 0: the first key) up to `end` (exclusive; NULL: no upper bound).
///
/// # Safety
///
/// As for `kvdb_watch_new`; `start` and `end` are NULL or valid for `slen`
/// and `elen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_new_range(
    db: *mut kvdb_t,
    start: *const c_void,
    slen: usize,
    end: *const c_void,
    elen: usize,
    from_seq: u64,
    out: *mut *mut kvdb_watch_t,
) -> kvdb_status_t {
    // SAFETY: per the contract.
    let bounds =
        unsafe { bytes(start, slen, "start").and_then(|s| Ok((s, bytes(end, elen, "end")?))) };
    match bounds {
        Ok((start, end_bytes)) => {
            let lower = std::ops::Bound::Included(start.to_vec());
            let upper = if end.is_null() {
                std::ops::Bound::Unbounded
            } else {
                std::ops::Bound::Excluded(end_bytes.to_vec())
            };
            new_watch(
                "kvdb_watch_new_range",
                db,
                |db| db.watch((lower, upper), from_seq),
                out,
            )
        }
        Err(e) => status("kvdb_watch_new_range", || Err(e)),
    }
}

/// The next event, waiting up to `timeout_ms` (0: do not wait). Returns
/// `KVDB_OK` with `*out` filled, `KVDB_TIMED_OUT` if none arrived in time,
/// `KVDB_LAGGED` if the changes it needs are no longer retained
/// (`kvdb_last_error` names the oldest sequence number available; the
/// watcher stays lagged: read a snapshot and watch from its sequence + 1),
/// and `KVDB_INVALID_ARGUMENT` once the database is closed (a call blocked
/// in here returns when it closes).
///
/// # Safety
///
/// `w` is NULL (an error) or a live watcher not used by another thread
/// meanwhile; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_next(
    w: *mut kvdb_watch_t,
    timeout_ms: u32,
    out_event: *mut kvdb_event_t,
) -> kvdb_status_t {
    status("kvdb_watch_next", || {
        let out_event = out(out_event, "out")?;
        // SAFETY: per the contract.
        let w = unsafe { handle_mut(w, "watcher") }?;
        w.current = None;
        let next = match timeout_ms {
            0 => w.watcher.try_next(),
            ms => w.watcher.next_timeout(Duration::from_millis(u64::from(ms))),
        };
        let Some(event) = engine(next)? else {
            return Err(FfiError::new(
                KVDB_TIMED_OUT,
                format!("no event within {timeout_ms} ms"),
            ));
        };
        let (kind, value, expires_at) = match &event.change {
            Change::Put { value, expires_at } => {
                (KVDB_EVENT_PUT, value.as_slice(), expires_at.unwrap_or(0))
            }
            Change::Delete => (KVDB_EVENT_DELETE, &[][..], 0),
            Change::Expired => (KVDB_EVENT_EXPIRED, &[][..], 0),
            Change::Evicted => (KVDB_EVENT_EVICTED, &[][..], 0),
        };
        let filled = kvdb_event_t {
            seq: event.seq,
            kind,
            key: event.key.as_ptr().cast(),
            klen: event.key.len(),
            val: if value.is_empty() {
                std::ptr::null()
            } else {
                value.as_ptr().cast()
            },
            vlen: value.len(),
            expires_at_ms: expires_at,
            last_in_batch: event.last_in_batch,
        };
        // SAFETY: checked non-NULL. The pointers borrow `event`'s buffers,
        // which move into `w.current` without reallocating and stay there
        // until the next call or kvdb_watch_free.
        unsafe { write(out_event, filled) };
        w.current = Some(event);
        Ok(())
    })
}

/// A file descriptor that polls readable when events may be waiting: call
/// `kvdb_watch_next(w, 0, ...)` until it returns `KVDB_TIMED_OUT`, then
/// poll again. Readable right after the watcher is made. Owned by the
/// watcher (do not close it); the same descriptor on every call. -1 on
/// failure (see `kvdb_last_error`).
///
/// # Safety
///
/// `w` is NULL (an error) or a live watcher.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_fd(w: *const kvdb_watch_t) -> c_int {
    let mut fd = -1;
    let outcome = status("kvdb_watch_fd", || {
        // SAFETY: per the contract.
        let w = unsafe { handle(w, "watcher") }?;
        fd = w
            .watcher
            .fd()
            .map_err(|e| engine::Error::io("creating the watcher's eventfd", e))?;
        Ok(())
    });
    if outcome == KVDB_OK { fd } else { -1 }
}

/// The sequence number of the next change the watcher will deliver: a
/// watcher made with this `from_seq` resumes without gap or duplicate.
///
/// # Safety
///
/// `w` is NULL (an error) or a live watcher; `seq` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_position(
    w: *const kvdb_watch_t,
    seq: *mut u64,
) -> kvdb_status_t {
    status("kvdb_watch_position", || {
        let seq = out(seq, "seq")?;
        // SAFETY: per the contract.
        let w = unsafe { handle(w, "watcher") }?;
        // SAFETY: checked non-NULL.
        unsafe { write(seq, w.watcher.position()) };
        Ok(())
    })
}

/// Frees a watcher (and closes its descriptor); NULL is a no-op.
///
/// # Safety
///
/// `w` is NULL or a watcher from `kvdb_watch_new*` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_watch_free(w: *mut kvdb_watch_t) {
    guard("kvdb_watch_free", || {
        if !w.is_null() {
            // SAFETY: per the contract, `w` came from Box::into_raw.
            drop(unsafe { Box::from_raw(w) });
        }
    });
}
