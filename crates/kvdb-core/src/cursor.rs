//! A positionable cursor over a read view, in the style of RocksDB's
//! iterator: seek, step forward and back, and borrow the current key and
//! value without copying them.

use std::ops::Bound;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::{Entry, Finger};

use crate::chain::{ChainRef, UncountedChain};
use crate::fill_queue::FillQueue;
use crate::index::OrderedKey;
use crate::prefetch::prefetch;
use crate::scan::{
    Direction, HeldNode, Pinned, Scanner, tighter_lower, tighter_upper, to_owned_bound,
};
use crate::space::Space;
use crate::store::Shared;
use crate::version::Version;
use crate::view::ReadView;

/// How many nodes a batch walks ahead of the pair it hands over, loading
/// their chains and versions together.
const PREFETCH_WINDOW: usize = 16;

/// How many keys the first read-ahead of [`Cursor::next`] after a seek
/// takes: a scan of a few keys reads few more than it uses.
const FIRST_READ_AHEAD: usize = 4;

/// The most keys one read-ahead of [`Cursor::next`] takes.
const MAX_READ_AHEAD: usize = 32;

/// The most keys one read-behind for a backward batch finds: a batch of
/// more pairs reads behind again when they are handed over, so that the
/// positions it holds and the time it holds one epoch guard stay bounded
/// whatever the batch's size.
const MAX_READ_BEHIND: usize = 256;

/// Forward batches of fewer pairs than this step through them instead of
/// walking: a walk loads no further than the pairs it hands over, so a
/// caller taking one pair at a time would wait for each pair's misses in
/// turn, where steps read ahead.
const SMALLEST_WALKED_BATCH: usize = 8;

/// The version of `chain` that `view` sees, if it is a live one.
#[inline]
fn visible<'g>(
    view: &ReadView,
    chain: &'g ChainRef,
    guard: &'g epoch::Guard,
) -> Option<&'g Version> {
    chain
        .version_at(view.seq(), guard)
        .filter(|v| v.is_live_at(view.time_ms()))
}

/// The entry a cursor is positioned on (or one read ahead or behind).
///
/// Neither field counts a reference: a step would otherwise take one and
/// give one up, two locked instructions that profiles put at about a third
/// of a step's own work over records in cache. Both stay valid while the
/// cursor's view is registered, which it is for the cursor's whole life:
///
/// - `version` is the newest version of `chain` at or below the view's
///   sequence, and live at the view's time. Garbage collection detaches
///   only versions older than the newest at or below the horizon, which is
///   at or below every registered view's sequence: never this one.
/// - `chain`'s record is owned by its node in the ordered index until the
///   node is unlinked and the epoch collector frees it. A node is unlinked
///   only when its key reads as absent to every reader at the horizon
///   (`gc::prune`'s `Dead`, the expiry tracker's `Remove`, an eviction's
///   detach, which goes through the same collection), or when a reordering
///   move has already linked a twin node owning the same record. The view
///   sees a live value in `chain`, so neither happens while it is
///   registered: a newer deletion or expiry leaves a version newer than the
///   horizon, and the key is looked at again later.
/// - The index itself lives in `view.shared`, which the cursor holds.
struct Position {
    chain: UncountedChain,
    /// The version of `chain` this cursor's view sees.
    version: NonNull<Version>,
}

impl Position {
    /// The position of `chain` at `version`, both seen by `view` just now:
    /// `version` is `visible(view, chain, ..)`.
    fn seen(view: &ReadView, chain: &ChainRef, version: &Version) -> Self {
        debug_assert!(view.seq() >= version.seq(), "a version the view sees");
        Self {
            // SAFETY: the view that saw the live `version` of `chain` is
            // registered while the position exists (it is the cursor's),
            // which keeps the record in the index (see the type's doc).
            chain: unsafe { UncountedChain::new(chain) },
            version: NonNull::from(version),
        }
    }
}

