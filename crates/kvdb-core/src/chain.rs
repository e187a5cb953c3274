//! The per-key record: the key bytes and the key's version list.
//!
//! A [`ChainRef`] is a reference-counted pointer to one allocation holding a
//! small header and the key bytes inline (see [`record`] for its layout).
//! The ordered index stores `ChainRef`s as its keys, so comparing keys costs
//! one pointer hop, and any other structure (expiry sampling, GC queue, a
//! point-lookup accelerator) can hold the same record.
//!
//! Versions are linked newest first and managed with epoch-based reclamation:
//! readers walk them under a [`Guard`]; garbage collection detaches old tails
//! and defers their destruction until no reader can still see them.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};

use crossbeam_epoch::{Guard, Owned, Pointer, Shared};

mod record;

use record::{Header, Record};

use crate::space::Space;
use crate::version::{Deletion, Version, new_deletion, new_version};

const GC_QUEUED: u8 = 1;
const TTL_TRACKED: u8 = 2;
const REMOVED: u8 = 4;
/// Set on chains of the index key space (fixed at creation).
const INDEX_SPACE: u8 = 8;
/// Set while the chain's node in the ordered index is of generation 1 (see
/// `index/ordered_key.rs`); changed only under the write lock.
const NODE_GENERATION: u8 = 16;

/// A shared handle to one key's record. Ordered, compared and hashed by key
/// bytes, so it can be looked up by `&[u8]`.
#[derive(Clone)]
pub(crate) struct ChainRef(Record);

/// The mean block of the ordered index's node for a key: its reference
/// count and `OrderedKey` (the key's leading bytes and a `ChainRef`), plus
/// one pointer per level.
fn skiplist_node() -> usize {
    const FIXED: usize =
        std::mem::size_of::<usize>() + std::mem::size_of::<crate::index::OrderedKey>();
    crate::alloc_size::mean_tower_block::<FIXED>()
}

/// Bytes a record for a key of `key_len` bytes occupies (see
/// [`ChainRef::footprint`]).
pub(crate) fn footprint_of_key(key_len: usize) -> usize {
    crate::alloc_size::block(record::request(key_len)) + skiplist_node()
}

/// What garbage collection freed from one chain.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Freed {
    pub(crate) versions: usize,
    pub(crate) bytes: usize,
}

impl ChainRef {
    /// A new chain for `key` of the user key space, with no versions.
    #[cfg(test)]
    pub(crate) fn new(key: &[u8]) -> Self {
        Self::new_in(Space::User, key)
    }

    /// A new chain for `key` of `space`, with no versions.
    pub(crate) fn new_in(space: Space, key: &[u8]) -> Self {
        let flags = match space {
            Space::User => 0,
            Space::Index => INDEX_SPACE,
        };
        Self(Record::new(flags, key))
    }

