//! Choosing victims: Redis's sampling with a pool of the best candidates
//! kept between rounds.
//!
//! Each round samples [`SAMPLES`] random keys (from every key, or from the
//! keys with an expiry time), scores them by the policy, and merges them
//! into a pool of the [`POOL_SIZE`] highest scores seen. The victim is the
//! pool's best entry, judged as it is now first: a key deleted, rewritten
//! without an expiry time, or used since it was pooled is ranked again.
//! Sampling reads only each key's record (its access word), whose misses
//! overlap; the newest version is read only for the victim. Keeping the
//! pool between evictions lets the sampling of many writes add up to a
//! good choice, which is what makes sampled LRU come close to true LRU.
//! Unlike Redis, a victim is taken only from a pool at least half full
//! (more rounds are sampled first if need be), so that evicting many keys
//! at once does not degrade into picking among the last few.
//!
//! A background thread may choose victims ahead ([`Pool::prepare`]): they
//! wait, judged, in a ready list that the next eviction takes first (each
//! judged again), so that a write at the limit mostly skips the sampling.

use std::collections::VecDeque;

// Sets of record identities (addresses) hash with foldhash: they gain and
// lose an entry per victim on the writer's path, where SipHash showed in
// profiles, and an address needs no defence against chosen collisions.
use foldhash::HashSet;

use kvdb_core::Candidate;

use crate::evict::judge::Judge;
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

/// When victims are chosen: the sequence number LRU and LFU rank by (they
/// measure time in writes), and the clock reading a victim is judged live
/// at. An eviction judges at its write's reading, the one its deletions
/// are made at, so a victim it finds live it deletes as a live value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub(crate) seq: u64,
    pub(crate) clock_ms: u64,
}

/// What an eviction's victims must free: `bytes`, counting with theirs
/// what `also_freed` says deleting that many keys and index entries frees
/// besides (the hash tables' shrink, for an eviction whose victims are
/// freed at once).
#[derive(Clone, Copy)]
pub(crate) struct Goal<'a> {
    pub(crate) bytes: u64,
    pub(crate) also_freed: &'a dyn Fn(usize, usize) -> u64,
}

impl Goal<'_> {
    /// `bytes` from the victims themselves.
    pub(crate) fn of_victims(bytes: u64) -> Goal<'static> {
        Goal {
            bytes,
            also_freed: &|_, _| 0,
        }
    }
}

