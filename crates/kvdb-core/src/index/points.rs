//! The point-lookup accelerator: a hash table from key bytes to chains,
//! beside the ordered skiplist, so that a point read costs one hash probe
//! instead of a skiplist descent.
//!
//! # Design
//!
//! Open addressing with linear probing over an array of 16-byte slots. A
//! slot's entry word is empty, a tombstone, or a chain's address with a
//! 16-bit tag from the key's hash in its top bits (x86-64 and AArch64 user
//! addresses fit in 48 bits; if one does not, the table stores full
//! addresses untagged). Tags let a probe skip non-matching slots without
//! touching their chains.
//!
//! Beside the entry, a slot holds a *hint*: the address of the chain's
//! newest version when the writer last changed it. A lookup starts loading
//! the hinted version as soon as it reads the slot, while the chain itself
//! is still on its way, so a point read waits for two memory accesses in a
//! row (slot, then chain and version together) instead of three. The hint
//! is only ever prefetched, never dereferenced: a stale one (a race with
//! the writer) costs a wasted prefetch, not a wrong read — the read itself
//! goes through the chain as always.
//!
//! **Readers** are lock-free: they load the current table under an epoch
//! guard and probe. **The writer** is whoever holds the store's write lock,
//! so there is only ever one: it fills empty or tombstone slots, turns
//! removed entries into tombstones, and grows or rebuilds the table by
//! building a new one and publishing it with one pointer store; the old
//! table is freed through the epoch collector once no reader can hold it.
//!
//! Slots hold no reference count. A chain is in the table exactly while it
//! is in the skiplist, and both change under the write lock; a removed
//! chain stays alive while any reader that might have found it is pinned,
//! because the skiplist node that owns it is itself destroyed only through
//! the epoch collector.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_epoch::{self as epoch, Guard, Owned};

use crate::chain::{ChainBorrow, ChainRef};
use crate::huge::{Zeroable, ZeroedArray};
use crate::writer_count::WriterCount;

const EMPTY: u64 = 0;
const TOMBSTONE: u64 = 1;
const TAG_SHIFT: u32 = 48;
const ADDR_MASK: u64 = (1 << TAG_SHIFT) - 1;
const MIN_CAPACITY: usize = 16;

/// One slot: a (tagged) chain address, and where its newest version was.
/// Aligned so that a slot never straddles two cache lines.
#[repr(C, align(16))]
struct Slot {
    entry: AtomicU64,
    /// The chain's head version's address, to prefetch; 0 for none.
    hint: AtomicU64,
}

// SAFETY: an all-zero slot is an empty one (`EMPTY` is 0) with no hint;
// atomics need no drop.
unsafe impl Zeroable for Slot {}

struct Table {
    /// On huge pages once large: lookups land on random slots.
    slots: ZeroedArray<Slot>,
    mask: usize,
    /// 64 minus log2 of the capacity: what [`Table::home`] shifts by.
    shift: u32,
    /// Slots carry a hash tag above a 48-bit address.
    tagged: bool,
    /// How many rebuilds made the tables before this one: a pass over the
    /// slots across pins of the epoch tells by it that the table changed
    /// (an address could be reused).
    generation: u64,
    #[cfg_attr(not(test), expect(dead_code, reason = "read in test builds only"))]
    live: LiveTables,
}

