//! A chunk of the change feed: a fixed block of memory that committed
//! batches are appended to, one record after another, by one writer at a
//! time, while any number of watchers read the records already published.
//!
//! A record is `first: u64 LE | last: u64 LE | len: u32 LE | payload`, the
//! payload being what the batch's log record holds (`persist::record`).
//! Bytes below the published length never change again, so readers read
//! them in place, without a lock and without copying; the writer only ever
//! writes above it, and publishes with a release store.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Bytes of a record's header: first and last sequence number, length.
pub(crate) const HEADER: usize = 8 + 8 + 4;

/// One block of the feed.
pub(crate) struct Chunk {
    /// The sequence number of the first batch it holds (or will hold).
    first_seq: u64,
    bytes: Box<[UnsafeCell<u8>]>,
    /// Written only by the appender, read by every watcher: kept on its own
    /// cache line so that reading it does not stall other fields' readers.
    published: CachePadded<AtomicUsize>,
    /// Set once nothing more will be appended: a reader at the end of a
    /// sealed chunk moves on to the next one.
    sealed: AtomicBool,
}

// SAFETY: the only interior mutation of `bytes` is `Appender::append`,
// through `&mut Appender`; exactly one `Appender` exists per chunk (made
// with it by `Chunk::new`, not `Clone`), so writes never race each other.
// They land strictly above `published`, and readers read strictly below the
// `published` value they acquired: no byte is read and written at once.
unsafe impl Sync for Chunk {}

impl Chunk {
    /// An empty chunk of `capacity` bytes whose first batch starts at
    /// `first_seq`, and the one handle allowed to append to it.
    pub(crate) fn new(first_seq: u64, capacity: usize) -> (std::sync::Arc<Self>, Appender) {
        let zeroed: Box<[u8]> = vec![0u8; capacity].into_boxed_slice();
        // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so a
        // boxed `[u8]` and a boxed `[UnsafeCell<u8>]` of the same length
        // have the same layout, and the allocation is handed over whole.
        let bytes = unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [UnsafeCell<u8>]) };
        let chunk = std::sync::Arc::new(Self {
            first_seq,
            bytes,
            published: CachePadded::new(AtomicUsize::new(0)),
            sealed: AtomicBool::new(false),
        });
        let appender = Appender {
            chunk: std::sync::Arc::clone(&chunk),
        };
        (chunk, appender)
    }

    /// The sequence number of its first batch.
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Bytes it occupies.
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// The published bytes.
    fn published_bytes(&self) -> &[u8] {
        let len = self.published.load(Ordering::Acquire);
        // SAFETY: `len <= self.bytes.len()` (the appender never publishes
        // past the end), the pointer covers the whole slice, and bytes below
        // an acquired `published` were written before its release store and
        // are never written again (see the `Sync` impl).
        unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(self.bytes.as_ptr()), len) }
    }
}

/// The right to append to one chunk. There is exactly one per chunk.
pub(crate) struct Appender {
    chunk: std::sync::Arc<Chunk>,
}

impl Appender {
    /// True if a record with a payload of `len` bytes fits.
    pub(crate) fn fits(&self, len: usize) -> bool {
        let used = self.chunk.published.load(Ordering::Relaxed);
        HEADER + len <= self.chunk.bytes.len() - used
    }

    /// Appends and publishes the batch at `first..=last`. The caller checked
    /// that it [`fits`](Appender::fits).
    pub(crate) fn append(&mut self, first: u64, last: u64, payload: &[u8]) {
        assert!(self.fits(payload.len()), "a feed record must fit its chunk");
        let used = self.chunk.published.load(Ordering::Relaxed);
        let len = u32::try_from(payload.len()).expect("a batch's payload fits in u32");
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&first.to_le_bytes());
        header[8..16].copy_from_slice(&last.to_le_bytes());
        header[16..].copy_from_slice(&len.to_le_bytes());
        // SAFETY: this appender is the chunk's only writer (`&mut self`, one
        // appender per chunk); the `HEADER + len` bytes from `used` lie
        // within the slice (checked by the assert) and above `published`,
        // so no reader looks at them until the release store below.
        unsafe {
            let at = UnsafeCell::raw_get(self.chunk.bytes.as_ptr().add(used));
            std::ptr::copy_nonoverlapping(header.as_ptr(), at, HEADER);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), at.add(HEADER), payload.len());
        }
        self.chunk
            .published
            .store(used + HEADER + payload.len(), Ordering::Release);
    }

    /// Marks the chunk finished: readers at its end move on.
    pub(crate) fn seal(self) {
        self.chunk.sealed.store(true, Ordering::Release);
    }
}

