//! kvdb through its C ABI: libkvdb.so loaded at run time, its functions
//! called exactly as a C program would, in this same process.

use std::cell::RefCell;
use std::ffi::{CString, c_void};
use std::path::Path;

use libloading::Library;

use super::{Mode, System};
use crate::c_api::{self, Api, Db, Lookup, Pair};

/// Keys one `kvdb_multi_get` call of the benchmark reads at most.
const MULTI_GET_MAX: usize = 64;

pub(crate) struct KvdbC {
    api: Api,
    db: *mut Db,
    /// Seconds the `kvdb_open` call took (the library's loading excluded).
    pub(crate) opened_in: f64,
    _lib: Library,
}

// SAFETY: a kvdb_t is thread-safe by the C API's contract; the function
// pointers are plain code addresses.
unsafe impl Send for KvdbC {}
// SAFETY: as above.
unsafe impl Sync for KvdbC {}

impl KvdbC {
    pub(crate) fn open(lib_path: &Path, mode: Mode, dir: &Path) -> Self {
        let (lib, api) = c_api::load(lib_path);
        let mut db = std::ptr::null_mut();
        let started = std::time::Instant::now();
        // SAFETY: the C API's contract: a NUL-terminated path or NULL, an
        // options handle or NULL, a writable out-pointer.
        unsafe {
            let status = match mode {
                Mode::Memory => (api.open)(std::ptr::null(), std::ptr::null(), &mut db),
                Mode::Durable => {
                    let path = CString::new(dir.to_str().expect("utf-8 path")).unwrap();
                    let opts = (api.options_new)();
                    (api.options_set_sync)(opts, 2, 0);
                    let s = (api.open)(path.as_ptr(), opts, &mut db);
                    (api.options_free)(opts);
                    s
                }
            };
            assert_eq!(status, 0, "kvdb_open failed");
        }
        let opened_in = started.elapsed().as_secs_f64();
        Self {
            api,
            db,
            opened_in,
            _lib: lib,
        }
    }
}

impl Drop for KvdbC {
    fn drop(&mut self) {
        // SAFETY: `db` came from kvdb_open and is closed once.
        unsafe { (self.api.close)(self.db) };
    }
}

impl System for KvdbC {
    fn put(&self, key: &[u8], value: &[u8]) {
        // SAFETY: valid buffers and handle.
        let s = unsafe {
            (self.api.put)(
                self.db,
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
            )
        };
        assert_eq!(s, 0, "kvdb_put");
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        const ROOM: usize = 64 << 10;
        let mut found = 0;
        for chunk in keys.chunks(MULTI_GET_MAX) {
            let mut lookups = [Lookup::EMPTY; MULTI_GET_MAX];
            for (lookup, key) in lookups.iter_mut().zip(chunk) {
                (lookup.key, lookup.klen) = (key.as_ptr().cast(), key.len());
            }
            out.clear();
            out.reserve(ROOM);
            // SAFETY: `chunk.len()` lookups with valid keys, and `out` has
            // `capacity` writable bytes, apart from the keys and lookups.
            let s = unsafe {
                (self.api.multi_get)(
                    self.db,
                    lookups.as_mut_ptr(),
                    chunk.len(),
                    out.as_mut_ptr().cast(),
                    out.capacity(),
                )
            };
            assert_eq!(s, 0, "kvdb_multi_get");
            for (lookup, key) in lookups[..chunk.len()].iter().zip(chunk) {
                found += match lookup.status {
                    0 => 1,
                    1 => 0,
                    // Did not fit in what was left: read it alone.
                    8 => usize::from(self.get(key, &mut Vec::new())),
                    other => panic!("kvdb_multi_get: lookup status {other}"),
                };
            }
        }
        found
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        if out.capacity() < 4096 {
            out.reserve(4096 - out.len());
        }
        loop {
            let mut len = 0usize;
            // SAFETY: `out` has `capacity` writable bytes; len is written.
            let s = unsafe {
                (self.api.get_into)(
                    self.db,
                    key.as_ptr().cast(),
                    key.len(),
                    out.as_mut_ptr().cast(),
                    out.capacity(),
                    &mut len,
                )
            };
            match s {
                0 => {
                    // SAFETY: kvdb_get_into wrote `len <= capacity` bytes.
                    unsafe { out.set_len(len) };
                    return true;
                }
                1 => return false,
                8 => out.reserve(len),
                other => panic!("kvdb_get_into: status {other}"),
            }
        }
    }

    fn delete(&self, key: &[u8]) -> bool {
        // SAFETY: valid buffer and handle.
        unsafe { (self.api.delete)(self.db, key.as_ptr().cast(), key.len()) == 0 }
    }