/// How many of one index's tables are alive, counted in test builds only
/// (tests check that retired tables are freed); empty otherwise. Per index,
/// so that tests running side by side do not see each other's tables.
#[derive(Clone, Default)]
struct LiveTables(#[cfg(test)] std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl LiveTables {
    #[cfg(test)]
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
impl Drop for Table {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Table {
    /// The slots a table asked for `capacity` has.
    fn capacity_for(capacity: usize) -> usize {
        capacity.next_power_of_two().max(MIN_CAPACITY)
    }

    fn new(capacity: usize, tagged: bool, generation: u64, live: LiveTables) -> Self {
        let capacity = Self::capacity_for(capacity);
        #[cfg(test)]
        live.0.fetch_add(1, Ordering::SeqCst);
        Self {
            slots: ZeroedArray::new(capacity),
            mask: capacity - 1,
            shift: 64 - capacity.trailing_zeros(),
            tagged,
            generation,
            live,
        }
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    fn encode(&self, addr: usize, hash: u64) -> u64 {
        if self.tagged {
            (hash & !ADDR_MASK) | addr as u64
        } else {
            addr as u64
        }
    }

    /// True if `slot` may hold a chain whose key hashes to `hash`.
    #[inline]
    fn may_match(&self, slot: u64, hash: u64) -> bool {
        slot != TOMBSTONE && (!self.tagged || (slot ^ hash) & !ADDR_MASK == 0)
    }

    /// The first slot of `hash`'s probe sequence: the top bits of the hash
    /// times 2^64/phi (Fibonacci hashing). The hash's own low bits are not
    /// used directly: for keys that differ only in a counter, some seeds
    /// leave them so regular that linear probing piles keys into runs
    /// hundreds of slots long.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn addr(&self, slot: u64) -> usize {
        (if self.tagged { slot & ADDR_MASK } else { slot }) as usize
    }

    /// Fills the first free slot of `hash`'s probe sequence with `addr` and
    /// its version `hint` (writer only); returns whether the slot was empty
    /// (rather than a tombstone).
    fn place(&self, addr: usize, hash: u64, hint: usize) -> bool {
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            let entry = slot.entry.load(Ordering::Relaxed);
            if entry == EMPTY || entry == TOMBSTONE {
                slot.hint.store(hint as u64, Ordering::Relaxed);
                slot.entry.store(self.encode(addr, hash), Ordering::Release);
                return entry == EMPTY;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot holding chain address `addr`, whose key hashes to `hash`.
    fn find(&self, addr: usize, hash: u64) -> Option<&Slot> {
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            let entry = slot.entry.load(Ordering::Relaxed);
            if entry == EMPTY {
                return None;
            }
            if entry != TOMBSTONE && self.addr(entry) == addr {
                return Some(slot);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The hash index of a store's chains.
pub(crate) struct PointIndex {
    table: epoch::Atomic<Table>,
    /// Chains in the table.
    len: WriterCount,
    /// Slots not empty (chains and tombstones): what bounds probe length.
    used: WriterCount,
    hasher: foldhash::fast::FixedState,
    live: LiveTables,
}

/// The slots a rebuilt table for `len` chains asks for: half again as
/// many, so that a table full of chains doubles, while one rebuilt because
/// tombstones filled it keeps its size (a table that only ever doubled
/// would grow under churn with a constant number of keys).
fn rebuilt_capacity(len: usize) -> usize {
    len + len / 2
}

fn addr_fits(addr: usize) -> bool {
    addr as u64 & !ADDR_MASK == 0
}

impl PointIndex {
    pub(crate) fn new() -> Self {
        // A per-store random seed keeps adversarial keys from colliding.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let live = LiveTables::default();
        Self {
            table: epoch::Atomic::new(Table::new(MIN_CAPACITY, true, 0, live.clone())),
            len: WriterCount::new(0),
            used: WriterCount::new(0),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            live,
        }
    }

    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        h.finish()
    }

    /// Starts loading the slot where a probe for `key` begins, so that a
    /// later insert or lookup of `key` finds it in the cache.
    #[inline]
    pub(crate) fn prefetch(&self, key: &[u8], guard: &Guard) {
        self.prefetch_slot(self.hash(key), guard);
    }

    /// As [`Self::prefetch`], given `hash` = [`Self::hash`] of the key.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64, guard: &Guard) {
        let table = self.current(guard);
        let slot: *const Slot = &table.slots[table.home(hash)];
        crate::prefetch::prefetch(slot as usize);
    }

    /// Starts loading the first chain a lookup of `hash` would compare, and
    /// its newest version. It reads the slot: call [`Self::prefetch_slot`]
    /// well before, or this waits for the slot as a lookup would.
    #[inline]
    pub(crate) fn prefetch_chain(&self, hash: u64, guard: &Guard) {
        if let Some(chain) = self.probe(hash, guard).next() {
            crate::prefetch::prefetch(chain.addr());
        }
    }

    fn current<'g>(&self, guard: &'g Guard) -> &'g Table {
        // SAFETY: the table pointer is never null (set in `new`, replaced
        // only by another table), and a replaced table is destroyed through
        // the epoch collector, after `guard` is released.
        unsafe { self.table.load(Ordering::Acquire, guard).deref() }
    }

    /// The chain for `key`, if the table holds one.
    #[inline]
    pub(crate) fn get<'g>(&self, key: &[u8], guard: &'g Guard) -> Option<ChainBorrow<'g>> {
        self.get_hashed(key, self.hash(key), guard)
    }

    /// As [`Self::get`], given `hash`, which is [`Self::hash`] of `key`.
    #[inline]
    pub(crate) fn get_hashed<'g>(
        &self,
        key: &[u8],
        hash: u64,
        guard: &'g Guard,
    ) -> Option<ChainBorrow<'g>> {
        self.probe(hash, guard).find(|chain| chain.key() == key)
    }

    /// Calls `f` with every chain in the table whose key hashes to `hash`
    /// (in practice one at most) until it returns `Some`.
    pub(crate) fn find_hashed<'g, R>(
        &self,
        hash: u64,
        guard: &'g Guard,
        f: impl FnMut(ChainBorrow<'g>) -> Option<R>,
    ) -> Option<R> {
        self.probe(hash, guard)
            .filter(|chain| self.hash(chain.key()) == hash)
            .find_map(f)
    }

    /// The chains along `hash`'s probe sequence whose slots carry its tag,
    /// up to the first empty slot: every chain whose key may hash to it.
    #[inline]
    fn probe<'g>(&self, hash: u64, guard: &'g Guard) -> impl Iterator<Item = ChainBorrow<'g>> {
        let table = self.current(guard);
        let mut i = table.home(hash);
        std::iter::from_fn(move || {
            loop {
                let at = &table.slots[i];
                let slot = at.entry.load(Ordering::Acquire);
                if slot == EMPTY {
                    return None;
                }
                i = (i + 1) & table.mask;
                if table.may_match(slot, hash) {
                    // The version this chain most likely leads to: loaded
                    // alongside the chain rather than after it.
                    crate::prefetch::prefetch(at.hint.load(Ordering::Relaxed) as usize);
                    // SAFETY: a slot holding an address was filled by
                    // `insert` with a chain that was in the skiplist then. If
                    // it has been removed since, the skiplist node owning it
                    // is destroyed only through the epoch collector, which
                    // waits for `guard`, which the returned borrow cannot
                    // outlive.
                    return Some(unsafe { ChainRef::borrow_addr(table.addr(slot)) });
                }
            }
        })
    }

    /// Up to `want` chains from the occupied slots at or after slot `start`
    /// (wrapping; reduced modulo the capacity), in slot order: a random
    /// sample of the keys when `start` is random.
    pub(crate) fn sample<'g>(
        &self,
        start: usize,
        want: usize,
        guard: &'g Guard,
    ) -> Vec<ChainBorrow<'g>> {
        let table = self.current(guard);
        let mut found = Vec::with_capacity(want);
        let mut i = start & table.mask;
        for _ in 0..table.capacity() {
            if found.len() >= want {
                break;
            }
            let slot = table.slots[i].entry.load(Ordering::Acquire);
            if slot != EMPTY && slot != TOMBSTONE {
                // SAFETY: as in `probe`: the chain is alive while `guard`
                // is pinned, and the borrow cannot outlive it.
                found.push(unsafe { ChainRef::borrow_addr(table.addr(slot)) });
            }
            i = (i + 1) & table.mask;
        }
        found
    }

    /// Calls `f` with every chain the table holds, a chunk of slots per
    /// pin of the epoch, so that reclamation waits for one chunk at most.
    /// Every chain held from the start of the pass to its end is visited;
    /// one added or removed meanwhile may be or not. A rebuild of the table
    /// meanwhile (the writer's, as keys come and go) moves chains between
    /// slots, so the pass starts over in the new table and `f` sees some
    /// chains twice.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&ChainBorrow<'_>)) {
        const SLOTS_PER_PIN: usize = 4096;
        let mut start = 0;
        let mut generation = None;
        loop {
            let guard = crossbeam_epoch::pin();
            let table = self.current(&guard);
            if generation != Some(table.generation) {
                generation = Some(table.generation);
                start = 0;
            }
            if start >= table.capacity() {
                return;
            }
            let end = (start + SLOTS_PER_PIN).min(table.capacity());
            for at in &table.slots[start..end] {
                let slot = at.entry.load(Ordering::Acquire);
                if slot != EMPTY && slot != TOMBSTONE {
                    // SAFETY: as in `probe`: the chain is alive while
                    // `guard` is pinned, and the borrow does not outlive
                    // this iteration.
                    f(&unsafe { ChainRef::borrow_addr(table.addr(slot)) });
                }
            }
            start = end;
        }
    }

    /// Adds `chain`, whose key the table does not hold. Writer only.
    pub(crate) fn insert(&self, chain: &ChainRef, guard: &Guard) {
        let addr = chain.addr();
        let mut table = self.current(guard);
        let needs_untagged = table.tagged && !addr_fits(addr);
        if needs_untagged || (self.used.get() + 1) * 4 > table.capacity() * 3 {
            self.rebuild(self.len.get() + 1, table.tagged && !needs_untagged, guard);
            table = self.current(guard);
        }
        if table.place(addr, self.hash(chain.key()), chain.head_addr(guard)) {
            self.used.add(1);
        }
        self.len.add(1);
    }

    /// Records `chain`'s current head version as its slot's hint, after the
    /// writer changed it. Writer only.
    pub(crate) fn note_head(&self, chain: &ChainRef, guard: &Guard) {
        let table = self.current(guard);
        if let Some(slot) = table.find(chain.addr(), self.hash(chain.key())) {
            slot.hint
                .store(chain.head_addr(guard) as u64, Ordering::Relaxed);
        }
    }

    /// Removes `chain`; false if the table did not hold it. Writer only.
    pub(crate) fn remove(&self, chain: &ChainRef, guard: &Guard) -> bool {
        let table = self.current(guard);
        let Some(slot) = table.find(chain.addr(), self.hash(chain.key())) else {
            return false;
        };
        slot.entry.store(TOMBSTONE, Ordering::Release);
        let len = self.len.sub(1);
        // Shrink (and shed tombstones) once less than an eighth full, so
        // memory follows mass deletions down. Growing at three quarters
        // keeps the two thresholds far apart.
        if table.capacity() > MIN_CAPACITY && len * 8 < table.capacity() {
            self.rebuild(len, table.tagged, guard);
        }
        true
    }

    /// Rebuilds the table at the size a rebuild for the chains it holds
    /// would make, if that is smaller: a table grown for many chains (say,
    /// by a replay that deleted most of them, collected only afterwards)
    /// shrinks by itself only once less than an eighth full. Returns the
    /// bytes freed. Writer only.
    pub(crate) fn shrink_to_fit(&self, guard: &Guard) -> usize {
        let table = self.current(guard);
        let len = self.len.get();
        let fitting = Table::capacity_for(rebuilt_capacity(len));
        if fitting >= table.capacity() {
            return 0;
        }
        let before = self.footprint();
        self.rebuild(len, table.tagged, guard);
        before.saturating_sub(self.footprint())
    }

    /// Makes room for `additional` more chains without rebuilding on the way
    /// (before loading a snapshot). Writer only.
    pub(crate) fn reserve(&self, additional: usize, guard: &Guard) {
        let table = self.current(guard);
        let needed = self.len.get() + additional;
        if needed * 4 > table.capacity() * 3 {
            self.rebuild(needed, table.tagged, guard);
        }
    }

    /// Builds a table sized for `len` chains (a third to two thirds full)
    /// holding every chain of the current one, and publishes it. Writer
    /// only.
    fn rebuild(&self, len: usize, tagged: bool, guard: &Guard) {
        let old = self.current(guard);
        let new = Table::new(
            rebuilt_capacity(len),
            tagged,
            old.generation + 1,
            self.live.clone(),
        );
        let mut placed = 0;
        for slot in old.slots.iter() {
            let hint = slot.hint.load(Ordering::Relaxed) as usize;
            let slot = slot.entry.load(Ordering::Relaxed);
            if slot == EMPTY || slot == TOMBSTONE {
                continue;
            }
            let addr = old.addr(slot);
            // SAFETY: every address in the table is a live chain (the writer,
            // which we are, removes chains from the table before they die).
            let chain = unsafe { ChainRef::borrow_addr(addr) };
            new.place(addr, self.hash(chain.key()), hint);
            placed += 1;
        }
        self.used.set(placed);
        let previous = self.table.swap(Owned::new(new), Ordering::AcqRel, guard);
        // SAFETY: `previous` is no longer reachable from `self.table`;
        // readers still using it are pinned, and the collector waits for them.
        unsafe { guard.defer_destroy(previous) };
        // Hand the old table to the collector now: a thread-local bag is
        // otherwise flushed only once 64 items pile up, and an insert-only
        // workload defers nothing else, so old tables would never be freed.
        guard.flush();
    }

    /// The most the table's slots can grow by if `additional` new keys are
    /// inserted now (it is rebuilt when three quarters of its slots are
    /// used). An upper bound, not a prediction: an insert that reuses a
    /// tombstone leaves the used count where it was, so the rebuild may
    /// come at any of the inserts or at none, and the latest rebuilds the
    /// largest table. (A table rebuilt because a chain's address does not
    /// fit in 48 bits is not counted: Linux gives user space such
    /// addresses only to a program that asks for them.)
    pub(crate) fn growth(&self, additional: usize) -> usize {
        let capacity = self.current(&epoch::pin()).capacity();
        let used = self.used.get();
        if additional == 0 || (used + additional) * 4 <= capacity * 3 {
            return 0; // no insert can pass the threshold
        }
        let len = self.len.get();
        let largest = rebuilt_capacity(len + additional)
            .next_power_of_two()
            .max(MIN_CAPACITY);
        largest.saturating_sub(capacity) * std::mem::size_of::<Slot>()
    }

    /// The bytes the table's slots shrink by if `removed` of its chains
    /// are removed now, one after the other (see [`PointIndex::remove`]:
    /// each removal that leaves it less than an eighth full rebuilds it
    /// for the chains left).
    pub(crate) fn shrink(&self, removed: usize) -> usize {
        let mut capacity = self.current(&epoch::pin()).capacity();
        let mut len = self.len.get();
        let before = capacity;
        let last = len.saturating_sub(removed);
        while capacity > MIN_CAPACITY {
            // The first length a removal leaves that is under an eighth.
            let rebuilt_at = ((capacity - 1) / 8).min(len.saturating_sub(1));
            if last > rebuilt_at || len == 0 {
                break;
            }
            capacity = Table::capacity_for(rebuilt_capacity(rebuilt_at));
            len = rebuilt_at;
        }
        (before - capacity) * std::mem::size_of::<Slot>()
    }

    /// Bytes held by the table's slots.
    pub(crate) fn footprint(&self) -> usize {
        self.current(&epoch::pin()).capacity() * std::mem::size_of::<Slot>()
    }
}

