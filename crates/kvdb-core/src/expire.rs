//! Active expiry: reclaiming keys whose TTL has passed without waiting for a
//! reader to touch them, in the manner of Redis's active expire cycle.
//!
//! Reads already treat an expired value as absent (lazy expiry); this module
//! deletes expired keys, so their memory is freed by garbage collection and
//! the deletion is numbered, logged and seen by watchers like any other.
//! Expired index entries are removed directly once no view can read them. Every key written with a TTL is tracked. A cycle samples
//! a small random set of tracked keys, reclaims those that have expired for
//! every reader, and repeats while a large share of the sample was expired
//! and its time budget lasts, so the work per cycle stays bounded however
//! many keys expire at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_epoch as epoch;
use parking_lot::Mutex;

use crate::chain::ChainRef;
use crate::prepared::PreparedBatch;
use crate::space::Space;
use crate::store::Store;
use crate::version::Version;
use crate::writer::{Op, Writer};

/// Keys written with a TTL, sampled by the expiry cycle.
pub(crate) struct TtlTracker {
    tracked: Mutex<Vec<ChainRef>>,
    rng: AtomicU64,
}

impl Default for TtlTracker {
    fn default() -> Self {
        Self {
            tracked: Mutex::new(Vec::new()),
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        }
    }
}

impl TtlTracker {
    /// Tracks `chain` unless it is tracked already. Called under the write lock.
    pub(crate) fn track(&self, chain: &ChainRef) {
        if chain.mark_ttl_tracked() {
            let mut tracked = self.tracked.lock();
            chain.set_ttl_slot(tracked.len());
            tracked.push(chain.clone());
        }
    }

    /// Stops tracking `chain`. Called under the write lock, so no writer can
    /// give it a new TTL meanwhile.
    pub(crate) fn untrack(&self, chain: &ChainRef) {
        if !chain.is_ttl_tracked() {
            return;
        }
        let mut tracked = self.tracked.lock();
        let slot = chain.ttl_slot();
        if tracked.get(slot).is_some_and(|c| c.same(chain)) {
            tracked.swap_remove(slot);
            if let Some(moved) = tracked.get(slot) {
                moved.set_ttl_slot(slot);
            }
            chain.clear_ttl_tracked();
        }
    }

    fn next_random(&self) -> u64 {
        // xorshift64*: plenty for picking sample slots.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Up to `n` distinct tracked keys (all of them if there are no more).
    pub(crate) fn sample(&self, n: usize) -> Vec<ChainRef> {
        let tracked = self.tracked.lock();
        let len = tracked.len();
        if len <= n {
            return tracked.clone();
        }
        let mut slots: Vec<usize> = (0..n)
            .map(|_| (self.next_random() % len as u64) as usize)
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots.into_iter().map(|i| tracked[i].clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.tracked.lock().len()
    }
}

/// Tuning of one active expiry cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireConfig {
    /// Keys sampled per round (Redis: 20).
    pub keys_per_round: usize,
    /// Another round runs while more than this percentage of the sample had
    /// expired (Redis: 10 to 25).
    pub repeat_above_percent: u32,
    /// The cycle stops after this much time even if keys remain to reclaim.
    pub time_budget: Duration,
}

impl Default for ExpireConfig {
    fn default() -> Self {
        Self {
            keys_per_round: 20,
            repeat_above_percent: 25,
            time_budget: Duration::from_millis(25),
        }
    }
}

/// What one expiry cycle did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpireReport {
    /// Sampling rounds run.
    pub rounds: usize,
    /// Tracked keys examined.
    pub sampled: usize,
    /// Examined keys found expired.
    pub expired: usize,
    /// Expired keys deleted (user keys) or removed (index entries).
    pub reclaimed: usize,
    /// Keys no longer tracked (their TTL was cleared, or they were deleted).
    pub untracked: usize,
    /// Keys still tracked after the cycle.
    pub tracked: usize,
}

enum Verdict {
    Keep,
    Untrack,
    /// A user key expired: delete it (a write with its own sequence
    /// number; views older than it keep reading what they saw).
    Delete(usize),
    /// An index entry expired and no view can read it: remove it.
    Remove(usize),
}