/// A reader's place in one chunk.
pub(crate) struct ChunkCursor {
    chunk: std::sync::Arc<Chunk>,
    offset: usize,
}

/// What a [`ChunkCursor`] finds next.
pub(crate) enum Next<'a> {
    /// A batch: the sequence number of its first operation, and its
    /// payload.
    Record { first: u64, payload: &'a [u8] },
    /// Nothing more yet (or the next batch is not yet visible).
    Pending,
    /// The chunk is sealed and read to its end.
    End,
}

impl ChunkCursor {
    /// A cursor at the start of `chunk`.
    pub(crate) fn new(chunk: std::sync::Arc<Chunk>) -> Self {
        Self { chunk, offset: 0 }
    }

    /// The next record, if its last sequence number is at most `visible`;
    /// records ending before `from` are skipped.
    pub(crate) fn next(&mut self, from: u64, visible: u64) -> Next<'_> {
        loop {
            // Sealed is read first: the release store sealing the chunk
            // comes after its last publication, so a cursor that sees the
            // seal sees every byte.
            let sealed = self.chunk.sealed.load(Ordering::Acquire);
            let bytes = self.chunk.published_bytes();
            let Some(rest) = bytes.get(self.offset..).filter(|r| !r.is_empty()) else {
                return if sealed { Next::End } else { Next::Pending };
            };
            let (first, last, len) = read_header(rest);
            if last > visible {
                return Next::Pending;
            }
            let start = self.offset + HEADER;
            self.offset = start + len;
            if last >= from {
                return Next::Record {
                    first,
                    payload: &bytes[start..start + len],
                };
            }
        }
    }
}

fn read_header(rest: &[u8]) -> (u64, u64, usize) {
    let word = |at: usize| u64::from_le_bytes(rest[at..at + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(rest[16..HEADER].try_into().expect("4 bytes"));
    (word(0), word(8), len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_what_was_published_and_skips_what_ends_before_it() {
        let (chunk, mut appender) = Chunk::new(1, 256);
        appender.append(1, 3, b"abc");
        appender.append(4, 4, b"d");
        let mut cursor = ChunkCursor::new(chunk);
        match cursor.next(4, 10) {
            Next::Record { first, payload } => assert_eq!((first, payload), (4, &b"d"[..])),
            _ => panic!("expected the second record"),
        }
        assert!(matches!(cursor.next(5, 10), Next::Pending));
        appender.append(5, 6, b"ef");
        assert!(
            matches!(cursor.next(5, 5), Next::Pending),
            "a record not yet visible waits"
        );
        assert!(matches!(cursor.next(5, 6), Next::Record { first: 5, .. }));
        appender.seal();
        assert!(matches!(cursor.next(7, 10), Next::End));
    }

    #[test]
    fn fits_counts_the_header() {
        let (_, mut appender) = Chunk::new(1, HEADER + 4);
        assert!(appender.fits(4));
        assert!(!appender.fits(5));
        appender.append(1, 1, b"four");
        assert!(!appender.fits(0));
    }

    #[test]
    fn concurrent_readers_see_whole_records_in_order() {
        let (chunk, mut appender) = Chunk::new(1, 1 << 16);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let chunk = std::sync::Arc::clone(&chunk);
                std::thread::spawn(move || {
                    let mut cursor = ChunkCursor::new(chunk);
                    let mut next = 1;
                    loop {
                        match cursor.next(next, u64::MAX) {
                            Next::Record { first, payload } => {
                                assert_eq!(first, next);
                                assert_eq!(payload, &first.to_le_bytes());
                                next += 1;
                            }
                            Next::Pending => std::hint::spin_loop(),
                            Next::End => return next - 1,
                        }
                    }
                })
            })
            .collect();
        let mut seq = 1u64;
        while appender.fits(8) {
            appender.append(seq, seq, &seq.to_le_bytes());
            seq += 1;
        }
        appender.seal();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), seq - 1);
        }
    }
}