/// A cursor over the live keys of a read view within a key range.
///
/// A new cursor is not positioned; call one of the seek methods first.
/// Deleted and expired keys are skipped. Stepping past either end leaves the
/// cursor invalid until the next seek.
pub struct Cursor {
    view: ReadView,
    lower: Bound<Box<[u8]>>,
    upper: Bound<Box<[u8]>>,
    scanner: Option<Scanner>,
    current: Option<Position>,
    /// The positions after `current` going forward, read ahead together
    /// (see [`Cursor::next`]).
    ahead: FillQueue<Position, MAX_READ_AHEAD>,
    /// True if the range ends after the last position in `ahead`.
    ahead_ends: bool,
    /// How many positions the next read-ahead takes.
    ahead_len: usize,
    /// The skiplist node of the last position in `ahead`, where the next
    /// read-ahead continues. (Until the first read-ahead after a seek, the
    /// scanner holds the current position's node, and hands it over.)
    held: Option<HeldNode>,
    /// True while the cursor steps backward from positions read behind
    /// (see [`Cursor::prev`]).
    reading_behind: bool,
    /// The positions before `current`, read behind together, in key order:
    /// the next step backward takes the last.
    behind: Vec<Position>,
    /// True if the range starts at the first position in `behind`.
    behind_ends: bool,
    /// How many positions the next read-behind expects to find.
    behind_len: usize,
}

// SAFETY: the only non-thread-safe field is the `NonNull<Version>` in each
// `Position` (the current one and those read ahead or behind); it points at an
// immutable `Version` (whose contents are `Send + Sync`) kept alive by the
// registered view (see `Position`), whichever thread the cursor is on.
unsafe impl Send for Cursor {}
// SAFETY: shared access only reads through that pointer; see above.
unsafe impl Sync for Cursor {}

impl Cursor {
    pub(crate) fn new(view: ReadView, lower: Bound<Box<[u8]>>, upper: Bound<Box<[u8]>>) -> Self {
        view.shared.counters.scans.add(1);
        Self::uncounted(view, lower, upper)
    }

    /// A cursor that does not count as a scan of its own (one end of an
    /// [`crate::Iter`], which counts once).
    pub(crate) fn uncounted(
        view: ReadView,
        lower: Bound<Box<[u8]>>,
        upper: Bound<Box<[u8]>>,
    ) -> Self {
        Self {
            view,
            lower,
            upper,
            scanner: None,
            current: None,
            ahead: FillQueue::new(),
            ahead_ends: false,
            ahead_len: FIRST_READ_AHEAD,
            held: None,
            reading_behind: false,
            behind: Vec::new(),
            behind_ends: false,
            behind_len: FIRST_READ_AHEAD,
        }
    }

    /// Drops what was read ahead or behind: the cursor is about to stand
    /// elsewhere, or to turn.
    fn forget_ahead(&mut self) {
        self.ahead.clear();
        self.ahead_ends = false;
        self.ahead_len = FIRST_READ_AHEAD;
        self.held = None;
        self.reading_behind = false;
        self.behind.clear();
        self.behind_ends = false;
        self.behind_len = FIRST_READ_AHEAD;
    }

    /// The view the cursor reads.
    pub fn view(&self) -> &ReadView {
        &self.view
    }

    /// The cursor's view, its positions dropped.
    pub(crate) fn into_view(self) -> ReadView {
        self.view
    }

    fn lower(&self) -> Bound<&[u8]> {
        self.lower.as_ref().map(|k| &**k)
    }

    fn upper(&self) -> Bound<&[u8]> {
        self.upper.as_ref().map(|k| &**k)
    }

    fn start(&mut self, dir: Direction, from: Bound<Box<[u8]>>) {
        self.forget_ahead();
        self.scanner = Some(Scanner::new(
            Arc::clone(&self.view.shared),
            self.view.space(),
            dir,
            from,
        ));
        self.advance();
    }

