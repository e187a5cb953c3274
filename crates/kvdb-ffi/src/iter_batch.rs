//! Reading many pairs from an iterator in one call: `kvdb_iter_next_batch`
//! and `kvdb_iter_prev_batch` copy the pairs from the iterator's position on
//! into a caller's buffer and describe them in a caller's array, so a scan
//! crosses the library boundary once per batch instead of three or four
//! times per pair.

use std::ffi::c_void;
use std::mem::size_of;

use crate::boundary::{handle_mut, out, status, write};
use crate::error::{FfiError, FfiResult};
use crate::iter::kvdb_iter_t;
use crate::status::{KVDB_BUFFER_TOO_SMALL, kvdb_status_t};

/// One pair read by a batch: by `kvdb_iter_next_batch` or
/// `kvdb_iter_prev_batch`, the key and the value copied into the caller's
/// buffer; by `kvdb_iter_next_batch_borrowed` or
/// `kvdb_iter_prev_batch_borrowed`, borrowed as `kvdb_iter_key` borrows
/// (valid until the iterator moves or is freed). A pointer whose length is
/// 0 must not be read (it may be NULL).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kvdb_pair_t {
    /// The key's first byte.
    pub key: *const c_void,
    /// The key's length in bytes.
    pub klen: usize,
    /// The value's first byte (after a copying batch, in the caller's
    /// buffer right after the key).
    pub val: *const c_void,
    /// The value's length in bytes.
    pub vlen: usize,
}

/// Which way a batch moves the iterator.
#[derive(Clone, Copy)]
pub(crate) enum Direction {
    Next,
    Prev,
}

impl Direction {
    pub(crate) fn forward(self) -> bool {
        matches!(self, Direction::Next)
    }
}

/// The caller's two output areas, checked: `max_pairs` descriptors at
/// `pairs` and `cap` bytes at `buf`, disjoint.
struct Outputs {
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    buf: *mut u8,
    cap: usize,
}