/// The best candidates seen, kept between evictions.
#[derive(Default)]
pub(crate) struct Pool {
    /// Ascending by score: the best is last.
    entries: Vec<(u64, Candidate)>,
    /// Victims chosen ahead, judged, oldest first, with their scores then.
    ready: VecDeque<(u64, Candidate)>,
    /// Their records' identities.
    ready_ids: HashSet<usize>,
    /// The records chosen by the eviction under way (kept to reuse its
    /// allocation).
    chosen: HashSet<usize>,
    /// What the ready victims free.
    ready_bytes: u64,
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
        if self.entries.len() == POOL_SIZE && score <= self.entries[0].0 {
            return;
        }
        if let Some(at) = self
            .entries
            .iter()
            .position(|(_, c)| c.record_id() == candidate.record_id())
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
        self.ready.clear();
        self.ready_ids.clear();
        self.ready_bytes = 0;
    }

    /// Bytes the victims chosen ahead free between them.
    pub(crate) fn ready_bytes(&self) -> u64 {
        self.ready_bytes
    }

    /// Chooses one more victim ahead, by `policy`'s ranking `at` a moment,
    /// for the next eviction to take; false if none was found.
    pub(crate) fn prepare(
        &mut self,
        judge: &Judge<'_>,
        policy: EvictionPolicy,
        at: Moment,
    ) -> bool {
        let chosen = std::mem::take(&mut self.ready_ids);
        let victim = self.next_victim(judge, policy, at, &chosen);
        self.ready_ids = chosen;
        match victim {
            Some(victim) => {
                self.ready_bytes += victim.bytes;
                self.ready_ids.insert(victim.record_id());
                self.ready
                    .push_back((policy.score(&victim, at.seq), victim));
                true
            }
            None => false,
        }
    }

    /// The oldest victim chosen ahead that still deserves it: still a live
    /// value (with an expiry time, for the volatile policies), not chosen
    /// already, and not used since (one that was goes back to the pool).
    fn take_ready(
        &mut self,
        judge: &Judge<'_>,
        policy: EvictionPolicy,
        at: Moment,
        chosen: &HashSet<usize>,
    ) -> Option<Candidate> {
        while let Some((score, ready)) = self.ready.pop_front() {
            self.ready_bytes = self.ready_bytes.saturating_sub(ready.bytes);
            self.ready_ids.remove(&ready.record_id());
            let Some((current, now_score)) = judge_again(judge, policy, at, chosen, &ready) else {
                continue;
            };
            if now_score < score {
                self.insert(now_score, current); // used since: rank again
                continue;
            }
            return Some(current);
        }
        None
    }

    /// Keys to evict that free what `goal` asks between them, by
    /// `policy`'s ranking `at` the eviction's moment, those chosen ahead
    /// first, in `victims` (emptied first; passed in to reuse its
    /// allocation), never the records `spared`; if the keys the policy
    /// may evict cannot free that much, `Err` with those it found.
    pub(crate) fn choose(
        &mut self,
        judge: &Judge<'_>,
        policy: EvictionPolicy,
        goal: Goal<'_>,
        at: Moment,
        spared: &[usize],
        victims: Vec<Candidate>,
    ) -> Result<Vec<Candidate>, Vec<Candidate>> {
        let mut chosen = std::mem::take(&mut self.chosen);
        chosen.clear();
        // Counted as chosen already, so that nothing chooses them.
        chosen.extend(spared.iter().copied());
        let victims = self.choose_into(judge, policy, goal, at, &mut chosen, victims);
        self.chosen = chosen;
        victims
    }

    fn choose_into(
        &mut self,
        judge: &Judge<'_>,
        policy: EvictionPolicy,
        goal: Goal<'_>,
        at: Moment,
        chosen: &mut HashSet<usize>,
        mut victims: Vec<Candidate>,
    ) -> Result<Vec<Candidate>, Vec<Candidate>> {
        // Start loading the ready victims this will likely take.
        let mut expected = 0u64;
        let likely = self
            .ready
            .iter()
            .take_while(|(_, c)| {
                let more = expected < goal.bytes;
                expected += c.bytes;
                more
            })
            .count();
        judge
            .store
            .prefetch_judgements(self.ready.iter().take(likely).map(|(_, c)| c));
        victims.clear();
        victims.reserve(self.ready.len());
        let (mut freed, mut entries) = (0u64, 0usize);
        while freed + (goal.also_freed)(victims.len(), entries) < goal.bytes {
            let found = match self.take_ready(judge, policy, at, chosen) {
                Some(victim) => Some(victim),
                None => self.next_victim(judge, policy, at, chosen),
            };
            let Some(victim) = found else {
                return Err(victims);
            };
            freed += victim.bytes;
            entries += victim.index_entries as usize;
            chosen.insert(victim.record_id());
            victims.push(victim);
        }
        Ok(victims)
    }

    fn next_victim(
        &mut self,
        judge: &Judge<'_>,
        policy: EvictionPolicy,
        at: Moment,
        chosen: &HashSet<usize>,
    ) -> Option<Candidate> {
        let volatile = policy.volatile_only();
        for round in 0..ROUNDS_PER_VICTIM {
            let start = self.random();
            let sample =
                judge
                    .store
                    .eviction_sample(SAMPLES, volatile, policy.ranks_by_expiry(), start);
            let mut fresh = sample
                .into_iter()
                .filter(|c| !chosen.contains(&c.record_id()));
            if policy.random() {
                // Random policies take a sampled key that holds a value
                // (with an expiry time, for volatile-random: a key sampled
                // from the tracked ones may have lost its TTL since).
                let victim =
                    fresh.find_map(|c| judge_again(judge, policy, at, chosen, &c).map(|(c, _)| c));
                if victim.is_some() {
                    return victim;
                }
                continue;
            }
            for candidate in fresh {
                self.insert(policy.score(&candidate, at.seq), candidate);
            }
            if self.entries.len() < MIN_POOLED && round + 1 < ROUNDS_PER_VICTIM {
                // Too few to choose well from (several victims were just
                // taken): sample again first.
                continue;
            }
            while let Some((score, pooled)) = self.entries.pop() {
                // Judge it as it is now.
                let Some((current, now_score)) = judge_again(judge, policy, at, chosen, &pooled)
                else {
                    continue;
                };
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

/// `candidate` as it is `at` the moment and its score, if it may still be
/// evicted: a value, live or expired and not reclaimed yet (with an
/// expiry time, for the volatile policies), not chosen already.
fn judge_again(
    judge: &Judge<'_>,
    policy: EvictionPolicy,
    at: Moment,
    chosen: &HashSet<usize>,
    candidate: &Candidate,
) -> Option<(Candidate, u64)> {
    let current = judge.judge(candidate, at.clock_ms)?;
    if (policy.volatile_only() && current.expires_at.is_none())
        || chosen.contains(&current.record_id())
    {
        return None;
    }
    let score = policy.score(&current, at.seq);
    Some((current, score))
}
