//! Read views: a fixed point in time (a sequence number and a clock reading)
//! that readers see the store at, and the registry that tells garbage
//! collection which old versions some view may still need.
//!
//! A view sees, for every key, the newest version whose sequence number is at
//! or below the view's, and judges expiry against the clock reading taken when
//! the view was made — so a view never changes, not even as keys expire.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::Mutex;

use crate::cursor::Cursor;
use crate::error::CoreError;
use crate::iter::Iter;
use crate::key_hash::KeyHash;
use crate::limits::check_key;
use crate::space::Space;
use crate::store::Shared;
use crate::version::VersionRef;

/// The oldest point any registered view or the present may still read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Horizon {
    /// No view reads below this sequence number.
    pub(crate) seq: u64,
    /// No view judges expiry earlier than this time (ms since the epoch).
    pub(crate) time: u64,
}

/// How many open views read at each point (a sequence number or a clock
/// reading), sorted by point. Views are mostly made at the newest point and
/// released soon, so adding and removing work at the back in O(1); a view
/// made at an older point (a clone, or a clock that stepped back) or
/// released out of order costs a binary search and a shift of the shorter
/// side. Capacity is kept, so a steady stream of views allocates nothing.
#[derive(Default)]
struct Counted(VecDeque<(u64, usize)>);

impl Counted {
    fn add(&mut self, point: u64) {
        match self.0.back_mut() {
            Some((newest, count)) if *newest == point => *count += 1,
            Some((newest, _)) if *newest > point => {
                match self.0.binary_search_by_key(&point, |&(p, _)| p) {
                    Ok(i) => self.0[i].1 += 1,
                    Err(i) => self.0.insert(i, (point, 1)),
                }
            }
            _ => self.0.push_back((point, 1)),
        }
    }

    fn remove(&mut self, point: u64) {
        let i = match self.0.back() {
            Some(&(newest, _)) if newest == point => self.0.len() - 1,
            _ => match self.0.binary_search_by_key(&point, |&(p, _)| p) {
                Ok(i) => i,
                Err(_) => {
                    debug_assert!(false, "released a view that was not registered");
                    return;
                }
            },
        };
        self.0[i].1 -= 1;
        if self.0[i].1 == 0 {
            if i + 1 == self.0.len() {
                self.0.pop_back();
            } else if i == 0 {
                self.0.pop_front();
            } else {
                self.0.remove(i);
            }
        }
    }

    fn oldest(&self) -> Option<u64> {
        self.0.front().map(|&(point, _)| point)
    }
}

/// Open views counted by sequence number and by clock reading.
#[derive(Default)]
struct Registered {
    seqs: Counted,
    times: Counted,
    open: usize,
}

/// The set of open read views.
#[derive(Default)]
pub(crate) struct ViewRegistry {
    inner: Mutex<Registered>,
}

impl ViewRegistry {
    /// Registers a view at the current visible sequence and time. Reading
    /// both under the registry lock is what makes [`Self::horizon`] safe: any
    /// view registered after a horizon was computed reads at or above its
    /// sequence and (for a clock that does not step back) its time.
    pub(crate) fn register(
        &self,
        visible: impl FnOnce() -> u64,
        now: impl FnOnce() -> u64,
    ) -> (u64, u64) {
        let mut r = self.inner.lock();
        let seq = visible();
        let now = now();
        r.seqs.add(seq);
        r.times.add(now);
        r.open += 1;
        (seq, now)
    }

    /// Registers one more view at an existing view's point.
    pub(crate) fn register_again(&self, seq: u64, time: u64) {
        let mut r = self.inner.lock();
        r.seqs.add(seq);
        r.times.add(time);
        r.open += 1;
    }

    pub(crate) fn release(&self, seq: u64, time: u64) {
        let mut r = self.inner.lock();
        r.seqs.remove(seq);
        r.times.remove(time);
        r.open -= 1;
    }

    /// The horizon given the current visible sequence and time, both read
    /// under the registry lock.
    pub(crate) fn horizon(
        &self,
        visible: impl FnOnce() -> u64,
        now: impl FnOnce() -> u64,
    ) -> Horizon {
        let r = self.inner.lock();
        let visible = visible();
        let now = now();
        let seq = r.seqs.oldest().map_or(visible, |s| s.min(visible));
        let time = r.times.oldest().map_or(now, |t| t.min(now));
        Horizon { seq, time }
    }

    pub(crate) fn open(&self) -> usize {
        self.inner.lock().open
    }
}

/// A registered, immutable read view of a store.
///
/// Holding a `ReadView` keeps every version it can see alive; drop it when
/// done so garbage collection can reclaim them. Cloning registers another view
/// at the same point. A view stays usable after its store is dropped by its
/// owner: it keeps the shared state alive.
pub struct ReadView {
    pub(crate) shared: Arc<Shared>,
    seq: u64,
    time: u64,
    space: Space,
}