    /// Reads pairs in batches, as a C program that scans should: borrowed
    /// (`kvdb_iter_next_batch_borrowed`), or copied into a buffer
    /// (`kvdb_iter_next_batch`) by a library without borrowed batches (an
    /// earlier commit's, in an A/B). Each value is then copied out, as for
    /// every system.
    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        const PAIRS: usize = 64;
        thread_local! {
            // Allocated once per thread and reused, as a C program that
            // scans repeatedly would.
            static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 16 << 10]);
        }
        BUF.with_borrow_mut(|buf| self.scan_into(start, n, out, &mut [Pair::EMPTY; PAIRS], buf))
    }

    /// Reads backward in borrowed batches (`kvdb_iter_seek_for_prev`, then
    /// `kvdb_iter_prev_batch_borrowed`), or, with a library without them,
    /// one `kvdb_iter_prev` step at a time.
    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        const PAIRS: usize = 64;
        let mut pairs = [Pair::EMPTY; PAIRS];
        let mut it = std::ptr::null_mut();
        let mut read = 0;
        // SAFETY: the iterator functions' contracts; a batch's pairs are
        // read before the iterator moves again; `it` is freed once.
        unsafe {
            assert_eq!((self.api.iter_new)(self.db, std::ptr::null(), &mut it), 0);
            (self.api.iter_seek_for_prev)(it, start.as_ptr().cast(), start.len());
            match self.api.iter_prev_batch_borrowed {
                Some(batch) => {
                    while read < n {
                        let mut got = 0;
                        let status = batch(it, pairs.as_mut_ptr(), PAIRS.min(n - read), &mut got);
                        assert_eq!(status, 0, "kvdb_iter_prev_batch_borrowed failed");
                        if got == 0 {
                            break;
                        }
                        copy_values(&pairs[..got], out);
                        read += got;
                    }
                }
                None => read = self.step_values(it, n, out, self.api.iter_prev),
            }
            (self.api.iter_free)(it);
        }
        Some(read)
    }

    /// Steps an iterator as a C program iterating the classic way does:
    /// `kvdb_iter_valid`, `kvdb_iter_value`, `kvdb_iter_next` per entry.
    fn scan_steps(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut it = std::ptr::null_mut();
        // SAFETY: the iterator functions' contracts; `it` is freed once.
        unsafe {
            assert_eq!((self.api.iter_new)(self.db, std::ptr::null(), &mut it), 0);
            (self.api.iter_seek)(it, start.as_ptr().cast(), start.len());
            let read = self.step_values(it, n, out, self.api.iter_next);
            (self.api.iter_free)(it);
            Some(read)
        }
    }

    fn flush(&self) {
        // SAFETY: valid handle.
        unsafe { (self.api.sync)(self.db) };
    }

    fn settle(&self) -> bool {
        // SAFETY: valid handle.
        assert_eq!(unsafe { (self.api.reorder)(self.db) }, 0, "kvdb_reorder");
        true
    }
}

impl KvdbC {
    /// [`System::scan`] into the caller's pair array and byte buffer.
    fn scan_into(
        &self,
        start: &[u8],
        n: usize,
        out: &mut Vec<u8>,
        pairs: &mut [Pair],
        buf: &mut [u8],
    ) -> Option<usize> {
        let mut it = std::ptr::null_mut();
        // SAFETY: the iterator functions' contracts; `pairs` and `buf` are
        // disjoint and as long as passed; a batch's pairs are read before
        // the iterator moves again; `it` is freed once.
        unsafe {
            assert_eq!((self.api.iter_new)(self.db, std::ptr::null(), &mut it), 0);
            (self.api.iter_seek)(it, start.as_ptr().cast(), start.len());
            let mut read = 0;
            while read < n {
                let mut got = 0;
                let max = pairs.len().min(n - read);
                let status = match self.api.iter_next_batch_borrowed {
                    Some(borrowed) => borrowed(it, pairs.as_mut_ptr(), max, &mut got),
                    None => (self.api.iter_next_batch)(
                        it,
                        pairs.as_mut_ptr(),
                        max,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut got,
                    ),
                };
                assert_eq!(status, 0, "a batch of kvdb_iter_next_batch* failed");
                if got == 0 {
                    break;
                }
                copy_values(&pairs[..got], out);
                read += got;
            }
            (self.api.iter_free)(it);
            Some(read)
        }
    }

    /// Copies out the value of each entry of iterator `it` from where it
    /// stands, up to `n`, moving with `step` (`kvdb_iter_next` or
    /// `kvdb_iter_prev`) after each; returns how many were read.
    ///
    /// # Safety
    ///
    /// `it` is a live iterator of this library's, used by no other thread.
    unsafe fn step_values(
        &self,
        it: *mut c_void,
        n: usize,
        out: &mut Vec<u8>,
        step: unsafe extern "C" fn(*mut c_void),
    ) -> usize {
        let mut read = 0;
        // SAFETY: `it` is live (the caller's contract); the borrowed value
        // is copied before the iterator moves.
        unsafe {
            while read < n && (self.api.iter_valid)(it) {
                let (mut val, mut vlen) = (std::ptr::null(), 0usize);
                assert_eq!((self.api.iter_value)(it, &mut val, &mut vlen), 0);
                out.clear();
                // A value of length 0 may be NULL: not read.
                if vlen > 0 {
                    out.extend_from_slice(std::slice::from_raw_parts(val.cast::<u8>(), vlen));
                }
                read += 1;
                step(it);
            }
        }
        read
    }
}

/// Copies each pair's value into `out` in turn, as every system's scan
/// copies the values it reads.
///
/// # Safety
///
/// Each pair's `val` points at `vlen` readable bytes (or `vlen` is 0).
unsafe fn copy_values(pairs: &[Pair], out: &mut Vec<u8>) {
    for pair in pairs {
        out.clear();
        // A value of length 0 may be NULL: not read.
        if pair.vlen > 0 {
            // SAFETY: the caller's contract.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(pair.val.cast::<u8>(), pair.vlen)
            });
        }
    }
}