impl Outputs {
    fn check(
        pairs: *mut kvdb_pair_t,
        max_pairs: usize,
        buf: *mut c_void,
        cap: usize,
    ) -> FfiResult<Self> {
        let pairs_len = pairs_size(pairs, max_pairs)?;
        if buf.is_null() && cap != 0 {
            return Err(FfiError::invalid(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(FfiError::invalid(format!("cap {cap} is impossible")));
        }
        let (p, b) = (pairs as usize, buf as usize);
        if cap != 0 && p < b.saturating_add(cap) && b < p.saturating_add(pairs_len) {
            return Err(FfiError::invalid("pairs and buf overlap"));
        }
        Ok(Self {
            pairs,
            max_pairs,
            buf: buf.cast(),
            cap,
        })
    }
}

/// The size in bytes of the caller's `max_pairs` descriptors at `pairs`,
/// checked: at least one, not NULL, a possible size.
pub(crate) fn pairs_size(pairs: *mut kvdb_pair_t, max_pairs: usize) -> FfiResult<usize> {
    if max_pairs == 0 {
        return Err(FfiError::invalid("max_pairs is 0: no pair could be read"));
    }
    if pairs.is_null() {
        return Err(FfiError::invalid("pairs is NULL"));
    }
    max_pairs
        .checked_mul(size_of::<kvdb_pair_t>())
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| FfiError::invalid(format!("max_pairs {max_pairs} is impossible")))
}

/// Copies pairs from the iterator's position on, moving it in `direction`
/// past each pair copied; returns how many.
fn read_batch(it: &mut kvdb_iter_t, to: &Outputs, direction: Direction) -> FfiResult<usize> {
    let (mut used, mut written) = (0, 0);
    let mut too_large = None;
    let count = it
        .cursor
        .take_batch(direction.forward(), to.max_pairs, |key, val| {
            let need = key.len() + val.len();
            if need > to.cap - used {
                too_large = Some(need);
                return false;
            }
            // SAFETY: `used + need <= cap`, and `buf` is valid for writes of
            // `cap` bytes (the callers' contract); `pairs` is valid for
            // `max_pairs` descriptors and `written < max_pairs` (the cursor
            // hands over at most `max_pairs` pairs), and it does not
            // overlap `buf` (checked); the key and value are the store's
            // memory, which the caller's buffers cannot be (they are
            // writable memory of its own). Zero-length copies are skipped:
            // `buf` may be NULL when `cap` is 0.
            unsafe {
                let at = to.buf.wrapping_add(used);
                let val_at = at.wrapping_add(key.len());
                if !key.is_empty() {
                    std::ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
                }
                if !val.is_empty() {
                    std::ptr::copy_nonoverlapping(val.as_ptr(), val_at, val.len());
                }
                to.pairs.add(written).write(kvdb_pair_t {
                    key: at.cast_const().cast(),
                    klen: key.len(),
                    val: val_at.cast_const().cast(),
                    vlen: val.len(),
                });
            }
            used += need;
            written += 1;
            true
        });
    match too_large {
        Some(need) if count == 0 => Err(FfiError::new(
            KVDB_BUFFER_TOO_SMALL,
            format!(
                "the pair at the iterator is {need} bytes; the buffer holds {}",
                to.cap
            ),
        )),
        _ => Ok(count),
    }
}

/// The shared body of every batch function: `*n` is 0 unless `read`,
/// given the iterator, reads pairs; then it is how many.
///
/// # Safety
///
/// `it` is NULL (an error) or a live iterator used by no other thread
/// meanwhile; `n` is NULL (an error) or valid for writing.
pub(crate) unsafe fn batch_call(
    function: &'static str,
    it: *mut kvdb_iter_t,
    n: *mut usize,
    read: impl FnOnce(&mut kvdb_iter_t) -> FfiResult<usize>,
) -> kvdb_status_t {
    status(function, || {
        let n = out(n, "n")?;
        // SAFETY: checked non-NULL; valid for writing per the contract.
        unsafe { write(n, 0) };
        // SAFETY: per the contract.
        let it = unsafe { handle_mut(it, "iterator") }?;
        let count = read(it)?;
        // SAFETY: as above.
        unsafe { write(n, count) };
        Ok(())
    })
}

/// The shared body of both copying batch functions; `outputs` are the
/// caller's `(pairs, max_pairs, buf, cap)`, checked here.
///
/// # Safety
///
/// As for `kvdb_iter_next_batch`.
unsafe fn batch(
    function: &'static str,
    it: *mut kvdb_iter_t,
    outputs: (*mut kvdb_pair_t, usize, *mut c_void, usize),
    n: *mut usize,
    direction: Direction,
) -> kvdb_status_t {
    let read = |it: &mut kvdb_iter_t| {
        let (pairs, max_pairs, buf, cap) = outputs;
        read_batch(it, &Outputs::check(pairs, max_pairs, buf, cap)?, direction)
    };
    // SAFETY: forwarded contract.
    unsafe { batch_call(function, it, n, read) }
}

/// Reads the pair the iterator stands on and those after it, in one call:
/// copies each key and its value into `buf` (back to back, unaligned) and
/// describes the pair in `pairs[i]`, whose pointers point into `buf`. Stops
/// after `max_pairs` pairs, before a pair that does not fit in what is left
/// of the `cap` bytes, or when the iterator runs off its range, and leaves
/// the iterator on the first pair not read (as if `kvdb_iter_next` had been
/// called once per pair read). `*n` is the number of pairs read.
///
/// Returns `KVDB_OK`, with `*n` 0 only when the iterator is not valid (the
/// scan is over); `KVDB_BUFFER_TOO_SMALL` if the pair it stands on alone is
/// larger than `cap` (nothing read: read that pair with `kvdb_iter_key` and
/// `kvdb_iter_value`, or call again with a larger buffer);
/// `KVDB_INVALID_ARGUMENT` for a NULL iterator, `pairs` or `n`, a NULL
/// `buf` with a non-zero `cap`, a `max_pairs` of 0, or `pairs` and `buf`
/// overlapping.
///
/// # Safety
///
/// `it` is NULL (an error) or a live iterator used by no other thread
/// meanwhile; `pairs` is NULL or valid for writing `max_pairs` descriptors;
/// `buf` is NULL or writable memory of the caller's, valid for `cap` bytes;
/// `n` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_next_batch(
    it: *mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    buf: *mut c_void,
    cap: usize,
    n: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        batch(
            "kvdb_iter_next_batch",
            it,
            (pairs, max_pairs, buf, cap),
            n,
            Direction::Next,
        )
    }
}

/// As `kvdb_iter_next_batch`, moving backwards: reads the pair the iterator
/// stands on and those before it, in descending key order, and leaves the
/// iterator on the first pair not read (as `kvdb_iter_prev` would).
///
/// # Safety
///
/// As for `kvdb_iter_next_batch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_prev_batch(
    it: *mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    buf: *mut c_void,
    cap: usize,
    n: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        batch(
            "kvdb_iter_prev_batch",
            it,
            (pairs, max_pairs, buf, cap),
            n,
            Direction::Prev,
        )
    }
}
