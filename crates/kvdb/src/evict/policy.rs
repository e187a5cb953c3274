//! The eviction policies, with Redis's names and meanings, and how each
//! ranks a candidate.

use kvdb_core::{Candidate, Tracking, lfu_counter, lfu_idle, lru_idle};

/// What happens when a write would take the database past its memory limit
/// ([`crate::Options::memory_limit`]). The names and meanings are Redis's
/// `maxmemory-policy`; the numbers are the C API's `KVDB_EVICT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EvictionPolicy {
    /// Nothing is evicted: a write that would pass the limit fails with
    /// [`crate::ErrorKind::MemoryLimit`] and applies nothing.
    #[default]
    NoEviction,
    /// Evict the least recently used keys.
    AllKeysLru,
    /// Evict the least frequently used keys.
    AllKeysLfu,
    /// Evict random keys.
    AllKeysRandom,
    /// Evict the least recently used keys among those with an expiry time;
    /// when none is left, behave like `NoEviction`.
    VolatileLru,
    /// Evict the least frequently used keys among those with an expiry time.
    VolatileLfu,
    /// Evict random keys among those with an expiry time.
    VolatileRandom,
    /// Evict the keys with an expiry time that expire soonest.
    VolatileTtl,
}

impl EvictionPolicy {
    /// Every policy, in C code order.
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::NoEviction,
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
    ];

    /// The C API's `KVDB_EVICT_*` value.
    pub fn code(self) -> i32 {
        Self::ALL
            .iter()
            .position(|p| *p == self)
            .map_or(0, |i| i as i32)
    }

    /// The policy with C code `code`, if any.
    pub fn from_code(code: i32) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// Redis's name for it (`allkeys-lru`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// True if only keys with an expiry time may be evicted (the
    /// `volatile-*` policies).
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    /// True if the policy evicts at all.
    pub(crate) fn evicts(self) -> bool {
        self != EvictionPolicy::NoEviction
    }

    /// True if a candidate is picked at random, not ranked.
    pub(crate) fn random(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
        )
    }

    /// What reads must record for this policy.
    pub(crate) fn tracking(self) -> Tracking {
        match self {
            EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => Tracking::Lru,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => Tracking::Lfu,
            _ => Tracking::Off,
        }
    }

    /// What reads must record for this policy under memory limit `limit`;
    /// `None` without a limit, where reads go on recording what they
    /// recorded (at an open, what the snapshot recorded), so that a limit
    /// set again ranks the keys by all their use.
    pub(crate) fn tracking_under(self, limit: u64) -> Option<Tracking> {
        (limit > 0).then(|| self.tracking())
    }

    /// How much a candidate deserves eviction at sequence `now`: higher is
    /// evicted first (Redis's "idle" score).
    pub(crate) fn score(self, candidate: &Candidate, now: u64) -> u64 {
        self.score_of(candidate.access, candidate.expires_at, now)
    }

    /// [`Self::score`] of a key with access word `access` and expiry time
    /// `expires_at`.
    fn score_of(self, access: u32, expires_at: Option<u64>, now: u64) -> u64 {
        match self {
            EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                u64::from(lru_idle(access, now))
            }
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                // The lowest counter first; among equal counters, the key
                // whose counter last changed longest ago.
                let rarity = u64::from(u8::MAX - lfu_counter(access, now));
                rarity << 32 | u64::from(lfu_idle(access, now))
            }
            EvictionPolicy::VolatileTtl => u64::MAX - expires_at.unwrap_or(u64::MAX),
            _ => 0,
        }
    }

    /// Whether ranking a key needs its expiry time.
    pub(crate) fn ranks_by_expiry(self) -> bool {
        self == EvictionPolicy::VolatileTtl
    }
}

impl std::fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_c_contract() {
        let names = [
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ];
        for (code, name) in names.iter().enumerate() {
            let policy = EvictionPolicy::from_code(code as i32).unwrap();
            assert_eq!(policy.code(), code as i32);
            assert_eq!(policy.name(), *name);
        }
        assert_eq!(EvictionPolicy::from_code(8), None);
        assert_eq!(EvictionPolicy::from_code(-1), None);
    }

    #[test]
    fn sooner_expiry_and_longer_idleness_score_higher() {
        let ttl = EvictionPolicy::VolatileTtl;
        assert!(ttl.score_of(0, Some(10), 0) > ttl.score_of(0, Some(20), 0));
        let lru = EvictionPolicy::AllKeysLru;
        assert!(lru.score_of(1, None, 1600) > lru.score_of(90, None, 1600));
        // LFU: a lower counter first, whatever the idle time; then idleness.
        let lfu = EvictionPolicy::AllKeysLfu;
        let now = 10 * 1024;
        let word = |stamp: u32, counter: u32| (stamp << 8) | counter;
        assert!(lfu.score_of(word(9, 3), None, now) > lfu.score_of(word(0, 9), None, now));
        assert!(lfu.score_of(word(2, 5), None, now) > lfu.score_of(word(8, 5), None, now));
    }
}