    /// Moves the scanner to the next key its view can see, or invalidates.
    fn advance(&mut self) {
        self.current = None;
        let Some(scanner) = self.scanner.as_mut() else {
            return;
        };
        let limit = match scanner.direction() {
            Direction::Forward => self.upper.as_ref().map(|k| &**k),
            Direction::Backward => self.lower.as_ref().map(|k| &**k),
        };
        while let Some(chain) = scanner.next_chain(limit) {
            let guard = epoch::pin();
            if let Some(version) = visible(&self.view, &chain, &guard) {
                self.current = Some(Position::seen(&self.view, &chain, version));
                return;
            }
        }
    }

    /// Leaves the cursor unpositioned (invalid) until the next seek.
    pub fn reset(&mut self) {
        self.forget_ahead();
        self.scanner = None;
        self.current = None;
    }

    /// Positions on the first key of the range.
    pub fn seek_to_first(&mut self) {
        let from = to_owned_bound(self.lower());
        self.start(Direction::Forward, from);
    }

    /// Positions on the last key of the range.
    pub fn seek_to_last(&mut self) {
        let from = to_owned_bound(self.upper());
        self.start(Direction::Backward, from);
    }

    /// Positions on the first key at or after `key`.
    pub fn seek(&mut self, key: &[u8]) {
        let from = to_owned_bound(tighter_lower(Bound::Included(key), self.lower()));
        self.start(Direction::Forward, from);
    }

    /// Positions on the last key at or before `key`.
    pub fn seek_for_prev(&mut self, key: &[u8]) {
        let from = to_owned_bound(tighter_upper(Bound::Included(key), self.upper()));
        self.start(Direction::Backward, from);
    }

    /// Steps to the next key; does nothing on an invalid cursor.
    ///
    /// Steps forward are read ahead: the keys after the current one are
    /// found a few at a time (4 after a seek, doubling up to 32 while the
    /// cursor keeps stepping), their chains and
    /// versions loaded together as [`Cursor::take_batch`] loads them, and
    /// handed out one per step. A step that found each key on its own would
    /// wait for two cache misses in a row (its chain, then its version);
    /// read ahead, those misses overlap. The cursor's view is fixed, so a
    /// key read ahead is what a step would have found. Each read-ahead
    /// continues from the skiplist node where the last one stopped (or where
    /// the seek landed), held by a counted reference, instead of searching
    /// the index for the current key again.
    ///
    /// A step that finds a position read ahead takes it and returns; the
    /// read-ahead is out of line, so that such a step is a short function.
    #[inline]
    pub fn next(&mut self) {
        if self.current.is_none() {
            return;
        }
        if self.reading_behind {
            self.forget_ahead();
        }
        if self.ahead.is_empty() && !self.ahead_ends {
            self.read_ahead();
        }
        self.current = self.ahead.pop();
    }

    /// Fills `ahead` with the positions after the current one going
    /// forward, starting from the node `held` if there is one (the current
    /// position's: the node of the last position read ahead is held until
    /// the next read-ahead, when that position is the current one), and
    /// leaves `held` on the node of the last position.
    ///
    /// A read-ahead finds exactly as many pairs as it hands out, so one of
    /// 4, 8, 16 or 32 pairs fills whole prefetch windows of `walk`.
    #[inline(never)]
    fn read_ahead(&mut self) {
        let Some(pos) = &self.current else { return };
        let from = ChainRef::clone(&pos.chain);
        let from = &from;
        if let Some(scanner) = self.scanner.take() {
            // Its node is the current position's.
            self.held = Some(scanner.into_held());
        }
        let want = self.ahead_len;
        self.ahead_len = (want * 2).min(MAX_READ_AHEAD);
        let ahead = &mut self.ahead;
        ahead.clear();
        let held = self
            .held
            .get_or_insert_with(|| HeldNode::new(Arc::clone(&self.view.shared)));
        let (view, space) = (&self.view, self.view.space());
        let limit = self.upper.as_ref().map(|k| &**k);
        let ended = held.with(|shared, slot| {
            let guard = epoch::pin();
            let left = slot.take();
            let first = node_after(left.as_ref(), shared, space, from, &guard);
            let stop = walk(
                view,
                limit,
                first,
                from,
                WalkEnd::Pairs(want),
                &guard,
                |chain, version| {
                    ahead.push(Position::seen(view, chain, version));
                    ahead.len() < want
                },
            );
            // The walk stopped on the last pair pushed, or the range ended.
            let ended = stop.is_none();
            if let Some((_, node)) = stop {
                // `None` if the node is being removed: the next read-ahead
                // then searches for the position's key.
                *slot = node.pin().map(Pinned::new);
            }
            if let Some(left) = left {
                left.release(&guard);
            }
            ended
        });
        self.ahead_ends = ended;
    }