    /// The key bytes.
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.0.key()
    }

    #[inline]
    fn header(&self) -> &Header {
        self.0.header()
    }

    /// True if both handles point at the same record.
    pub(crate) fn same(&self, other: &ChainRef) -> bool {
        self.0.addr() == other.0.addr()
    }

    /// The address of the record, as the point index stores it.
    pub(crate) fn addr(&self) -> usize {
        self.0.addr()
    }

    /// A handle to the record at `addr` that does not own a reference.
    ///
    /// # Safety
    ///
    /// `addr` came from [`ChainRef::addr`] of a record that stays alive for
    /// `'g` (held alive by its owners for as long as the caller's epoch
    /// guard is pinned).
    pub(crate) unsafe fn borrow_addr<'g>(addr: usize) -> ChainBorrow<'g> {
        ChainBorrow {
            // SAFETY: `addr` is a live record's address, kept alive for `'g`
            // (per the contract); the ManuallyDrop around the handle keeps
            // its reference count untouched.
            chain: ManuallyDrop::new(ChainRef(ManuallyDrop::into_inner(unsafe {
                Record::borrow_addr(addr)
            }))),
            _guard: PhantomData,
        }
    }

    /// Bytes the record itself occupies (without its versions): its
    /// allocation and its ordered index node, as the allocator sizes them
    /// (the node's tower at its mean height).
    pub(crate) fn footprint(&self) -> usize {
        footprint_of_key(self.key().len())
    }

    /// The key's access word (see `access.rs`).
    #[inline]
    pub(crate) fn access(&self) -> &AtomicU32 {
        &self.header().access
    }

    /// The newest version, published or not.
    #[inline]
    pub(crate) fn head<'a>(&'a self, guard: &'a Guard) -> Option<&'a Version> {
        // SAFETY: versions reachable from the head are freed only by `Drop`
        // (which cannot run while `self` is borrowed) or after being detached by
        // GC and deferred to the epoch collector, which waits for `guard`.
        unsafe { self.header().head.load(Ordering::Acquire, guard).as_ref() }
    }

    /// The address of the head version, for "has it changed?" checks.
    pub(crate) fn head_addr(&self, guard: &Guard) -> usize {
        self.header()
            .head
            .load(Ordering::Acquire, guard)
            .into_usize()
    }

    /// The version following `version` in this chain.
    #[inline]
    pub(crate) fn next<'a>(
        &'a self,
        version: &'a Version,
        guard: &'a Guard,
    ) -> Option<&'a Version> {
        // SAFETY: as for `head`: the pointee is either still linked in this
        // chain (kept alive by `self`) or detached and deferred behind `guard`.
        unsafe { version.next.load(Ordering::Acquire, guard).as_ref() }
    }

    /// The newest version with sequence number at or below `seq`.
    #[inline]
    pub(crate) fn version_at<'a>(&'a self, seq: u64, guard: &'a Guard) -> Option<&'a Version> {
        let mut current = self.head(guard);
        while let Some(v) = current {
            if v.seq() <= seq {
                return Some(v);
            }
            current = self.next(v, guard);
        }
        None
    }

    /// Links in a new version as the newest: a value, or a deletion marker
    /// if `value` is `None`. Callers hold the store's write lock, so heads
    /// are only ever replaced by one thread at a time.
    pub(crate) fn push(
        &self,
        seq: u64,
        value: Option<&[u8]>,
        expires_at: Option<u64>,
        guard: &Guard,
    ) {
        self.link(new_version(seq, value, expires_at), guard);
    }

    /// Links in a deletion marker of `deletion`'s kind as the newest
    /// version. Callers hold the store's write lock.
    pub(crate) fn push_deletion(&self, seq: u64, deletion: Deletion, guard: &Guard) {
        self.link(new_deletion(seq, deletion), guard);
    }

    fn link(&self, new: Owned<Version>, guard: &Guard) {
        let head = &self.header().head;
        let old = head.load(Ordering::Relaxed, guard);
        new.next.store(old, Ordering::Relaxed);
        head.store(new, Ordering::Release);
    }

    /// The sequence number of the newest write to the key that a
    /// transaction validates against: the newest version that is not a
    /// deletion marker over an expired value (expiry by the clock is not a
    /// write, nor is removing what expired). `None` if every version the
    /// chain still holds is such a marker: what it deleted was collected,
    /// so was older than any open view.
    pub(crate) fn newest_write_seq(&self, guard: &Guard) -> Option<u64> {
        let mut current = self.head(guard);
        while let Some(v) = current {
            if !v.is_expiry_deletion() {
                return Some(v.seq());
            }
            current = self.next(v, guard);
        }
        None
    }

    /// Detaches every version older than `base` and hands them to the epoch
    /// collector. Only one garbage collector may run at a time.
    pub(crate) fn cut_after(&self, base: &Version, guard: &Guard) -> Freed {
        let mut freed = Freed::default();
        let mut current: Shared<'_, Version> =
            base.next.swap(Shared::null(), Ordering::AcqRel, guard);
        while !current.is_null() {
            // SAFETY: `current` was detached from the chain by the swap above
            // (only one collector runs, so no one else detaches it) and no new
            // reader can reach it; readers already on it are protected by the
            // epoch, which the deferred destruction waits for.
            unsafe {
                let v = current.deref();
                freed.versions += 1;
                freed.bytes += v.footprint();
                let next = v.next.load(Ordering::Acquire, guard);
                guard.defer_destroy(current);
                current = next;
            }
        }
        freed
    }

    fn set_flag(&self, flag: u8) -> bool {
        self.0.set_flag(flag)
    }

    fn clear_flag(&self, flag: u8) {
        self.0.clear_flag(flag);
    }

    fn has_flag(&self, flag: u8) -> bool {
        self.0.has_flag(flag)
    }

    /// The key space the chain belongs to.
    #[inline]
    pub(crate) fn space(&self) -> Space {
        if self.has_flag(INDEX_SPACE) {
            Space::Index
        } else {
            Space::User
        }
    }

    /// Marks the chain as queued for GC; true if it was not queued before.
    pub(crate) fn mark_gc_queued(&self) -> bool {
        self.set_flag(GC_QUEUED)
    }

    /// Clears the GC-queued mark before the collector looks at the chain.
    pub(crate) fn clear_gc_queued(&self) {
        self.clear_flag(GC_QUEUED);
    }

    /// Marks the chain as tracked for expiry sampling; true if newly tracked.
    pub(crate) fn mark_ttl_tracked(&self) -> bool {
        self.set_flag(TTL_TRACKED)
    }

    /// Clears the expiry-tracking mark.
    pub(crate) fn clear_ttl_tracked(&self) {
        self.clear_flag(TTL_TRACKED);
    }

    /// True while the expiry tracker lists the chain.
    pub(crate) fn is_ttl_tracked(&self) -> bool {
        self.has_flag(TTL_TRACKED)
    }

    /// The chain's position in the expiry tracker (maintained by the tracker
    /// under its lock; a stale value is caught by the tracker's identity check).
    pub(crate) fn ttl_slot(&self) -> usize {
        self.header().ttl_slot.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn set_ttl_slot(&self, slot: usize) {
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        self.header().ttl_slot.store(slot, Ordering::Relaxed);
    }

    /// The generation of the chain's node in the ordered index, 0 or 1.
    #[inline]
    pub(crate) fn node_generation(&self) -> u8 {
        u8::from(self.has_flag(NODE_GENERATION))
    }

    /// Records that the chain's node is now of `generation` (0 or 1).
    /// Callers hold the write lock.
    pub(crate) fn set_node_generation(&self, generation: u8) {
        if generation == 0 {
            self.clear_flag(NODE_GENERATION);
        } else {
            self.set_flag(NODE_GENERATION);
        }
    }

    /// Marks the chain as removed from the ordered index.
    pub(crate) fn mark_removed(&self) {
        self.set_flag(REMOVED);
    }

    /// True once the chain has been removed from the ordered index.
    pub(crate) fn is_removed(&self) -> bool {
        self.has_flag(REMOVED)
    }
}

