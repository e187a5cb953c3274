//! Access tracking for eviction: a 32-bit word per key that reads update
//! without a lock, read by the engine when it samples eviction candidates,
//! in the manner of Redis's `lru` field.
//!
//! The clock is the store's sequence number, not wall time: recency is
//! measured in writes. A cache evicts only when writes bring new data, so
//! this clock moves exactly when the order matters, costs a reader one load
//! it already makes, and never ties thousands of keys within one clock tick
//! the way a seconds clock does.
//!
//! - **LRU** (policies `*-lru`): the word is the clock divided by
//!   [`LRU_UNIT`] writes when the key was last read or written.
//! - **LFU** (policies `*-lfu`): the top 24 bits are the clock in units of
//!   [`LFU_UNIT`] writes when the counter was last decayed, the low 8 bits a
//!   logarithmic access counter: a new key starts at [`LFU_INIT`], an access
//!   raises it with probability 1 / ((counter - [`LFU_INIT`]) *
//!   [`LFU_LOG_FACTOR`] + 1), and it loses one per [`LFU_DECAY_UNITS`]
//!   units idle (Redis's scheme, with writes for minutes).
//!
//! A reader stores the word only when it changes, so a hot key read many
//! times between writes costs no store at all. Lost updates between racing
//! readers are harmless: the word is a hint.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// What accesses are recorded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracking {
    /// Nothing is recorded (no memory limit, or one without LRU or LFU).
    #[default]
    Off,
    /// Recency, for LRU eviction.
    Lru,
    /// Frequency, for LFU eviction.
    Lfu,
}

/// Writes per LRU clock unit.
pub const LRU_UNIT: u64 = 16;
/// Writes per LFU clock unit.
pub const LFU_UNIT: u64 = 1024;
/// LFU clock units idle per counter decrement (1 Mi writes).
pub const LFU_DECAY_UNITS: u32 = 1024;
/// The LFU counter of a new key, so that it is not evicted at once.
pub const LFU_INIT: u8 = 5;
/// How slowly the LFU counter grows (Redis's `lfu-log-factor`).
pub const LFU_LOG_FACTOR: u32 = 10;

const LFU_CLOCK_MASK: u32 = (1 << 24) - 1;

/// The store's tracking mode, switchable at run time, and the latest time
/// a write may record (see [`AccessTracker::hold_writes_at`]).
pub(crate) struct AccessTracker {
    mode: AtomicU8,
    writes_at_most: AtomicU64,
    /// Switches of the mode, counted twice each: odd while one is under
    /// way (the mode changed, and the pass that rewrites every key's word
    /// in the new form has not finished).
    switches: AtomicU64,
}

impl Default for AccessTracker {
    fn default() -> Self {
        Self {
            mode: AtomicU8::new(0),
            writes_at_most: AtomicU64::new(u64::MAX),
            switches: AtomicU64::new(0),
        }
    }
}

impl AccessTracker {
    pub(crate) fn set(&self, tracking: Tracking) {
        let mode = match tracking {
            Tracking::Off => 0,
            Tracking::Lru => 1,
            Tracking::Lfu => 2,
        };
        self.mode.store(mode, Ordering::Relaxed);
    }

    /// The count of switch starts and ends (see the field).
    pub(crate) fn switches(&self) -> u64 {
        self.switches.load(Ordering::SeqCst)
    }