impl ReadView {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        if shared.process.is_inherited() {
            // A fork() child: the registry's lock may be held forever by a
            // parent thread that does not exist here, and nothing collects
            // garbage in the child's copy, so the view needs no registration
            // (its drop skips the release likewise).
            let (seq, time) = (shared.visible_seq(), shared.clock.now_ms());
            return Self {
                shared,
                seq,
                time,
                space: Space::User,
            };
        }
        let (seq, time) = shared
            .views
            .register(|| shared.visible_seq(), || shared.clock.now_ms());
        Self {
            shared,
            seq,
            time,
            space: Space::User,
        }
    }

    /// Another registered view at the same point that reads the key space
    /// `space` (gets, scans and cursors see only that space's keys).
    pub fn in_space(&self, space: Space) -> ReadView {
        let mut view = self.clone();
        view.space = space;
        view
    }

    /// The key space this view reads.
    #[inline]
    pub fn space(&self) -> Space {
        self.space
    }

    /// True if this process is a `fork()` child of the one that made the
    /// view's store.
    #[inline]
    pub fn is_inherited_across_fork(&self) -> bool {
        self.shared.process.is_inherited()
    }

    /// The sequence number this view reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The clock reading (ms since the Unix epoch) expiry is judged against.
    pub fn time_ms(&self) -> u64 {
        self.time
    }

    /// Calls `f` with the value of `key` as of this view (`None` if absent,
    /// deleted or expired) and returns its result.
    pub fn get_with<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> Result<R, CoreError> {
        check_key(key)?;
        self.shared.check_process()?;
        Ok(self.read(key, self.shared.keys(self.space).hash(key), f))
    }

    /// As [`ReadView::get_with`], also returning the key's [`KeyHash`]
    /// (what a transaction records for validation).
    #[inline]
    pub fn get_hashed_with<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> Result<(R, KeyHash), CoreError> {
        check_key(key)?;
        self.shared.check_process()?;
        let hash = self.shared.keys(self.space).hash(key);
        Ok((self.read(key, hash, f), KeyHash(hash)))
    }

    /// The [`KeyHash`] of `key` in this view's store.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> KeyHash {
        KeyHash(self.shared.keys(self.space).hash(key))
    }

    #[inline]
    fn read<R>(&self, key: &[u8], hash: u64, f: impl FnOnce(Option<VersionRef<'_>>) -> R) -> R {
        self.shared.counters.gets.add(1);
        let guard = epoch::pin();
        self.read_pinned(key, hash, &guard, f)
    }

    /// Calls `f` with the live value of `key`, whose hash is `hash`, as of
    /// this view, read under `guard` (the caller counts the read).
    #[inline]
    pub(crate) fn read_pinned<R>(
        &self,
        key: &[u8],
        hash: u64,
        guard: &Guard,
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> R {
        let chain = self.shared.keys(self.space).lookup_hashed(key, hash, guard);
        let found = chain.as_deref().and_then(|chain| {
            let found = chain
                .version_at(self.seq, guard)
                .filter(|v| v.is_live_at(self.time));
            if found.is_some() && self.space == Space::User {
                let access = &self.shared.access;
                access.read(chain.access(), self.shared.visible_seq());
            }
            found
        });
        f(found.and_then(VersionRef::of))
    }

    /// The value of `key` as of this view.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        self.get_with(key, |v| v.map(|v| v.value.to_vec()))
    }

    /// A double-ended iterator over the live keys in `range` as of this view.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Iter {
        self.clone().into_range(range)
    }

    /// A double-ended iterator over all live keys as of this view.
    pub fn iter(&self) -> Iter {
        self.clone().into_range::<&[u8]>(..)
    }

    /// A double-ended iterator over the live keys starting with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        self.clone().into_prefix(prefix)
    }

    /// As [`ReadView::range`], handing this view to the iterator instead of
    /// registering another at its point (see [`ReadView::into_cursor`]).
    pub fn into_range<K: AsRef<[u8]>>(self, range: impl RangeBounds<K>) -> Iter {
        let (lower, upper) = owned_range(range);
        Iter::new(self, lower, upper)
    }

    /// As [`ReadView::prefix`], handing this view to the iterator.
    pub fn into_prefix(self, prefix: &[u8]) -> Iter {
        let (lower, upper) = prefix_bounds(prefix);
        Iter::new(self, lower, upper)
    }

    /// A positionable cursor over the keys in `range` as of this view.
    pub fn cursor<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Cursor {
        self.clone().into_cursor(range)
    }

    /// As [`ReadView::cursor`], handing this view to the cursor instead of
    /// registering another at its point: for a view made only for the
    /// cursor, one registration and one release instead of two of each
    /// (each takes the view registry's lock).
    pub fn into_cursor<K: AsRef<[u8]>>(self, range: impl RangeBounds<K>) -> Cursor {
        let (lower, upper) = owned_range(range);
        Cursor::new(self, lower, upper)
    }
}