impl Drop for PointIndex {
    fn drop(&mut self) {
        // SAFETY: dropping the index means no reader holds a reference to it.
        unsafe {
            let table = self.table.load(Ordering::Relaxed, epoch::unprotected());
            drop(table.into_owned());
        }
    }
}

#[cfg(test)]
impl PointIndex {
    /// The version hint in `chain`'s slot.
    fn hint_of(&self, chain: &ChainRef) -> Option<usize> {
        let guard = epoch::pin();
        let table = self.current(&guard);
        table
            .find(chain.addr(), self.hash(chain.key()))
            .map(|slot| slot.hint.load(Ordering::Relaxed) as usize)
    }

    /// The mean number of slots a lookup of a present key reads.
    fn mean_probe_length(&self) -> f64 {
        let guard = epoch::pin();
        let table = self.current(&guard);
        let (mut chains, mut probes) = (0usize, 0usize);
        for (i, slot) in table.slots.iter().enumerate() {
            let slot = slot.entry.load(Ordering::Relaxed);
            if slot == EMPTY || slot == TOMBSTONE {
                continue;
            }
            // SAFETY: the test holds every chain it inserted.
            let chain = unsafe { ChainRef::borrow_addr(table.addr(slot)) };
            let home = table.home(self.hash(chain.key()));
            chains += 1;
            probes += (i.wrapping_sub(home) & table.mask) + 1;
        }
        probes as f64 / chains.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sequential_keys_spread_evenly_whatever_the_seed() {
        // Keys that differ only in a counter, as applications make them.
        let chains: Vec<ChainRef> = (0..100_000u64)
            .map(|i| {
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&1u64.to_be_bytes());
                key[8..].copy_from_slice(&i.to_be_bytes());
                ChainRef::new(&key)
            })
            .collect();
        let guard = epoch::pin();
        let worst = (0..32)
            .map(|_| {
                let index = PointIndex::new();
                for c in &chains {
                    index.insert(c, &guard);
                }
                index.mean_probe_length()
            })
            .fold(0.0, f64::max);
        // 100,000 keys fill the table built at 98,304 to 38%, where random
        // placement averages 1.3 slots per lookup.
        assert!(
            worst < 1.6,
            "a seed made lookups read {worst:.2} slots on average"
        );
    }