    /// Steps to the previous key; does nothing on an invalid cursor.
    ///
    /// The skiplist has no backward links: a node's predecessor is found by
    /// a search from the top of the index, a dozen or more dependent cache
    /// misses over a million keys. So steps backward are read behind: one
    /// search finds a node some way before the current key (where the
    /// search for it passes on a tower level that many nodes skip: 4 nodes
    /// back after a seek, doubling up to 32 while the cursor keeps
    /// stepping), a walk forward from there finds the keys up to the
    /// current one as a forward read-ahead does, and the steps take them
    /// from the last. One search per block instead of one per key; the
    /// view is fixed, so the keys found are those steps would have found.
    pub fn prev(&mut self) {
        if self.current.is_none() {
            return;
        }
        self.turn_back();
        if self.behind.is_empty() && !self.behind_ends {
            self.read_behind(None);
        }
        self.current = self.behind.pop();
    }

    /// Drops what was read ahead and the scanner, unless the cursor is
    /// already stepping backward from positions read behind.
    #[inline]
    fn turn_back(&mut self) {
        if !self.reading_behind {
            self.forget_ahead();
            self.scanner = None;
            self.reading_behind = true;
        }
    }

    /// Fills `behind` with the positions before the current one, in key
    /// order: from a node some way back (or from the start of the range, if
    /// that is nearer) up to the current key, then, while fewer than
    /// `wanted` keys (or, if the caller does not say, none) were found and
    /// the range goes on, from a node some way before that node up to it,
    /// and so on. The blocks share one epoch guard, and each search starts
    /// where the last one passed (a `Finger`) instead of at the top of the
    /// index: the node it looks for is a few nodes before the one the last
    /// search found, so it reads a node or two the last search loaded.
    ///
    /// How far back a block reaches: about `behind_len` nodes, or, for a
    /// caller that knows it wants `wanted` keys, about the largest power of
    /// two up to the number still wanted, but 8 to 32. The node a search
    /// finds lies a geometric distance back, so a block aimed at all that
    /// is wanted would often reach past it and walk keys nobody takes; and
    /// blocks of fewer than 8 cost a search each for a few keys, whose
    /// misses a walk cannot overlap with many others' (both measured:
    /// benches/LAYOUT_RESULTS.md, "Backward batches").
    #[inline(never)]
    fn read_behind(&mut self, wanted: Option<usize>) {
        let Some(pos) = &self.current else { return };
        let mut before = ChainRef::clone(&pos.chain);
        let grown = self.behind_len;
        self.behind_len = (grown * 2).min(MAX_READ_AHEAD);
        let view = &self.view;
        let index = view.shared.keys(view.space());
        let lower = self.lower.as_ref().map(|k| &**k);
        let behind = &mut self.behind;
        behind.clear();
        let guard = epoch::pin();
        let mut finger = Finger::new();
        // Each block goes before the one found before it (the nearer), so
        // that `behind` is in key order.
        let from_start = loop {
            let expected = match wanted {
                Some(wanted) => prev_power_of_two(wanted - behind.len()).clamp(8, MAX_READ_AHEAD),
                None => grown,
            };
            // Towers more than `level` high are one node in 2^level.
            let level = expected.trailing_zeros() as usize;
            let anchor = index
                .borrow_some_way_before(before.key(), level, &mut finger, &guard)
                .filter(|at| within_lower(at.key(), lower));
            let from_start = anchor.is_none();
            let first = match &anchor {
                Some(at) => Some(at.clone()),
                None => index.borrow_at(true, lower, &guard),
            };
            let block = behind.len();
            walk(
                view,
                Bound::Excluded(before.key()),
                first,
                &before,
                WalkEnd::At(&before),
                &guard,
                |chain, version| {
                    behind.push(Position::seen(view, chain, version));
                    true
                },
            );
            let found = behind.len() - block;
            behind.rotate_right(found);
            let enough = match wanted {
                Some(wanted) => behind.len() >= wanted,
                None => !behind.is_empty(),
            };
            match anchor {
                // Go on before the anchor.
                Some(at) if !enough => before = ChainRef::clone(at.key().chain()),
                _ => break from_start,
            }
        };
        self.behind_ends = from_start;
    }

