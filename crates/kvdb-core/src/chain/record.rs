//! The allocation behind a [`super::ChainRef`]: a 24-byte header and the
//! key bytes, in one block, with a reference count of its own.
//!
//! A general-purpose shared slice (an `Arc` of a header and a slice) spends
//! a word on the count and a word on the slice's length, and the header's
//! small fields round up to another word: 56 bytes for a 16-byte key, which
//! both glibc and mimalloc serve with a 64-byte block. Here the count is 32
//! bits and the key's length shares a word with the flags, so the same key
//! takes 40 bytes, a 48-byte block: 16 bytes less per key.
//!
//! ```text
//! offset 0   head       8 bytes   the newest version (an epoch-managed pointer)
//! offset 8   refs       4 bytes   handles alive
//! offset 12  ttl_slot   4 bytes   position in the expiry tracker
//! offset 16  access     4 bytes   recency or frequency, for eviction
//! offset 20  flags_len  4 bytes   flags in the low byte, the key's length above
//! offset 24  key bytes
//! ```

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use crossbeam_epoch as epoch;

use crate::limits::MAX_KEY_LEN;
use crate::version::Version;

/// The fixed part of a record; the key bytes follow it.
#[repr(C)]
pub(super) struct Header {
    /// The newest version.
    pub(super) head: epoch::Atomic<Version>,
    refs: AtomicU32,
    /// Position in the expiry tracker's list while tracked.
    pub(super) ttl_slot: AtomicU32,
    /// Recency or frequency of use, for eviction (see `access.rs`).
    pub(super) access: AtomicU32,
    /// The flags in the low [`LEN_SHIFT`] bits, changed atomically; the
    /// key's length above them, fixed when the record is made.
    flags_len: AtomicU32,
}

/// Where the key bytes start: right after the header.
const KEY_AT: usize = std::mem::size_of::<Header>();
const LEN_SHIFT: u32 = 8;
/// The longest key a record holds (16 MiB - 1): what the length field's
/// bits count. Users' keys stop at [`MAX_KEY_LEN`]; keys of the index key
/// space embed a user key after an index key, and may be longer.
const MAX_RECORD_KEY_LEN: usize = (1 << (32 - LEN_SHIFT)) - 1;
/// More handles than this means a leak of handles; stop, as `Arc` does.
const MAX_REFS: u32 = u32::MAX / 2;

const _: () = {
    assert!(KEY_AT == 24);
    assert!(std::mem::align_of::<Header>() == 8);
    // Room for a user key of the largest size and much more beside it.
    assert!(MAX_KEY_LEN * 64 < MAX_RECORD_KEY_LEN);
};

/// The layout of a record for a key of `key_len` bytes.
fn layout(key_len: usize) -> Layout {
    Layout::from_size_align(KEY_AT + key_len, std::mem::align_of::<Header>())
        .expect("a record's size fits a layout")
        .pad_to_align()
}

/// Bytes a record for a key of `key_len` bytes asks the allocator for.
pub(super) const fn request(key_len: usize) -> usize {
    (KEY_AT + key_len).next_multiple_of(std::mem::align_of::<Header>())
}

/// An owning handle to one record: the record is freed, with every version
/// still linked from its head, when the last handle is dropped.
pub(super) struct Record(NonNull<Header>);

// SAFETY: a record is shared by handles on any thread. Its header is only
// changed through atomics, its key bytes never after it is made, and the
// versions reachable from it are epoch-managed and immutable once linked
// (their `next` pointers are atomics): what `Arc<T>` needs of `T` to be Send
// and Sync holds for the header and key.
unsafe impl Send for Record {}
// SAFETY: as for `Send`: every shared access goes through atomics or reads
// bytes that never change.
unsafe impl Sync for Record {}

impl Record {
    /// A new record for `key` with `flags` set and no versions.
    ///
    /// # Panics
    ///
    /// If `key` is longer than [`MAX_RECORD_KEY_LEN`]: user keys are
    /// checked against [`MAX_KEY_LEN`] first, and an index key is an index
    /// key of bounded length followed by a user key.
    pub(super) fn new(flags: u8, key: &[u8]) -> Self {
        assert!(
            key.len() <= MAX_RECORD_KEY_LEN,
            "record key over the length field"
        );
        let layout = layout(key.len());
        // SAFETY: the layout's size is at least KEY_AT, not zero.
        let ptr = unsafe { alloc(layout) }.cast::<Header>();
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        let len = u32::try_from(key.len()).expect("checked against MAX_RECORD_KEY_LEN");
        // SAFETY: `ptr` is a new block of `layout`: aligned for a Header and
        // KEY_AT + key.len() bytes long. The header goes at its start, the
        // key bytes right after it; a new block cannot overlap `key`.
        unsafe {
            ptr.as_ptr().write(Header {
                head: epoch::Atomic::null(),
                refs: AtomicU32::new(1),
                ttl_slot: AtomicU32::new(0),
                access: AtomicU32::new(0),
                flags_len: AtomicU32::new(len << LEN_SHIFT | u32::from(flags)),
            });
            std::ptr::copy_nonoverlapping(
                key.as_ptr(),
                ptr.as_ptr().cast::<u8>().add(KEY_AT),
                key.len(),
            );
        }
        Self(ptr)
    }

