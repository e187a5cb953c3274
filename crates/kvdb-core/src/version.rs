//! One version of one key: a value or a deletion marker, the sequence number
//! of the write that made it, and an optional absolute expiry time.
//!
//! Versions form a singly linked list per key, newest first (see
//! [`crate::chain`]). A version never changes after it is linked in, except
//! for its `next` pointer, which garbage collection may cut.
//!
//! # Layout
//!
//! A version is one allocation holding its header and, inline, its expiry
//! time (if it has one) and value bytes, so reading a value touches one
//! allocation and a 100-byte value takes a 120-byte block:
//!
//! ```text
//! offset 0   next        8 bytes   the next older version
//! offset 8   seq         8 bytes   as two u32 halves (keeps the header 4-aligned at its end)
//! offset 16  len_flags   4 bytes   tail length, TOMBSTONE, HAS_EXPIRY and BY_EXPIRY flags on top
//! offset 20  tail        [expires_at: 8 bytes, if HAS_EXPIRY] value bytes
//! ```
//!
//! It is a dynamically sized type managed by crossbeam-epoch through a
//! hand-written [`Pointable`] implementation.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};

use crossbeam_epoch::{Atomic, Owned, Pointable};

const TOMBSTONE: u32 = 1 << 31;
const HAS_EXPIRY: u32 = 1 << 30;
/// On a deletion marker: the value before it had expired ([`Deletion::Expiry`]).
const BY_EXPIRY: u32 = 1 << 29;
const LEN_MASK: u32 = BY_EXPIRY - 1;
const ALIGN: usize = 8;

// The header's offsets, each built from the previous field (see the diagram).
const NEXT_AT: usize = 0;
const SEQ_LO_AT: usize = NEXT_AT + std::mem::size_of::<Atomic<Version>>();
const SEQ_HI_AT: usize = SEQ_LO_AT + 4;
const LEN_FLAGS_AT: usize = SEQ_HI_AT + 4;
/// Bytes before the tail.
const HEADER: usize = LEN_FLAGS_AT + 4;
const EXPIRY_LEN: usize = 8;

// The offsets above are the ones the compiler gives the `repr(C)` struct.
const _: () = {
    assert!(std::mem::offset_of!(Version, next) == NEXT_AT);
    assert!(std::mem::offset_of!(Version, seq_lo) == SEQ_LO_AT);
    assert!(std::mem::offset_of!(Version, seq_hi) == SEQ_HI_AT);
    assert!(std::mem::offset_of!(Version, len_flags) == LEN_FLAGS_AT);
    assert!(HEADER == 20 && LEN_FLAGS_AT.is_multiple_of(4) && SEQ_LO_AT.is_multiple_of(4));
    assert!(std::mem::align_of::<Atomic<Version>>() <= ALIGN);
    // The longest tail leaves the flag bits free.
    assert!(crate::limits::MAX_VALUE_LEN + EXPIRY_LEN <= LEN_MASK as usize);
};

/// What a deletion marker deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deletion {
    /// A live value: a delete or an eviction a reader sees.
    Write,
    /// A value that had already expired at the writer's clock: by an expiry
    /// cycle, or by any delete that came after the expiry. The key read as
    /// absent from the moment the value expired, so for transaction
    /// validation this marker changes nothing.
    Expiry,
}

/// One version of a key (a dynamically sized type: header plus tail).
#[repr(C)]
pub(crate) struct Version {
    /// The next older version of the same key.
    pub(crate) next: Atomic<Version>,
    seq_lo: u32,
    seq_hi: u32,
    len_flags: u32,
    tail: [u8],
}

/// A new value version (`value` Some) or deletion marker (`None`), built at
/// once: the value is copied in before this returns, so nothing keeps a
/// pointer to the caller's bytes.
pub(crate) fn new_version(
    seq: u64,
    value: Option<&[u8]>,
    expires_at: Option<u64>,
) -> Owned<Version> {
    let init = VersionInit {
        seq,
        expires_at,
        value: value.map(|v| (v.as_ptr(), v.len())),
        by_expiry: false,
    };
    // `Pointable::init` copies the value; `value` is borrowed for this
    // whole call, so the pointer in `init` is valid throughout.
    Owned::init(init)
}

/// A new deletion marker, written by `deletion`.
pub(crate) fn new_deletion(seq: u64, deletion: Deletion) -> Owned<Version> {
    Owned::init(VersionInit {
        seq,
        expires_at: None,
        value: None,
        by_expiry: deletion == Deletion::Expiry,
    })
}