/// A record found through the point index: usable like a [`ChainRef`]
/// while the epoch guard it was found under is pinned, without touching the
/// record's reference count.
pub(crate) struct ChainBorrow<'g> {
    chain: ManuallyDrop<ChainRef>,
    _guard: PhantomData<&'g Guard>,
}

impl Deref for ChainBorrow<'_> {
    type Target = ChainRef;

    fn deref(&self) -> &ChainRef {
        &self.chain
    }
}

/// A handle to a record that does not count itself among the record's
/// owners: it is usable like a [`ChainRef`] for as long as something else
/// keeps the record alive, which whoever makes one must argue (see
/// [`UncountedChain::new`]). Making and dropping one touches no reference
/// count, so no atomic write.
pub(crate) struct UncountedChain(ManuallyDrop<ChainRef>);

impl UncountedChain {
    /// A handle to `chain`'s record that does not own a reference.
    ///
    /// # Safety
    ///
    /// The record stays alive for as long as the handle is used: some other
    /// owner (an index node, a counted handle) holds it for that long.
    pub(crate) unsafe fn new(chain: &ChainRef) -> Self {
        // SAFETY: `chain` is a live record's handle; the caller keeps the
        // record alive while the handle is used, and the ManuallyDrop keeps
        // the handle from giving up a reference it never took.
        Self(ManuallyDrop::new(ChainRef(ManuallyDrop::into_inner(
            unsafe { Record::borrow_addr(chain.addr()) },
        ))))
    }
}

