//! LMDB through the heed crate. In memory mode the environment lives on
//! tmpfs (/dev/shm) with syncing off: LMDB's best case as an in-memory store.
//! In durable mode it lives on disk and every commit is synced.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions};

use super::{Mode, System, copy_out};

pub(crate) struct Lmdb {
    env: Env,
    db: Database<Bytes, Bytes>,
    _shm: Option<tempfile::TempDir>,
    dir: PathBuf,
}

impl Lmdb {
    pub(crate) fn open(mode: Mode, dir: &Path) -> Self {
        let (shm, path) = match mode {
            Mode::Memory => {
                let shm = tempfile::tempdir_in("/dev/shm").expect("tmpfs directory");
                let path = shm.path().to_path_buf();
                (Some(shm), path)
            }
            Mode::Durable => (None, dir.to_path_buf()),
        };
        let mut options = EnvOpenOptions::new();
        options.map_size(16 << 30).max_dbs(1);
        if mode == Mode::Memory {
            // SAFETY: NO_SYNC and NO_META_SYNC only weaken durability.
            unsafe { options.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC) };
        }
        // SAFETY: the directory is ours alone, opened once in this process.
        let env = unsafe { options.open(&path) }.expect("open LMDB");
        let mut wtxn = env.write_txn().expect("write txn");
        let db = env
            .create_database(&mut wtxn, None)
            .expect("create database");
        wtxn.commit().expect("commit");
        Self {
            env,
            db,
            _shm: shm,
            dir: path,
        }
    }
}

impl System for Lmdb {
    fn put(&self, key: &[u8], value: &[u8]) {
        let mut wtxn = self.env.write_txn().expect("write txn");
        self.db.put(&mut wtxn, key, value).expect("put");
        wtxn.commit().expect("commit");
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        let rtxn = self.env.read_txn().expect("read txn");
        copy_out(self.db.get(&rtxn, key).expect("get"), out)
    }

    /// LMDB has no batched read: the keys are read one by one in one read
    /// transaction, as an LMDB user would.
    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        let rtxn = self.env.read_txn().expect("read txn");
        keys.iter()
            .filter(|k| copy_out(self.db.get(&rtxn, k).expect("get"), out))
            .count()
    }

    fn delete(&self, key: &[u8]) -> bool {
        let mut wtxn = self.env.write_txn().expect("write txn");
        let removed = self.db.delete(&mut wtxn, key).expect("delete");
        wtxn.commit().expect("commit");
        removed
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let rtxn = self.env.read_txn().expect("read txn");
        // LMDB refuses zero-length keys, even as a bound.
        let lower = if start.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(start)
        };
        let range = (lower, Bound::Unbounded);
        let entries = self.db.range(&rtxn, &range).expect("range");
        Some(copy_values(entries, n, out))
    }

    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        if start.is_empty() {
            // LMDB holds no zero-length key: nothing is at or before it.
            return Some(0);
        }
        let rtxn = self.env.read_txn().expect("read txn");
        let range = (Bound::Unbounded, Bound::Included(start));
        let entries = self.db.rev_range(&rtxn, &range).expect("range");
        Some(copy_values(entries, n, out))
    }

    fn flush(&self) {
        self.env.force_sync().expect("sync");
    }

    fn load_batch(&self, pairs: &[(&[u8], &[u8])]) {
        let mut wtxn = self.env.write_txn().expect("write txn");
        for (k, v) in pairs {
            self.db.put(&mut wtxn, k, v).expect("put");
        }
        wtxn.commit().expect("commit");
    }

    fn disk_bytes(&self) -> Option<u64> {
        Some(crate::memory::dir_bytes(&self.dir))
    }
}

/// Copies the values of up to `n` of `entries` into `out`, as every
/// system's scan copies the values it reads; returns how many were read.
fn copy_values<'t>(
    entries: impl Iterator<Item = heed::Result<(&'t [u8], &'t [u8])>>,
    n: usize,
    out: &mut Vec<u8>,
) -> usize {
    let mut read = 0;
    for item in entries.take(n) {
        let (_, v) = item.expect("entry");
        out.clear();
        out.extend_from_slice(v);
        read += 1;
    }
    read
}