    /// A handle to the record at `addr` that does not own a reference: it
    /// must not be dropped (hence the `ManuallyDrop`).
    ///
    /// # Safety
    ///
    /// `addr` came from [`Record::addr`] of a record still alive, and the
    /// caller keeps it alive for as long as it uses the handle.
    pub(super) unsafe fn borrow_addr(addr: usize) -> ManuallyDrop<Self> {
        // SAFETY: a live record's address is not null (per the contract).
        ManuallyDrop::new(Self(unsafe { NonNull::new_unchecked(addr as *mut Header) }))
    }

    /// The record's address.
    #[inline]
    pub(super) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The fixed part.
    #[inline]
    pub(super) fn header(&self) -> &Header {
        // SAFETY: the record stays alive while this handle (or the owner of
        // the reference a borrowed handle stands for) holds it, and its header
        // was initialised when it was made.
        unsafe { self.0.as_ref() }
    }

    /// The key bytes.
    #[inline]
    pub(super) fn key(&self) -> &[u8] {
        let len = (self.header().flags_len.load(Ordering::Relaxed) >> LEN_SHIFT) as usize;
        // SAFETY: the record holds `len` key bytes at KEY_AT, written when it
        // was made and never changed; they live as long as the header does.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>().add(KEY_AT), len) }
    }

    /// Sets `flag`; true if it was clear.
    pub(super) fn set_flag(&self, flag: u8) -> bool {
        let flag = u32::from(flag);
        self.header().flags_len.fetch_or(flag, Ordering::AcqRel) & flag == 0
    }

    /// Clears `flag`.
    pub(super) fn clear_flag(&self, flag: u8) {
        self.header()
            .flags_len
            .fetch_and(!u32::from(flag), Ordering::AcqRel);
    }

    /// True if `flag` is set.
    #[inline]
    pub(super) fn has_flag(&self, flag: u8) -> bool {
        self.header().flags_len.load(Ordering::Acquire) & u32::from(flag) != 0
    }
}

impl Clone for Record {
    fn clone(&self) -> Self {
        // A new handle is made from an existing one, which keeps the record
        // alive meanwhile: no ordering is needed (as in `Arc::clone`).
        let old = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
        Self(self.0)
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // Release: this handle's uses happen before the record is freed by
        // whichever handle is last; that one's Acquire fence sees them (the
        // protocol of `Arc`).
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let key_len = self.key().len();
        // SAFETY: this was the last handle, so no one else can reach the
        // record through one. Readers reach versions only through a handle
        // they hold, or one borrowed from the skiplist or the hash table
        // under an epoch guard; the skiplist destroys its node's handle only
        // after every such guard is released, and the hash table lets go of
        // a record before its skiplist node does. So no reader can reach
        // these versions: they are freed now. Tails cut off by GC are no
        // longer linked here, so nothing is freed twice. The block is then
        // freed with the layout it was allocated with.
        unsafe {
            let guard = epoch::unprotected();
            let header = self.0.as_ref();
            let mut current = header.head.load(Ordering::Relaxed, guard);
            while !current.is_null() {
                let next = current.deref().next.load(Ordering::Relaxed, guard);
                drop(current.into_owned());
                current = next;
            }
            dealloc(self.0.as_ptr().cast::<u8>(), layout(key_len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_its_key_and_flags_apart() {
        let key = vec![0xAB; MAX_RECORD_KEY_LEN];
        let record = Record::new(0x80 | 1, &key);
        assert_eq!(record.key(), &key[..]);
        assert!(record.has_flag(0x80) && record.has_flag(1));
        assert!(record.set_flag(2));
        record.clear_flag(0x80);
        record.clear_flag(1);
        assert!(!record.has_flag(0x80) && !record.has_flag(1) && record.has_flag(2));
        assert_eq!(record.key(), &key[..], "flag changes touched the length");
    }

    #[test]
    fn a_record_lives_until_its_last_handle_goes() {
        let record = Record::new(0, b"key");
        let second = record.clone();
        assert_eq!(second.addr(), record.addr());
        assert_eq!(record.header().refs.load(Ordering::Relaxed), 2);
        drop(record);
        assert_eq!(second.key(), b"key");
        assert_eq!(second.header().refs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_sixteen_byte_key_asks_for_forty_bytes() {
        assert_eq!(request(16), 40);
        assert_eq!(request(0), 24);
        assert_eq!(request(1), 32);
        assert_eq!(layout(16).size(), request(16));
    }
}
