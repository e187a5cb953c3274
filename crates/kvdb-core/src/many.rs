//! Reading many keys in one call, with their cache misses overlapped.
//!
//! A point read waits for two memory accesses in a row: the hash slot, then
//! the record (with its newest version, prefetched from the slot's hint).
//! Over a store larger than the CPU's caches each is a miss, and one read's
//! misses cannot overlap the next read's: the CPU's window of instructions
//! in flight is shorter than a read. A multi-get breaks the reads of a group
//! of keys into stages instead: hash every key and start loading its slot;
//! then read each slot and start loading its record and version; then finish
//! each read, whose memory is in the cache (or on its way) by then. The
//! group's misses are waited for together rather than one after the other.
//!
//! Every key is read at one point in time: a multi-get reads through a read
//! view, registered for the call (as RocksDB's `MultiGet` reads at an
//! implicit snapshot). Values are borrowed under an epoch guard pinned for
//! one group at a time, so a long call never holds back reclamation for
//! more than a group's reads.

use crossbeam_epoch as epoch;

use crate::error::CoreError;
use crate::key_hash::KeyHash;
use crate::limits::check_key;
use crate::store::Store;
use crate::version::VersionRef;
use crate::view::ReadView;

/// Keys read together: enough misses in flight to cover the memory's
/// latency (a core tracks a few dozen), few enough that the first slots
/// loaded are still in the L1 cache when their records are wanted.
const GROUP: usize = 16;

impl ReadView {
    /// Calls `f(i, value)` with the value of every `keys[i]` as of this view
    /// (`None` if absent, deleted or expired), in order of `i`. Faster than
    /// a get per key once the store outgrows the CPU's caches (see the
    /// module docs). Fails, calling `f` for no key, if any key is too long
    /// or the process is a `fork()` child.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<VersionRef<'_>>),
    ) -> Result<(), CoreError> {
        self.get_many_hashed_with(keys, |i, value, _| f(i, value))
    }

    /// As [`ReadView::get_many_with`], also passing each key's [`KeyHash`]
    /// (what a transaction records for validation).
    pub fn get_many_hashed_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<VersionRef<'_>>, KeyHash),
    ) -> Result<(), CoreError> {
        for key in keys {
            check_key(key.as_ref())?;
        }
        self.shared.check_process()?;
        self.shared.counters.gets.add(keys.len() as u64);
        let index = self.shared.keys(self.space());
        let mut hashes = [0u64; GROUP];
        for (group, chunk) in keys.chunks(GROUP).enumerate() {
            let guard = epoch::pin();
            for (hash, key) in hashes.iter_mut().zip(chunk) {
                *hash = index.hash(key.as_ref());
                index.prefetch_slot(*hash, &guard);
            }
            for &hash in &hashes[..chunk.len()] {
                index.prefetch_chain(hash, &guard);
            }
            for (at, (key, &hash)) in chunk.iter().zip(&hashes).enumerate() {
                self.read_pinned(key.as_ref(), hash, &guard, |value| {
                    f(group * GROUP + at, value, KeyHash(hash));
                });
            }
        }
        Ok(())
    }
}

impl Store {
    /// As [`ReadView::get_many_with`], reading the current values: every key
    /// at the same moment, through a view registered for the call.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        f: impl FnMut(usize, Option<VersionRef<'_>>),
    ) -> Result<(), CoreError> {
        self.snapshot().get_many_with(keys, f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::writer::Op;

    fn put(store: &Store, key: &[u8], value: &[u8], expires_at: Option<u64>) {
        store
            .write(&[Op::Put {
                key,
                value,
                expires_at,
            }])
            .unwrap();
    }

    fn read_all(view: &ReadView, keys: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
        let mut out = vec![None; keys.len()];
        let mut order = Vec::new();
        view.get_many_with(keys, |i, v| {
            order.push(i);
            out[i] = v.map(|v| v.value.to_vec());
        })
        .unwrap();
        assert_eq!(
            order,
            (0..keys.len()).collect::<Vec<_>>(),
            "one call per key, in order"
        );
        out
    }

    #[test]
    fn get_many_matches_a_get_per_key_across_groups() {
        let store = Store::new();
        for i in 0..100u32 {
            if i % 3 != 0 {
                put(&store, &i.to_be_bytes(), &i.to_le_bytes(), None);
            }
        }
        // More keys than a group, repeats and absent keys among them.
        let keys: Vec<Vec<u8>> = (0..70u32)
            .chain([5, 5, 200, 0])
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        let view = store.snapshot();
        let got = read_all(&view, &keys);
        for (key, value) in keys.iter().zip(&got) {
            assert_eq!(value, &store.get(key).unwrap(), "key {key:?}");
        }
        assert_eq!(got.iter().filter(|v| v.is_some()).count(), 48);
    }

    #[test]
    fn get_many_reads_every_key_at_the_views_moment() {
        let store = Store::new();
        put(&store, b"a", b"1", None);
        put(&store, b"b", b"1", None);
        let view = store.snapshot();
        put(&store, b"a", b"2", None);
        put(&store, b"c", b"2", None);
        let keys = [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        assert_eq!(
            read_all(&view, &keys),
            [Some(b"1".to_vec()), Some(b"1".to_vec()), None]
        );
        let mut now = Vec::new();
        store
            .get_many_with(&keys, |_, v| now.push(v.map(|v| v.value.to_vec())))
            .unwrap();
        assert_eq!(
            now,
            [
                Some(b"2".to_vec()),
                Some(b"1".to_vec()),
                Some(b"2".to_vec())
            ]
        );
    }

    #[test]
    fn get_many_skips_expired_values() {
        let clock = Arc::new(ManualClock::new(1_000));
        let store = Store::with_clock(clock.clone());
        put(&store, b"lasting", b"v", None);
        put(&store, b"brief", b"v", Some(1_500));
        clock.set(2_000);
        let mut found = Vec::new();
        store
            .get_many_with(&[&b"brief"[..], b"lasting"], |_, v| found.push(v.is_some()))
            .unwrap();
        assert_eq!(found, [false, true]);
    }

    #[test]
    fn get_many_refuses_an_invalid_key_before_reading_any() {
        let store = Store::new();
        put(&store, b"a", b"1", None);
        let long = vec![0u8; crate::MAX_KEY_LEN + 1];
        let mut called = 0;
        let err = store
            .get_many_with(&[&b"a"[..], &long], |_, _| called += 1)
            .unwrap_err();
        assert!(matches!(err, CoreError::KeyTooLarge { .. }), "{err:?}");
        assert_eq!(called, 0);
        store
            .get_many_with::<&[u8]>(&[], |_, _| called += 1)
            .unwrap();
        assert_eq!(called, 0);
    }
}