    /// An index holding `n` chains, whose keys are their positions' bytes.
    fn index_holding(n: u32) -> (PointIndex, Vec<ChainRef>) {
        let index = PointIndex::new();
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = (0..n).map(|i| ChainRef::new(&i.to_be_bytes())).collect();
        for c in &chains {
            index.insert(c, &guard);
        }
        (index, chains)
    }

    #[test]
    fn shrink_to_fit_rebuilds_an_oversized_table_for_what_it_holds() {
        let (index, chains) = index_holding(6_400);
        let guard = epoch::pin();
        // 4,000 left: more than an eighth of the table, so no shrink yet.
        for c in &chains[4_000..] {
            assert!(index.remove(c, &guard));
        }
        let before = index.footprint();
        let freed = index.shrink_to_fit(&guard);
        assert!(freed > 0 && index.footprint() == before - freed);
        assert_eq!(index.shrink_to_fit(&guard), 0, "fits already");
        for c in &chains[..4_000] {
            assert!(index.get(c.key(), &guard).is_some());
        }
    }

    #[test]
    fn for_each_visits_every_chain_held_once() {
        // Enough for several chunks of slots, some removed.
        let (index, chains) = index_holding(20_000);
        let guard = epoch::pin();
        for c in chains.iter().step_by(3) {
            assert!(index.remove(c, &guard));
        }
        drop(guard);
        let mut seen = HashMap::new();
        index.for_each(|c| *seen.entry(c.key().to_vec()).or_insert(0) += 1);
        let held: Vec<_> = (0..20_000u32).filter(|i| i % 3 != 0).collect();
        assert_eq!(seen.len(), held.len());
        assert!(seen.values().all(|&n| n == 1), "a chain visited twice");
        assert!(held.iter().all(|i| seen.contains_key(&i.to_be_bytes()[..])));
    }