impl Store {
    /// Runs one active expiry cycle, deleting expired keys with ordinary
    /// delete writes (each takes a sequence number).
    pub fn active_expire_cycle(&self, config: &ExpireConfig) -> ExpireReport {
        self.active_expire_cycle_with(config, |mut writer, keys| {
            let ops: Vec<Op<'_>> = keys.iter().map(|key| Op::Delete { key }).collect();
            let Ok(batch) = PreparedBatch::new(&ops) else {
                return 0;
            };
            let Some(range) = writer.assign(&batch) else {
                return 0;
            };
            match writer.apply(&batch, range) {
                Ok(applied) => {
                    drop(writer);
                    self.publish(applied);
                    keys.len()
                }
                Err(_) => 0,
            }
        })
    }

    /// Runs one active expiry cycle. Expired user keys are handed to
    /// `delete` with the write lock, still expired and unchanged since they
    /// were sampled; it deletes them (the database logs the deletion and
    /// tells watchers) and returns how many it deleted. Expired index
    /// entries no view can read are removed here.
    pub fn active_expire_cycle_with(
        &self,
        config: &ExpireConfig,
        mut delete: impl FnMut(Writer<'_>, &[Vec<u8>]) -> usize,
    ) -> ExpireReport {
        let shared = &*self.shared;
        if shared.process.is_inherited() {
            // A fork() child takes no lock a parent thread may hold forever.
            return ExpireReport::default();
        }
        let per_round = config.keys_per_round.max(1);
        let started = Instant::now();
        let mut report = ExpireReport::default();
        loop {
            let sample = shared.ttl.sample(per_round);
            if sample.is_empty() {
                break;
            }
            report.rounds += 1;
            report.sampled += sample.len();
            let acted_before = report.reclaimed + report.untracked;
            let horizon = shared.horizon();
            let now = shared.clock.now_ms();
            let guard = epoch::pin();
            let mut expired_here = 0;
            let verdicts: Vec<Verdict> = sample
                .iter()
                .map(|chain| {
                    let head = chain.head(&guard);
                    match head.and_then(|h| h.expires_at().map(|at| (h, at))) {
                        _ if chain.is_removed() => Verdict::Untrack,
                        None => Verdict::Untrack,
                        Some((_, at)) if at > now => Verdict::Keep,
                        Some((h, _)) if chain.space() == Space::User => {
                            expired_here += 1;
                            Verdict::Delete(h.addr())
                        }
                        Some((h, at)) => {
                            expired_here += 1;
                            if h.seq() <= horizon.seq && at <= horizon.time {
                                Verdict::Remove(h.addr())
                            } else {
                                Verdict::Keep // an open view may still read it
                            }
                        }
                    }
                })
                .collect();
            report.expired += expired_here;
            if verdicts.iter().any(|v| !matches!(v, Verdict::Keep)) {
                let Ok(writer) = self.writer() else {
                    break; // this thread holds the write lock: try next time
                };
                let mut doomed = Vec::new();
                for (chain, verdict) in sample.iter().zip(verdicts) {
                    // A write since the sample changes the picture: judge
                    // the key again next time.
                    let unchanged = |seen| chain.head_addr(&guard) == seen && !chain.is_removed();
                    match verdict {
                        Verdict::Keep => {}
                        Verdict::Delete(seen) => {
                            if unchanged(seen) {
                                doomed.push(chain.key().to_vec());
                            }
                        }
                        Verdict::Remove(seen) => {
                            if unchanged(seen) {
                                shared.remove_chain(chain, true, &guard);
                                report.reclaimed += 1;
                            }
                        }
                        Verdict::Untrack => {
                            // Re-checked under the write lock: a writer may have
                            // given the key a TTL again since the sample.
                            let head = chain.head(&guard);
                            if chain.is_removed() || head.and_then(Version::expires_at).is_none() {
                                shared.ttl.untrack(chain);
                                report.untracked += 1;
                            }
                        }
                    }
                }
                if doomed.is_empty() {
                    drop(writer);
                } else {
                    let deleted = delete(writer, &doomed);
                    shared
                        .counters
                        .expired_reclaimed
                        .fetch_add(deleted as u64, Ordering::Relaxed);
                    report.reclaimed += deleted;
                }
            }
            drop(guard);
            let share = expired_here * 100 / sample.len();
            // A round that reclaimed and untracked nothing (its expired keys
            // kept for open views, or rewritten since the sample) gives no
            // reason to think the next will do better: Redis's rule of
            // repeating while many keys sampled have expired assumes they
            // are reclaimed.
            let acted = report.reclaimed + report.untracked > acted_before;
            if share as u32 <= config.repeat_above_percent
                || !acted
                || started.elapsed() >= config.time_budget
            {
                break;
            }
        }
        report.tracked = shared.ttl.len();
        report
    }
}