    /// Marks the start or the end of a switch of the mode.
    pub(crate) fn count_switch(&self) {
        self.switches.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> Tracking {
        match self.mode.load(Ordering::Relaxed) {
            1 => Tracking::Lru,
            2 => Tracking::Lfu,
            _ => Tracking::Off,
        }
    }

    /// Records a read of the key whose word is `word`, at sequence `now`.
    #[inline]
    pub(crate) fn read(&self, word: &AtomicU32, now: u64) {
        let updated = match self.get() {
            Tracking::Off => return,
            Tracking::Lru => lru_stamp(now),
            Tracking::Lfu => lfu_touch(word.load(Ordering::Relaxed), now, true),
        };
        if word.load(Ordering::Relaxed) != updated {
            word.store(updated, Ordering::Relaxed);
        }
    }

    /// Makes writes record their keys' use as made at sequence `seq` at
    /// the latest (`None`: at their own), for a log replayed after a
    /// snapshot whose recorded use is as of `seq`.
    pub(crate) fn hold_writes_at(&self, seq: Option<u64>) {
        self.writes_at_most
            .store(seq.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Records a write of the key (`new`: it did not exist before).
    #[inline]
    pub(crate) fn write(&self, word: &AtomicU32, now: u64, new: bool) {
        let tracking = self.get();
        if tracking == Tracking::Off {
            return;
        }
        let now = now.min(self.writes_at_most.load(Ordering::Relaxed));
        let updated = match tracking {
            Tracking::Off => return,
            Tracking::Lru => lru_stamp(now),
            Tracking::Lfu if new => lfu_word(now, LFU_INIT),
            Tracking::Lfu => lfu_touch(word.load(Ordering::Relaxed), now, true),
        };
        word.store(updated, Ordering::Relaxed);
    }
}

fn lru_stamp(now: u64) -> u32 {
    (now / LRU_UNIT) as u32
}

/// LRU clock units since the key's last access (with the 32-bit clock's
/// wraparound: an idle time past 2^32 units reads as its remainder).
pub fn lru_idle(word: u32, now: u64) -> u32 {
    lru_stamp(now).wrapping_sub(word)
}

fn lfu_clock(now: u64) -> u32 {
    (now / LFU_UNIT) as u32 & LFU_CLOCK_MASK
}

fn lfu_word(now: u64, counter: u8) -> u32 {
    (lfu_clock(now) << 8) | u32::from(counter)
}

/// LFU clock units since the key's LFU counter last changed (a tie-break
/// between keys of equal counters: the one whose use stopped earlier).
pub fn lfu_idle(word: u32, now: u64) -> u32 {
    lfu_clock(now).wrapping_sub(word >> 8) & LFU_CLOCK_MASK
}

/// The key's LFU counter as of sequence `now`, decayed for idle time.
pub fn lfu_counter(word: u32, now: u64) -> u8 {
    let counter = (word & 0xff) as u8;
    let idle = lfu_clock(now).wrapping_sub(word >> 8) & LFU_CLOCK_MASK;
    let decay = idle / LFU_DECAY_UNITS;
    counter.saturating_sub(u8::try_from(decay).unwrap_or(u8::MAX))
}

fn lfu_touch(word: u32, now: u64, access: bool) -> u32 {
    let mut counter = lfu_counter(word, now);
    if access && counter < u8::MAX {
        let base = u32::from(counter.saturating_sub(LFU_INIT));
        // Raise with probability 1 / (base * factor + 1).
        if random_below(base * LFU_LOG_FACTOR + 1) == 0 {
            counter += 1;
        }
    }
    let decayed_at = if counter == (word & 0xff) as u8 {
        word >> 8 // unchanged: keep the stamp, so idle time still counts
    } else {
        lfu_clock(now)
    };
    (decayed_at << 8) | u32::from(counter)
}

/// The access word `word` as the key's age at sequence `now`, in a form
/// that does not depend on where the clock stands: for LRU, the clock units
/// since its last use; for LFU, the counter (bits 0-7, as recorded, its
/// decay still to come) and the LFU clock units since it last changed (bits
/// 8-31). A snapshot taken at `now` records it, and [`access_from_age`]
/// turns it back into a word at the same sequence number when the snapshot
/// is loaded. A word stamped after `now` (by a read after the snapshot's
/// view was taken) has age 0 rather than an age wrapped around the clock.
pub fn access_age(word: u32, now: u64, tracking: Tracking) -> u32 {
    match tracking {
        Tracking::Off => 0,
        Tracking::Lru => {
            let idle = lru_idle(word, now);
            if idle > u32::MAX / 2 { 0 } else { idle }
        }
        Tracking::Lfu => {
            let idle = lfu_idle(word, now);
            let idle = if idle > LFU_CLOCK_MASK / 2 { 0 } else { idle };
            (idle << 8) | (word & 0xff)
        }
    }
}

/// The access word of a key of age `age` ([`access_age`]) at sequence `now`.
pub fn access_from_age(age: u32, now: u64, tracking: Tracking) -> u32 {
    match tracking {
        Tracking::Off => 0,
        Tracking::Lru => lru_stamp(now).wrapping_sub(age),
        Tracking::Lfu => {
            let changed_at = lfu_clock(now).wrapping_sub(age >> 8) & LFU_CLOCK_MASK;
            (changed_at << 8) | (age & 0xff)
        }
    }
}

/// A thread-local xorshift draw below `n` (n > 0).
fn random_below(n: u32) -> u32 {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Seeded from the thread-local's address: distinct per thread.
            x = (std::ptr::from_ref(state) as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((x >> 32) % u64::from(n)) as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_idle_counts_clock_units_since_the_last_access() {
        let tracker = AccessTracker::default();
        tracker.set(Tracking::Lru);
        let word = AtomicU32::new(0);
        tracker.read(&word, 1600);
        assert_eq!(lru_idle(word.load(Ordering::Relaxed), 1600), 0);
        assert_eq!(lru_idle(word.load(Ordering::Relaxed), 3200), 100);
    }

    #[test]
    fn off_records_nothing() {
        let tracker = AccessTracker::default();
        let word = AtomicU32::new(7);
        tracker.read(&word, 1 << 20);
        tracker.write(&word, 1 << 20, true);
        assert_eq!(word.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn lfu_counters_grow_logarithmically_and_decay_when_idle() {
        let tracker = AccessTracker::default();
        tracker.set(Tracking::Lfu);
        let hot = AtomicU32::new(0);
        let warm = AtomicU32::new(0);
        tracker.write(&hot, 0, true);
        tracker.write(&warm, 0, true);
        assert_eq!(lfu_counter(hot.load(Ordering::Relaxed), 0), LFU_INIT);
        for _ in 0..10_000 {
            tracker.read(&hot, 0);
        }
        for _ in 0..100 {
            tracker.read(&warm, 0);
        }
        let hot_count = lfu_counter(hot.load(Ordering::Relaxed), 0);
        let warm_count = lfu_counter(warm.load(Ordering::Relaxed), 0);
        assert!(
            hot_count > warm_count && warm_count > LFU_INIT,
            "{hot_count} {warm_count}"
        );
        // 10,000 reads raise the counter to about 50 (36-66 in 20,000
        // simulated runs): the draws are random, so the bound sits well
        // clear of that, and far below the 255 a counter raised on every
        // read would saturate at.
        assert!(hot_count < 100, "growth is logarithmic: {hot_count}");
        let later = u64::from(LFU_DECAY_UNITS) * LFU_UNIT * 3;
        assert_eq!(
            lfu_counter(hot.load(Ordering::Relaxed), later),
            hot_count - 3
        );
    }

    #[test]
    fn an_age_turns_back_into_the_word_it_was_taken_from() {
        for tracking in [Tracking::Lru, Tracking::Lfu] {
            let tracker = AccessTracker::default();
            tracker.set(tracking);
            for (used_at, now) in [(0, 0), (5_000, 90_000), (1 << 33, (1 << 33) + 7_777_777)] {
                let word = AtomicU32::new(0);
                tracker.write(&word, used_at, true);
                for _ in 0..50 {
                    tracker.read(&word, used_at);
                }
                let word = word.load(Ordering::Relaxed);
                let age = access_age(word, now, tracking);
                assert_eq!(access_from_age(age, now, tracking), word, "{tracking:?}");
                // What the eviction reads of it is the same at any later time.
                let later = now + 3 * LFU_UNIT * u64::from(LFU_DECAY_UNITS);
                let restored = access_from_age(age, now, tracking);
                assert_eq!(lru_idle(restored, later), lru_idle(word, later));
                assert_eq!(lfu_counter(restored, later), lfu_counter(word, later));
            }
        }
    }

    #[test]
    fn a_word_stamped_after_the_age_is_taken_is_just_used() {
        let tracker = AccessTracker::default();
        tracker.set(Tracking::Lru);
        let word = AtomicU32::new(0);
        tracker.read(&word, 100_000);
        let word = word.load(Ordering::Relaxed);
        assert_eq!(access_age(word, 90_000, Tracking::Lru), 0);
        tracker.set(Tracking::Lfu);
        let word = AtomicU32::new(0);
        tracker.write(&word, 10 * LFU_UNIT, true);
        let word = word.load(Ordering::Relaxed);
        assert_eq!(
            access_age(word, 5 * LFU_UNIT, Tracking::Lfu),
            u32::from(LFU_INIT)
        );
    }

    #[test]
    fn held_writes_record_no_later_than_the_hold() {
        let tracker = AccessTracker::default();
        tracker.set(Tracking::Lru);
        let word = AtomicU32::new(0);
        tracker.hold_writes_at(Some(1_600));
        tracker.write(&word, 3_200, false);
        assert_eq!(lru_idle(word.load(Ordering::Relaxed), 3_200), 100);
        tracker.hold_writes_at(None);
        tracker.write(&word, 3_200, false);
        assert_eq!(lru_idle(word.load(Ordering::Relaxed), 3_200), 0);
    }
}