    #[test]
    fn for_each_visits_every_chain_held_throughout_a_rebuild_during_it() {
        // A pass that goes on in the new table where it was in the old one
        // skips the chains the rebuild moved behind it. The pass here
        // shrinks the table (removing chains, as the writer's deletions or
        // the collector would) after its first chunk.
        let (index, chains) = index_holding(20_000);
        let (kept, removed) = chains.split_at(2_000);
        let mut seen = HashMap::new();
        let mut rebuilt = false;
        index.for_each(|c| {
            if !rebuilt {
                rebuilt = true;
                let guard = epoch::pin();
                let footprint = index.footprint();
                for r in removed {
                    assert!(index.remove(r, &guard));
                }
                assert!(index.footprint() < footprint, "no rebuild");
            }
            seen.insert(c.key().to_vec(), ());
        });
        let missed = kept.iter().filter(|c| !seen.contains_key(c.key())).count();
        assert_eq!(missed, 0, "of {} chains held throughout", kept.len());
    }

    #[test]
    fn slot_hints_follow_each_chains_newest_version_through_rebuilds() {
        let index = PointIndex::new();
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = (0..2000u32)
            .map(|i| ChainRef::new(&i.to_be_bytes()))
            .collect();
        for (i, c) in chains.iter().enumerate() {
            index.insert(c, &guard);
            assert_eq!(index.hint_of(c), Some(0), "no version yet");
            c.push(i as u64 + 1, Some(b"v"), None, &guard);
            index.note_head(c, &guard);
        }
        // Inserting 2,000 chains rebuilt the table several times.
        for c in &chains {
            let head = c.head_addr(&guard);
            assert_ne!(head, 0);
            assert_eq!(index.hint_of(c), Some(head));
        }
        let c = &chains[7];
        c.push(5000, None, None, &guard);
        index.note_head(c, &guard);
        assert_eq!(index.hint_of(c), Some(c.head_addr(&guard)), "a deletion");
        assert!(index.remove(c, &guard));
        assert_eq!(index.hint_of(c), None);
    }