impl Deref for UncountedChain {
    type Target = ChainRef;

    fn deref(&self) -> &ChainRef {
        &self.0
    }
}

impl Borrow<[u8]> for ChainRef {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl PartialEq for ChainRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ChainRef {}

impl PartialOrd for ChainRef {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChainRef {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.key().cmp(other.key())
    }
}

impl Hash for ChainRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl std::fmt::Debug for ChainRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainRef({:?})", self.key().escape_ascii().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_epoch as epoch;

    #[test]
    fn version_at_picks_newest_at_or_below() {
        let chain = ChainRef::new(b"k");
        let guard = epoch::pin();
        chain.push(10, Some(b"a"), None, &guard);
        chain.push(20, None, None, &guard);
        chain.push(30, Some(b"c"), None, &guard);
        assert!(chain.version_at(9, &guard).is_none());
        assert_eq!(
            chain.version_at(10, &guard).unwrap().bytes(),
            Some(&b"a"[..])
        );
        assert_eq!(chain.version_at(25, &guard).unwrap().bytes(), None);
        assert_eq!(chain.version_at(u64::MAX, &guard).unwrap().seq(), 30);
    }

    #[test]
    fn the_newest_write_passes_over_deletions_an_expiry_wrote() {
        let chain = ChainRef::new(b"k");
        let guard = epoch::pin();
        assert_eq!(chain.newest_write_seq(&guard), None);
        chain.push(10, Some(b"a"), Some(5), &guard);
        chain.push_deletion(20, Deletion::Expiry, &guard);
        assert_eq!(chain.newest_write_seq(&guard), Some(10));
        let head = chain.head(&guard).unwrap();
        assert!(head.is_expiry_deletion() && !head.is_value());
        chain.push(30, Some(b"b"), None, &guard);
        chain.push_deletion(40, Deletion::Write, &guard);
        assert_eq!(chain.newest_write_seq(&guard), Some(40));
        assert!(!chain.head(&guard).unwrap().is_expiry_deletion());

        // What the expiry deleted was collected: no write is left.
        let reaped = ChainRef::new(b"r");
        reaped.push_deletion(50, Deletion::Expiry, &guard);
        assert_eq!(reaped.newest_write_seq(&guard), None);
    }

    #[test]
    fn cut_after_detaches_older_versions() {
        let chain = ChainRef::new(b"k");
        let guard = epoch::pin();
        for seq in 1..=5 {
            chain.push(seq, Some(b"v"), None, &guard);
        }
        let base = chain.version_at(3, &guard).unwrap();
        let freed = chain.cut_after(base, &guard);
        assert_eq!(freed.versions, 2);
        assert!(chain.version_at(2, &guard).is_none());
        assert_eq!(chain.version_at(3, &guard).unwrap().seq(), 3);
    }

    #[test]
    fn flags_report_first_setter() {
        let chain = ChainRef::new(b"k");
        assert!(chain.mark_gc_queued());
        assert!(!chain.mark_gc_queued());
        chain.clear_gc_queued();
        assert!(chain.mark_gc_queued());
        assert!(!chain.is_removed());
        chain.mark_removed();
        assert!(chain.is_removed());
    }

    #[test]
    fn ordering_and_lookup_are_by_key_bytes() {
        let a = ChainRef::new(b"a");
        let b = ChainRef::new(b"b");
        assert!(a < b);
        assert_eq!(a, ChainRef::new(b"a"));
        assert!(!a.same(&ChainRef::new(b"a")));
        let borrowed: &[u8] = a.borrow();
        assert_eq!(borrowed, b"a");
    }
}