    /// Hands the current pair and those after it (`forward`) or before it to
    /// `take`, in that order, until `take` returns false, `max` pairs were
    /// taken, or the range ends; leaves the cursor on the first pair not
    /// taken (invalid if the range ended). Returns how many pairs were
    /// taken. Does nothing on an invalid cursor.
    ///
    /// The same as taking the current pair and stepping, pair by pair, but
    /// a forward batch walks: it holds one epoch guard for the whole batch
    /// and borrows each skiplist node instead of counting references to it,
    /// so after the first pair a step costs no atomic write. The walk
    /// starts from the current pair's node when the cursor holds it (after
    /// a seek, a forward batch or a read-ahead) instead of searching for
    /// it, and holds the node it stops on for the next batch.
    ///
    /// A forward batch of fewer than 8 pairs steps instead, as
    /// [`Cursor::next`] reads ahead: over 1M keys, walked batches of one
    /// pair ran at 0.28x the speed of steps (each pair's misses in turn)
    /// and of four pairs at 0.8x, stepped ones at 0.97x and 1.0x; walked
    /// batches of eight ran at 1.15x. A backward batch reads behind as
    /// [`Cursor::prev`] does (a walk backward would search for every node),
    /// asking for as many keys as it still takes, and hands the pairs over
    /// from the positions found.
    ///
    /// The pairs are borrowed from the store, not copied, for as long as
    /// the cursor is borrowed (`'c`): a caller may keep them, in a `Vec`
    /// say, until it next uses the cursor.
    pub fn take_batch<'c>(
        &'c mut self,
        forward: bool,
        max: usize,
        mut take: impl FnMut(&'c [u8], &'c [u8]) -> bool,
    ) -> usize {
        if !forward {
            return self.take_behind(max, take);
        }
        if max < SMALLEST_WALKED_BATCH {
            return self.take_by_steps(max, take);
        }
        let Some(pos) = &self.current else { return 0 };
        // SAFETY: the current position's key and value, which its view
        // sees (see `seen_for`).
        let (key, value) = unsafe { seen_pair(pos) };
        if max == 0 || !take(key, value) {
            return 0;
        }
        let mut taken = 1;
        // The batch continues from the current position's skiplist node if
        // the cursor holds it, instead of searching for its key.
        let here = self.node_here();
        self.forget_ahead();
        let mut held = here.unwrap_or_else(|| HeldNode::new(Arc::clone(&self.view.shared)));
        let from = self.current.as_ref().map(|p| &p.chain).expect("positioned");
        let (view, space) = (&self.view, self.view.space());
        let limit = self.upper();
        // Where to stand afterwards: the first pair not taken.
        let stop = held.with(|shared, slot| {
            let guard = epoch::pin();
            let left = slot.take();
            let first = node_after(left.as_ref(), shared, space, from, &guard);
            let stop = walk(
                view,
                limit,
                first,
                from,
                WalkEnd::Pairs(max - taken + 1),
                &guard,
                |chain, version| {
                    let Some(value) = version.bytes() else {
                        return true;
                    };
                    // SAFETY: `walk` visits chains with the version of
                    // each that `view`, this cursor's, sees (see `seen_for`).
                    let (key, value) = unsafe { (seen_for(chain.key()), seen_for(value)) };
                    if taken == max || !take(key, value) {
                        return false;
                    }
                    taken += 1;
                    true
                },
            );
            if let Some((_, node)) = &stop {
                // Held for the next forward batch or step, which continue
                // from it; `None` if the node is being removed (they then
                // search for its key).
                *slot = node.pin().map(Pinned::new);
            }
            let stop = stop.map(|(position, _)| position);
            if let Some(left) = left {
                left.release(&guard);
            }
            stop
        });
        // The cursor stands on that pair with no scanner: a step from here
        // continues from the node held, or starts one after its key in the
        // step's direction (as after a change of direction). The position
        // stays valid as any does (see `Position`).
        self.scanner = None;
        self.current = stop;
        self.held = Some(held).filter(|_| self.current.is_some());
        taken
    }

    /// [`Cursor::take_batch`] forward, one [`Cursor::next`] per pair.
    fn take_by_steps<'c>(
        &'c mut self,
        max: usize,
        mut take: impl FnMut(&'c [u8], &'c [u8]) -> bool,
    ) -> usize {
        let mut taken = 0;
        while taken < max {
            let Some(pos) = &self.current else { break };
            // SAFETY: the current position's key and value, which its view
            // sees (see `seen_for`).
            let (key, value) = unsafe { seen_pair(pos) };
            if !take(key, value) {
                break;
            }
            taken += 1;
            self.next();
        }
        taken
    }

    /// [`Cursor::take_batch`] backward: the pairs read behind as
    /// [`Cursor::prev`] reads them, handed over from the positions found,
    /// last first, without standing on each; a read-behind is asked for as
    /// many as the batch still takes, and the one after them (the cursor
    /// stands on it afterwards), up to [`MAX_READ_BEHIND`].
    fn take_behind<'c>(
        &'c mut self,
        max: usize,
        mut take: impl FnMut(&'c [u8], &'c [u8]) -> bool,
    ) -> usize {
        let Some(pos) = &self.current else { return 0 };
        // SAFETY: the current position's key and value, which its view
        // sees (see `seen_for`).
        let (key, value) = unsafe { seen_pair(pos) };
        if max == 0 || !take(key, value) {
            return 0;
        }
        let mut taken = 1;
        self.turn_back();
        loop {
            if self.behind.is_empty() && !self.behind_ends {
                self.read_behind(Some((max - taken + 1).min(MAX_READ_BEHIND)));
            }
            // Hand over pairs from the last position on; `left` is how many
            // positions are not handed over.
            let mut left = self.behind.len();
            while left > 0 && taken < max {
                // SAFETY: a position read behind, seen by this cursor's view
                // (see `seen_for`).
                let (key, value) = unsafe { seen_pair(&self.behind[left - 1]) };
                if !take(key, value) {
                    break;
                }
                taken += 1;
                left -= 1;
            }
            if left > 0 || self.behind.is_empty() {
                // Stand on the first pair not taken (none if the range
                // ended).
                self.behind.truncate(left);
                self.current = self.behind.pop();
                return taken;
            }
            // All were taken: stand on the last, whose key the next
            // read-behind reads before.
            let last = self.behind.swap_remove(0);
            self.behind.clear();
            self.current = Some(last);
        }
    }

    /// The current position's skiplist node, if the cursor holds it: the
    /// scanner's (after a seek or a step with it), or the node held by the
    /// last read-ahead or forward batch once nothing read ahead is left.
    fn node_here(&mut self) -> Option<HeldNode> {
        if let Some(scanner) = self.scanner.take() {
            return Some(scanner.into_held());
        }
        if self.ahead.is_empty() {
            return self.held.take();
        }
        None
    }

    /// True when the cursor is positioned on a key.
    #[inline]
    pub fn valid(&self) -> bool {
        self.current.is_some()
    }

    /// The current key, borrowed until the cursor moves.
    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.current.as_ref().map(|p| p.chain.key())
    }

    #[inline]
    fn version(&self) -> Option<&Version> {
        self.current.as_ref().map(|p| {
            // SAFETY: `p.version` is the version of `p.chain` that this
            // cursor's registered view sees: the newest at or below the view's
            // sequence, live at its time. Garbage collection only detaches
            // versions older than the newest at or below the oldest registered
            // view, so never this one while the view lives; and `p.chain`,
            // which owns it, stays in the index meanwhile (see `Position`).
            unsafe { p.version.as_ref() }
        })
    }

    /// The current value, borrowed until the cursor moves.
    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.version().and_then(Version::bytes)
    }

    /// The current key's expiry time (ms since the Unix epoch), if it has one.
    pub fn expires_at(&self) -> Option<u64> {
        self.version().and_then(Version::expires_at)
    }

    /// The current key's access word as it stands now (not as of the view:
    /// a key's use is not versioned), for recording it with the key (see
    /// [`crate::access_age`]). A cursor's moves record no use.
    pub fn access(&self) -> Option<u32> {
        self.current
            .as_ref()
            .map(|p| p.chain.access().load(Ordering::Relaxed))
    }
}