/// What [`new_version`] hands to [`Pointable::init`]. Private to this
/// module: its pointer is valid only during `new_version`'s call.
pub(crate) struct VersionInit {
    seq: u64,
    expires_at: Option<u64>,
    /// `None` for a deletion marker.
    value: Option<(*const u8, usize)>,
    /// A deletion marker written by an expiry ([`Deletion::Expiry`]).
    by_expiry: bool,
}

impl VersionInit {
    fn tail_len(&self) -> usize {
        self.value.map_or(0, |(_, len)| len)
            + if self.expires_at.is_some() {
                EXPIRY_LEN
            } else {
                0
            }
    }
}

fn layout(tail_len: usize) -> Layout {
    Layout::from_size_align(HEADER + tail_len, ALIGN)
        .expect("version size fits a layout")
        .pad_to_align()
}

/// The tail length stored in the header at `ptr`.
///
/// # Safety
///
/// `ptr` is the address of a version built by [`Pointable::init`].
unsafe fn tail_len_at(ptr: usize) -> usize {
    // SAFETY: the header's `len_flags` field is at LEN_FLAGS_AT, 4-aligned
    // (checked at compile time above) within the allocation.
    let len_flags = unsafe { *((ptr + LEN_FLAGS_AT) as *const u32) };
    (len_flags & LEN_MASK) as usize
}

impl Pointable for Version {
    const ALIGN: usize = ALIGN;

    type Init = VersionInit;

    unsafe fn init(init: VersionInit) -> usize {
        let tail_len = init.tail_len();
        let layout = layout(tail_len);
        // SAFETY: the layout has a non-zero size (at least the header).
        let ptr = unsafe { alloc(layout) };
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        let mut flags = u32::try_from(tail_len).expect("values are at most 256 MiB");
        debug_assert_eq!(flags & !LEN_MASK, 0);
        if init.value.is_none() {
            flags |= TOMBSTONE;
            if init.by_expiry {
                flags |= BY_EXPIRY;
            }
        }
        if init.expires_at.is_some() {
            flags |= HAS_EXPIRY;
        }
        // SAFETY: `ptr` is a fresh allocation of HEADER + tail_len bytes,
        // 8-aligned; each write stays within it at its field's offset and
        // alignment (checked at compile time above); the value source is
        // valid for the duration of `new_version`, the only caller.
        unsafe {
            (ptr.add(NEXT_AT) as *mut Atomic<Version>).write(Atomic::null());
            (ptr.add(SEQ_LO_AT) as *mut u32).write(init.seq as u32);
            (ptr.add(SEQ_HI_AT) as *mut u32).write((init.seq >> 32) as u32);
            (ptr.add(LEN_FLAGS_AT) as *mut u32).write(flags);
            let mut tail = ptr.add(HEADER);
            if let Some(at) = init.expires_at {
                std::ptr::copy_nonoverlapping(at.to_le_bytes().as_ptr(), tail, EXPIRY_LEN);
                tail = tail.add(EXPIRY_LEN);
            }
            if let Some((src, len)) = init.value {
                std::ptr::copy_nonoverlapping(src, tail, len);
            }
        }
        ptr as usize
    }

    unsafe fn deref<'a>(ptr: usize) -> &'a Version {
        // SAFETY: `ptr` was built by `init` (per the trait's contract), so
        // its header gives the tail length; the slice pointer's metadata is
        // that length, which is what a pointer to `Version` carries.
        unsafe {
            let len = tail_len_at(ptr);
            &*(std::ptr::slice_from_raw_parts(ptr as *const u8, len) as *const Version)
        }
    }

    unsafe fn deref_mut<'a>(ptr: usize) -> &'a mut Version {
        // SAFETY: as for `deref`; exclusivity is the caller's contract.
        unsafe {
            let len = tail_len_at(ptr);
            &mut *(std::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len) as *mut Version)
        }
    }

    unsafe fn drop(ptr: usize) {
        // SAFETY: `ptr` was allocated by `init` with exactly this layout; no
        // field needs dropping (`Atomic` does not own its pointee).
        unsafe {
            let len = tail_len_at(ptr);
            dealloc(ptr as *mut u8, layout(len));
        }
    }
}

