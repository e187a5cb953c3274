//! Reading many pairs from an iterator in one call without copying them:
//! `kvdb_iter_next_batch_borrowed` and `kvdb_iter_prev_batch_borrowed`
//! describe the pairs from the iterator's position on in a caller's array,
//! pointing at the bytes where they are (as `kvdb_iter_key` and
//! `kvdb_iter_value` do for one pair), valid until the iterator moves or is
//! freed.

use std::ptr;

use crate::iter::kvdb_iter_t;
use crate::iter_batch::{Direction, batch_call, kvdb_pair_t, pairs_size};
use crate::iter_cursor::IterCursor;
use crate::status::kvdb_status_t;

/// Describes pairs from the iterator's position on in `pairs`, moving the
/// iterator in `direction` past each; returns how many.
///
/// A view's iterator hands over the store's own bytes: its cursor borrows
/// them for as long as the cursor lives (`Cursor::take_batch`), and the
/// cursor lives until `kvdb_iter_free`. A transaction's iterator keeps its
/// current key in a buffer it replaces at every step, so it copies the
/// batch into the iterator's scratch buffer, which stays as it is until its
/// next borrowed batch or `kvdb_iter_free`.
///
/// # Safety
///
/// `pairs` is valid for writing `max` descriptors.
unsafe fn read_borrowed(
    it: &mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max: usize,
    direction: Direction,
) -> usize {
    let forward = direction.forward();
    let mut written = 0;
    let kvdb_iter_t { cursor, scratch } = it;
    if let IterCursor::View(c) = cursor {
        return c.take_batch(forward, max, |key, val| {
            // SAFETY: `pairs` is valid for `max` descriptors and
            // `written < max`: the cursor hands over at most `max` pairs.
            unsafe {
                pairs.add(written).write(kvdb_pair_t {
                    key: key.as_ptr().cast(),
                    klen: key.len(),
                    val: val.as_ptr().cast(),
                    vlen: val.len(),
                })
            };
            written += 1;
            true
        });
    }
    scratch.clear();
    let count = cursor.take_batch(forward, max, |key, val| {
        scratch.extend_from_slice(key);
        scratch.extend_from_slice(val);
        // SAFETY: as above. The pointers are set below, once the scratch
        // buffer holds every pair and no longer moves.
        unsafe {
            pairs.add(written).write(kvdb_pair_t {
                key: ptr::null(),
                klen: key.len(),
                val: ptr::null(),
                vlen: val.len(),
            })
        };
        written += 1;
        true
    });
    let mut at = scratch.as_ptr();
    for i in 0..count {
        // SAFETY: the first `count` descriptors were written above; their
        // lengths add up to the scratch buffer's, in the order its bytes
        // were appended, so every `at` stays within it (or one past it).
        unsafe {
            let pair = &mut *pairs.add(i);
            pair.key = at.cast();
            at = at.add(pair.klen);
            pair.val = at.cast();
            at = at.add(pair.vlen);
        }
    }
    count
}

/// The shared body of both borrowed batch functions.
///
/// # Safety
///
/// As for `kvdb_iter_next_batch_borrowed`.
unsafe fn batch_borrowed(
    function: &'static str,
    it: *mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    n: *mut usize,
    direction: Direction,
) -> kvdb_status_t {
    let read = |it: &mut kvdb_iter_t| {
        pairs_size(pairs, max_pairs)?;
        // SAFETY: `pairs` is checked non-NULL, and valid for `max_pairs`
        // descriptors per the contract.
        Ok(unsafe { read_borrowed(it, pairs, max_pairs, direction) })
    };
    // SAFETY: forwarded contract.
    unsafe { batch_call(function, it, n, read) }
}

/// Reads the pair the iterator stands on and those after it, in one call,
/// without copying them: describes each in `pairs[i]`, whose pointers are
/// borrowed as `kvdb_iter_key`'s are (do not free them; they stay valid
/// until the iterator moves or is freed, so until the next batch at the
/// latest). Stops after `max_pairs` pairs or when the iterator runs off its
/// range, and leaves the iterator on the first pair not read (as if
/// `kvdb_iter_next` had been called once per pair read). `*n` is the
/// number of pairs read.
///
/// An iterator over a view points into the database: nothing is copied. A
/// transaction's iterator (`kvdb_txn_iter_new`) copies the batch into a
/// buffer of its own, kept until its next borrowed batch.
///
/// Returns `KVDB_OK`, with `*n` 0 only when the iterator is not valid (the
/// scan is over); `KVDB_INVALID_ARGUMENT` for a NULL iterator, `pairs` or
/// `n`, or a `max_pairs` of 0.
///
/// # Safety
///
/// `it` is NULL (an error) or a live iterator used by no other thread
/// meanwhile; `pairs` is NULL or valid for writing `max_pairs` descriptors;
/// `n` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_next_batch_borrowed(
    it: *mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    n: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        batch_borrowed(
            "kvdb_iter_next_batch_borrowed",
            it,
            pairs,
            max_pairs,
            n,
            Direction::Next,
        )
    }
}

/// As `kvdb_iter_next_batch_borrowed`, moving backwards: reads the pair the
/// iterator stands on and those before it, in descending key order, and
/// leaves the iterator on the first pair not read (as `kvdb_iter_prev`
/// would).
///
/// # Safety
///
/// As for `kvdb_iter_next_batch_borrowed`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_prev_batch_borrowed(
    it: *mut kvdb_iter_t,
    pairs: *mut kvdb_pair_t,
    max_pairs: usize,
    n: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        batch_borrowed(
            "kvdb_iter_prev_batch_borrowed",
            it,
            pairs,
            max_pairs,
            n,
            Direction::Prev,
        )
    }
}