/// `bytes` (a record's key or a version's value), borrowed for `'c`
/// instead of as long as the borrow they were read through.
///
/// # Safety
///
/// `bytes` is the key of a chain, or the value of its version, that a
/// cursor's view sees, and `'c` ends before that cursor's view is released:
/// the cursor is borrowed for `'c` (a cursor owns its view, and releases it
/// only when dropped or taken apart). Such a record and version stay
/// allocated while the view is registered, wherever the cursor moves
/// meanwhile, as a [`Position`]'s do (see there), and neither changes:
/// a record's key is fixed, and a version is immutable once written.
unsafe fn seen_for<'c>(bytes: &[u8]) -> &'c [u8] {
    // SAFETY: per the contract, the memory outlives `'c`, unchanged.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

/// The key and value of `pos`, borrowed for `'c`.
///
/// # Safety
///
/// As [`seen_for`]: `pos` is a position of a cursor whose view is not
/// released before `'c` ends.
unsafe fn seen_pair<'c>(pos: &Position) -> (&'c [u8], &'c [u8]) {
    // SAFETY: `pos.version` is the version of `pos.chain` the cursor's view
    // sees, live (so it has a value), and both stay as they are while the
    // view is registered (see `Position`); the caller's contract keeps it
    // registered for `'c`.
    unsafe {
        let value = pos.version.as_ref().bytes().unwrap_or_default();
        (seen_for(pos.chain.key()), seen_for(value))
    }
}

