//! Choosing victims: Redis's sampling with a pool of the best candidates
//! kept between rounds.
//!
//! Each round samples [`SAMPLES`] random keys (from every key, or from the
//! keys with an expiry time), scores them by the policy, and merges them
//! into a pool of the [`POOL_SIZE`] highest scores seen. The victim is the
//! pool's best entry, re-read first: a key deleted, rewritten without an
//! expiry time, or used since it was pooled is judged again. Keeping the
//! pool between evictions lets the sampling of many writes add up to a
//! good choice, which is what makes sampled LRU come close to true LRU.
//! Unlike Redis, a victim is taken only from a pool at least half full
//! (more rounds are sampled first if need be), so that evicting many keys
//! at once does not degrade into picking among the last few.

use std::collections::HashSet;

use kvdb_core::{Candidate, Writer};

use crate::evict::policy::EvictionPolicy;

/// Keys sampled per round (Redis's `maxmemory-samples` default).
pub(crate) const SAMPLES: usize = 5;

/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
pub(crate) const POOL_SIZE: usize = 16;

/// Candidates the pool holds before a victim is taken from it, when
/// sampling can find them: taking several victims in a row can drain it,
/// and a victim picked from two or three candidates is barely better than
/// a random one.
const MIN_POOLED: usize = POOL_SIZE / 2;

/// Rounds tried per victim before giving up (every sample empty or stale).
const ROUNDS_PER_VICTIM: usize = 8;

/// The best candidates seen, kept between evictions.
#[derive(Default)]
pub(crate) struct Pool {
    /// Ascending by score: the best is last.
    entries: Vec<(u64, Candidate)>,
    rng: u64,
}

impl Pool {
    fn random(&mut self) -> u64 {
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn insert(&mut self, score: u64, candidate: Candidate) {
        if let Some(at) = self
            .entries
            .iter()
            .position(|(_, c)| c.key == candidate.key)
        {
            self.entries.remove(at);
        }
        if self.entries.len() == POOL_SIZE {
            if score <= self.entries[0].0 {
                return;
            }
            self.entries.remove(0);
        }
        let at = self.entries.partition_point(|(s, _)| *s <= score);
        self.entries.insert(at, (score, candidate));
    }

    /// Forgets every candidate (the policy changed).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keys to evict, under `writer`, that free at least `bytes` between
    /// them, by `policy`'s ranking at sequence `now`; `None` if the keys
    /// the policy may evict cannot free that much.
    pub(crate) fn choose(
        &mut self,
        writer: &Writer<'_>,
        policy: EvictionPolicy,
        bytes: u64,
        now: u64,
    ) -> Option<Vec<Candidate>> {
        let mut chosen: HashSet<Vec<u8>> = HashSet::new();
        let mut victims = Vec::new();
        let mut freed = 0u64;
        while freed < bytes {
            let victim = self.next_victim(writer, policy, now, &chosen)?;
            freed += victim.bytes;
            chosen.insert(victim.key.clone());
            victims.push(victim);
        }
        Some(victims)
    }

    fn next_victim(
        &mut self,
        writer: &Writer<'_>,
        policy: EvictionPolicy,
        now: u64,
        chosen: &HashSet<Vec<u8>>,
    ) -> Option<Candidate> {
        let volatile = policy.volatile_only();
        for round in 0..ROUNDS_PER_VICTIM {
            let start = self.random();
            let sample = writer.eviction_sample(SAMPLES, volatile, start);
            let fresh = sample.into_iter().filter(|c| !chosen.contains(&c.key));
            if policy.random() {
                // Random policies take a sampled key as it comes.
                if let Some(victim) = fresh.into_iter().next() {
                    return Some(victim);
                }
                continue;
            }
            for candidate in fresh {
                self.insert(policy.score(&candidate, now), candidate);
            }
            if self.entries.len() < MIN_POOLED && round + 1 < ROUNDS_PER_VICTIM {
                // Too few to choose well from (several victims were just
                // taken): sample again first.
                continue;
            }
            while let Some((score, pooled)) = self.entries.pop() {
                // Judge it as it is now.
                let Some(current) = writer.eviction_candidate(&pooled.key) else {
                    continue;
                };
                if (volatile && current.expires_at.is_none()) || chosen.contains(&current.key) {
                    continue;
                }
                let now_score = policy.score(&current, now);
                if now_score < score && self.entries.last().is_some_and(|(s, _)| *s > now_score) {
                    self.insert(now_score, current); // used since: rank again
                    continue;
                }
                return Some(current);
            }
        }
        None
    }
}