impl Version {
    /// The sequence number of the write that created this version.
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        u64::from(self.seq_lo) | u64::from(self.seq_hi) << 32
    }

    #[inline]
    fn value_start(&self) -> usize {
        if self.len_flags & HAS_EXPIRY != 0 {
            8
        } else {
            0
        }
    }

    /// The value bytes, or `None` for a deletion marker.
    #[inline]
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        (self.len_flags & TOMBSTONE == 0).then(|| &self.tail[self.value_start()..])
    }

    /// The expiry time, if the version has one.
    #[inline]
    pub(crate) fn expires_at(&self) -> Option<u64> {
        (self.len_flags & HAS_EXPIRY != 0)
            .then(|| u64::from_le_bytes(self.tail[..8].try_into().expect("8 bytes")))
    }

    /// True for a value that has not expired at time `now_ms`.
    #[inline]
    pub(crate) fn is_live_at(&self, now_ms: u64) -> bool {
        self.is_value() && self.expires_at().is_none_or(|at| at > now_ms)
    }

    /// True for a deletion marker, or a value expired at time `now_ms`: a
    /// version that reads as "absent".
    #[inline]
    pub(crate) fn is_dead_at(&self, now_ms: u64) -> bool {
        !self.is_live_at(now_ms)
    }

    /// True if this is a value (expired or not).
    #[inline]
    pub(crate) fn is_value(&self) -> bool {
        self.len_flags & TOMBSTONE == 0
    }

    /// True for a deletion marker written over a value that had expired
    /// ([`Deletion::Expiry`]).
    #[inline]
    pub(crate) fn is_expiry_deletion(&self) -> bool {
        self.len_flags & BY_EXPIRY != 0
    }

    /// The version's address, for "is it still the head?" checks.
    pub(crate) fn addr(&self) -> usize {
        std::ptr::from_ref(self).cast::<u8>() as usize
    }

    /// Bytes this version occupies, as the allocator sizes its block.
    pub(crate) fn footprint(&self) -> usize {
        crate::alloc_size::block(layout(self.tail.len()).size())
    }
}

/// A borrowed view of a version, handed to callers of read closures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    /// The value bytes.
    pub value: &'a [u8],
    /// The absolute expiry time in ms since the Unix epoch, if any.
    pub expires_at: Option<u64>,
    /// The sequence number of the write that stored this value.
    pub seq: u64,
}

impl<'a> VersionRef<'a> {
    /// The caller-facing view of `version`, or `None` for a deletion marker.
    pub(crate) fn of(version: &'a Version) -> Option<Self> {
        Some(Self {
            value: version.bytes()?,
            expires_at: version.expires_at(),
            seq: version.seq(),
        })
    }
}

/// Bytes a value version of `value_len` bytes (with an expiry time if
/// `expires`) occupies, as [`Version::footprint`] counts it.
pub(crate) fn footprint_of_value(value_len: usize, expires: bool) -> usize {
    let tail = value_len + if expires { EXPIRY_LEN } else { 0 };
    crate::alloc_size::block(layout(tail).size())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(seq: u64, value: &[u8], expires_at: Option<u64>) -> Owned<Version> {
        new_version(seq, Some(value), expires_at)
    }

    fn tombstone(seq: u64) -> Owned<Version> {
        new_version(seq, None, None)
    }

    #[test]
    fn fields_round_trip_through_the_inline_layout() {
        let v = value(0x1_2345_6789, b"hello", Some(99));
        assert_eq!(v.seq(), 0x1_2345_6789);
        assert_eq!(v.bytes(), Some(&b"hello"[..]));
        assert_eq!(v.expires_at(), Some(99));
        let t = tombstone(u64::MAX);
        assert_eq!(t.seq(), u64::MAX);
        assert_eq!(t.bytes(), None);
        assert!(!t.is_value());
        let empty = value(1, b"", None);
        assert_eq!(empty.bytes(), Some(&b""[..]));
        assert_eq!(empty.expires_at(), None);
    }

    #[test]
    fn liveness_follows_expiry_and_tombstones() {
        let v = value(1, b"x", Some(100));
        assert!(v.is_live_at(99));
        assert!(
            !v.is_live_at(100),
            "a value is expired at its expiry instant"
        );
        assert!(v.is_dead_at(100));
        assert!(tombstone(2).is_dead_at(0));
        let forever = value(3, b"", None);
        assert!(forever.is_live_at(u64::MAX));
    }

    #[test]
    fn a_hundred_byte_value_fits_a_128_byte_block() {
        let v = value(1, &[7; 100], None);
        assert_eq!(layout(100).size(), 120);
        assert!(v.footprint() <= 128);
        let big = value(1, &[0; 1000], None);
        assert!(big.footprint() >= 1000 + HEADER);
        assert_eq!(big.bytes().unwrap().len(), 1000);
    }
}