    #[test]
    fn insert_get_remove_through_many_rebuilds() {
        let index = PointIndex::new();
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = (0..5000u32)
            .map(|i| ChainRef::new(&i.to_be_bytes()))
            .collect();
        for c in &chains {
            assert!(index.get(c.key(), &guard).is_none());
            index.insert(c, &guard);
        }
        for c in &chains {
            assert!(index.get(c.key(), &guard).unwrap().same(c));
        }
        for c in chains.iter().step_by(2) {
            assert!(index.remove(c, &guard));
            assert!(!index.remove(c, &guard));
        }
        for (i, c) in chains.iter().enumerate() {
            assert_eq!(index.get(c.key(), &guard).is_some(), i % 2 == 1, "key {i}");
        }
        // Tombstones are reused or rebuilt away: re-inserting does not grow
        // forever, and removing nearly everything shrinks the table.
        for c in chains.iter().step_by(2) {
            index.insert(c, &guard);
        }
        assert!(
            index.footprint() <= 16 * 1024 * 8,
            "{} bytes",
            index.footprint()
        );
        assert!(chains.iter().all(|c| index.get(c.key(), &guard).is_some()));
        assert!(index.get(b"absent", &guard).is_none());
        for c in &chains[10..] {
            assert!(index.remove(c, &guard));
        }
        assert!(
            index.footprint() <= 64 * std::mem::size_of::<Slot>(),
            "shrunk to {} bytes",
            index.footprint()
        );
        assert!(
            chains[..10]
                .iter()
                .all(|c| index.get(c.key(), &guard).unwrap().same(c))
        );
    }