impl Clone for ReadView {
    fn clone(&self) -> Self {
        self.shared.views.register_again(self.seq, self.time);
        Self {
            shared: Arc::clone(&self.shared),
            seq: self.seq,
            time: self.time,
            space: self.space,
        }
    }
}

impl Drop for ReadView {
    fn drop(&mut self) {
        // In a fork() child the registry's lock may be held forever by a
        // parent thread that does not exist here; the child's copy of the
        // registry needs no bookkeeping.
        if self.shared.process.is_inherited() {
            return;
        }
        self.shared.views.release(self.seq, self.time);
    }
}

impl std::fmt::Debug for ReadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView")
            .field("seq", &self.seq)
            .field("time_ms", &self.time)
            .finish()
    }
}

/// An owned copy of a borrowed bound.
pub(crate) fn owned_bound<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<Box<[u8]>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_ref().into()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().into()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// An owned key range: lower and upper bound.
pub type KeyRange = (Bound<Box<[u8]>>, Bound<Box<[u8]>>);

/// An owned copy of a borrowed range's bounds.
fn owned_range<K: AsRef<[u8]>>(range: impl RangeBounds<K>) -> KeyRange {
    (
        owned_bound(range.start_bound()),
        owned_bound(range.end_bound()),
    )
}

/// The key range `[prefix, successor(prefix))` holding every key that starts
/// with `prefix`.
pub fn prefix_bounds(prefix: &[u8]) -> KeyRange {
    let lower = Bound::Included(prefix.into());
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last == u8::MAX {
            end.pop();
        } else {
            *end.last_mut().expect("non-empty") += 1;
            return (lower, Bound::Excluded(end.into()));
        }
    }
    (lower, Bound::Unbounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_is_oldest_view_or_present() {
        let reg = ViewRegistry::default();
        assert_eq!(
            reg.horizon(|| 50, || 1_000),
            Horizon {
                seq: 50,
                time: 1_000
            }
        );
        let a = reg.register(|| 10, || 500);
        reg.register(|| 20, || 400);
        assert_eq!(reg.horizon(|| 50, || 1_000), Horizon { seq: 10, time: 400 });
        reg.release(a.0, a.1);
        assert_eq!(reg.horizon(|| 50, || 1_000), Horizon { seq: 20, time: 400 });
        assert_eq!(reg.open(), 1);
    }

    #[test]
    fn counted_points_give_the_oldest_whatever_the_order() {
        let mut c = Counted::default();
        for p in [5, 5, 9, 3, 7, 9] {
            c.add(p);
        }
        assert_eq!(c.oldest(), Some(3));
        c.remove(3);
        c.remove(5);
        assert_eq!(c.oldest(), Some(5));
        c.remove(9);
        c.remove(5);
        assert_eq!(c.oldest(), Some(7));
        c.remove(7);
        c.remove(9);
        assert_eq!(c.oldest(), None);
        assert!(c.0.is_empty());
    }

    #[test]
    fn counted_points_agree_with_a_sorted_map() {
        use std::collections::BTreeMap;
        let mut model: BTreeMap<u64, usize> = BTreeMap::new();
        let mut c = Counted::default();
        let mut open: Vec<u64> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut newest = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(3) || open.is_empty() {
                // Mostly the newest point, now and then an older one.
                newest += x % 2;
                let point = if x.is_multiple_of(11) {
                    newest - (x >> 8) % (newest + 1)
                } else {
                    newest
                };
                c.add(point);
                *model.entry(point).or_default() += 1;
                open.push(point);
            } else {
                let point = open.swap_remove((x >> 4) as usize % open.len());
                c.remove(point);
                let count = model.get_mut(&point).unwrap();
                *count -= 1;
                if *count == 0 {
                    model.remove(&point);
                }
            }
            assert!(c.0.iter().copied().eq(model.iter().map(|(&p, &n)| (p, n))));
        }
    }

    #[test]
    fn prefix_bounds_carry_over_ff() {
        assert_eq!(
            prefix_bounds(b"ab"),
            (
                Bound::Included(b"ab".to_vec().into()),
                Bound::Excluded(b"ac".to_vec().into())
            )
        );
        assert_eq!(
            prefix_bounds(&[0x61, 0xff]),
            (
                Bound::Included(vec![0x61, 0xff].into()),
                Bound::Excluded(vec![0x62].into())
            )
        );
        assert_eq!(
            prefix_bounds(&[0xff, 0xff]),
            (Bound::Included(vec![0xff, 0xff].into()), Bound::Unbounded)
        );
        assert_eq!(
            prefix_bounds(b""),
            (Bound::Included(Box::from(&b""[..])), Bound::Unbounded)
        );
    }
}