/// The node after `from`: the next of `held`, which is `from`'s own node if
/// the caller holds it, else found by a search.
fn node_after<'a, 'g>(
    held: Option<&'g Pinned<'a>>,
    shared: &'a Shared,
    space: Space,
    from: &ChainRef,
    guard: &'g epoch::Guard,
) -> Option<Entry<'a, 'g, OrderedKey, ()>> {
    match held {
        Some(node) => node.entry().borrow(guard).next(),
        None => shared
            .keys(space)
            .borrow_at(true, Bound::Excluded(from.key()), guard),
    }
}

/// Where a [`walk`] is to end.
#[derive(Clone, Copy)]
enum WalkEnd<'k> {
    /// After `visit` has been offered about this many pairs, the last one
    /// included: the walk finds no more nodes ahead of the pairs it offers
    /// than that many (and then at least one).
    Pairs(usize),
    /// At the node of this chain, which the caller knows the walk reaches
    /// (when reading behind: the chain the caller stands on, which its view
    /// sees, so it is in the index), not offered. The walk loads no node
    /// past it, where a walk that ends at `limit` would load a window of
    /// nodes past the limit (a key that passes it is not known until its
    /// chain is loaded).
    At(&'k ChainRef),
}

/// Walks the live pairs of `view` forward from `first` on (the node after
/// `from`, the chain the caller stood on, or a node before it when reading
/// behind), up to `limit` or the `end`, calling `visit` with each until it
/// returns false; returns the pair it returned false for with its node, or
/// `None` if the range ended first.
///
/// The walk holds one epoch guard and borrows each skiplist node instead of
/// counting references to it, so a step costs no atomic write. Nodes are
/// found one after the other (each holds the link to the next), but their
/// chains and versions are loaded a window at a time, so those misses
/// overlap. The twin of the node just passed (its chain being moved: see
/// `index/ordered_key.rs`) is skipped, as is `from`'s if it comes first.
fn walk<'a, 'g>(
    view: &ReadView,
    limit: Bound<&[u8]>,
    first: Option<Entry<'a, 'g, OrderedKey, ()>>,
    from: &ChainRef,
    end: WalkEnd<'_>,
    guard: &'g epoch::Guard,
    mut visit: impl FnMut(&ChainRef, &Version) -> bool,
) -> Option<(Position, Entry<'a, 'g, OrderedKey, ()>)> {
    // Pairs still expected: a window finds no more nodes than that, so a
    // walk that ends where the caller said does not load nodes past it.
    let (mut expected, until) = match end {
        WalkEnd::Pairs(pairs) => (pairs, None),
        WalkEnd::At(chain) => (usize::MAX, Some(chain.addr())),
    };
    let mut next = first;
    let mut passed = Some(from.addr());
    let mut window: [Option<Entry<'a, 'g, OrderedKey, ()>>; PREFETCH_WINDOW] =
        [const { None }; PREFETCH_WINDOW];
    loop {
        let window_len = expected.clamp(1, PREFETCH_WINDOW);
        let mut len = 0;
        while len < window_len {
            let Some(at) = next else { break };
            let chain = at.key().chain().addr();
            if until == Some(chain) {
                next = None;
                break;
            }
            next = at.next();
            if passed == Some(chain) {
                continue;
            }
            passed = Some(chain);
            prefetch(chain);
            window[len] = Some(at);
            len += 1;
        }
        let filled = &window[..len];
        if filled.is_empty() {
            return None;
        }
        for at in filled.iter().flatten() {
            prefetch(at.key().chain().head_addr(guard));
        }
        // The nodes are in key order: if the last is within the limit, so
        // are the others.
        let all_within = filled
            .last()
            .and_then(Option::as_ref)
            .is_some_and(|at| within_upper(at.key(), limit));
        for at in filled.iter().flatten() {
            if !all_within && !within_upper(at.key(), limit) {
                return None;
            }
            let chain = at.key().chain();
            let Some(version) = visible(view, chain, guard) else {
                continue;
            };
            if !visit(chain, version) {
                return Some((Position::seen(view, chain, version), at.clone()));
            }
            expected = expected.saturating_sub(1);
        }
    }
}

/// True if the key of `node` is not below `lower`, the lower bound of a
/// range; read from the leading bytes the node keeps where they decide it
/// (see [`OrderedKey::cmp_key`]).
fn within_lower(node: &OrderedKey, lower: Bound<&[u8]>) -> bool {
    match lower {
        Bound::Unbounded => true,
        Bound::Included(lower) => node.cmp_key(lower).is_ge(),
        Bound::Excluded(lower) => node.cmp_key(lower).is_gt(),
    }
}

/// True if the key of `node` has not passed `upper`, the upper bound of a
/// range; read as [`within_lower`] reads it.
#[inline]
fn within_upper(node: &OrderedKey, upper: Bound<&[u8]>) -> bool {
    match upper {
        Bound::Unbounded => true,
        Bound::Included(upper) => node.cmp_key(upper).is_le(),
        Bound::Excluded(upper) => node.cmp_key(upper).is_lt(),
    }
}

/// The largest power of two at or below `n` (1 for 0).
fn prev_power_of_two(n: usize) -> usize {
    1 << n.max(1).ilog2()
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("view", &self.view)
            .field("key", &self.key().map(|k| k.escape_ascii().to_string()))
            .finish()
    }
}