    #[test]
    fn agrees_with_a_hashmap_under_churn() {
        let index = PointIndex::new();
        let mut model: HashMap<Vec<u8>, ChainRef> = HashMap::new();
        let mut x = 12345u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let guard = epoch::pin();
            let key = (x % 700).to_be_bytes().to_vec();
            match model.get(&key) {
                Some(c) if x.is_multiple_of(3) => {
                    assert!(index.remove(c, &guard));
                    model.remove(&key);
                }
                Some(c) => assert!(index.get(&key, &guard).unwrap().same(c)),
                None => {
                    assert!(index.get(&key, &guard).is_none());
                    let c = ChainRef::new(&key);
                    index.insert(&c, &guard);
                    model.insert(key, c);
                }
            }
        }
    }

    #[test]
    fn growth_bounds_what_any_run_of_inserts_adds() {
        // A write's cost counts the table's growth before the write; it
        // must not be passed, or a write can leave usage over a memory
        // limit. Churn leaves tombstones, which inserts may reuse or not
        // (it depends on the seed), so that the rebuild comes at different
        // lengths.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % bound
        };
        let guard = epoch::pin();
        for round in 0..200 {
            let index = PointIndex::new();
            let mut held: HashMap<u64, ChainRef> = HashMap::new();
            for _ in 0..300 {
                if next(3) == 0 && held.len() < 52 {
                    let additional = 1 + next(8) as usize;
                    let before = index.footprint();
                    let bound = index.growth(additional);
                    let mut inserted = 0;
                    while inserted < additional {
                        let key = next(60);
                        if let std::collections::hash_map::Entry::Vacant(e) = held.entry(key) {
                            let chain = ChainRef::new(&key.to_be_bytes());
                            index.insert(&chain, &guard);
                            e.insert(chain);
                            inserted += 1;
                        }
                    }
                    let grew = index.footprint().saturating_sub(before);
                    assert!(
                        grew <= bound,
                        "round {round}: {additional} inserts grew the table by {grew} bytes, \
                         estimated {bound}"
                    );
                } else if let Some(&key) = held.keys().next() {
                    let key = if next(2) == 0 { key } else { next(60) };
                    if let Some(chain) = held.remove(&key) {
                        assert!(index.remove(&chain, &guard));
                    }
                }
            }
        }
    }

    #[test]
    fn shrink_is_what_removing_that_many_chains_frees() {
        // Lowering a memory limit counts the table's shrink as freed; it
        // must be what the removals free, or the eviction stops short of
        // the limit or goes past it.
        let guard = epoch::pin();
        for held in [1usize, 15, 16, 17, 100, 1_000, 5_000] {
            for removed in [0usize, 1, held / 8, held / 2, held * 7 / 8, held - 1, held] {
                let (index, chains) = index_holding(held as u32);
                let before = index.footprint();
                let predicted = index.shrink(removed);
                for c in &chains[..removed] {
                    assert!(index.remove(c, &guard));
                }
                assert_eq!(
                    before - index.footprint(),
                    predicted,
                    "{held} chains, {removed} removed"
                );
            }
        }
    }

    #[test]
    fn retired_tables_are_freed_while_the_writer_lives_on() {
        // The writer thread grows the table many times and then stays
        // alive doing nothing, as a long-running process's writer does: what
        // sits in its thread-local bag of deferred work is never freed unless
        // the rebuild hands it to the collector.
        let index = std::sync::Arc::new(PointIndex::new());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
        let writer_index = std::sync::Arc::clone(&index);
        let writer = std::thread::spawn(move || {
            let chains: Vec<ChainRef> = (0..20_000u32)
                .map(|i| ChainRef::new(&i.to_be_bytes()))
                .collect();
            for c in &chains {
                writer_index.insert(c, &epoch::pin());
            }
            done_tx.send(()).unwrap();
            exit_rx.recv().unwrap();
            drop(chains);
        });
        done_rx.recv().unwrap();
        // Eleven tables were retired; let the epoch move on from this thread.
        // Tests running beside this one may hold guards for a while, so
        // give the collector up to ten seconds rather than a fixed number
        // of tries.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut live = usize::MAX;
        while std::time::Instant::now() < deadline {
            epoch::pin().flush();
            live = index.live.count();
            if live <= 3 {
                break;
            }
            std::thread::yield_now();
        }
        exit_tx.send(()).unwrap();
        writer.join().unwrap();
        assert!(
            live <= 3,
            "{live} tables alive: retired tables are never freed"
        );
    }

    #[test]
    fn untagged_tables_still_find_everything() {
        let index = PointIndex::new();
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = (0..100u32)
            .map(|i| ChainRef::new(&i.to_le_bytes()))
            .collect();
        for c in &chains[..50] {
            index.insert(c, &guard);
        }
        index.rebuild(100, false, &guard);
        for c in &chains[50..] {
            index.insert(c, &guard);
        }
        assert!(
            chains
                .iter()
                .all(|c| index.get(c.key(), &guard).unwrap().same(c))
        );
    }
}
