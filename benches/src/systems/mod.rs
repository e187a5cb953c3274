//! The systems under comparison, behind one interface.

#[cfg(test)]
mod conformance;
pub(crate) mod ffi;
pub(crate) mod kvdb;
#[cfg(feature = "lmdb")]
pub(crate) mod lmdb;
pub(crate) mod locked;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "rocksdb")]
pub(crate) mod rocksdb;
pub(crate) mod skipmap;

use std::path::Path;
use std::sync::Arc;

/// One request of a workload.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op<'a> {
    Get(&'a [u8]),
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
    /// Read up to this many entries from the first key at or after the key.
    Scan(&'a [u8], usize),
    /// The same, one entry per iterator step.
    ScanSteps(&'a [u8], usize),
    /// Read up to this many entries from the last key at or before the key,
    /// in descending order.
    ScanBack(&'a [u8], usize),
    /// Read the key, then write a new value (YCSB F).
    ReadModifyWrite(&'a [u8], &'a [u8]),
}

/// The tail of every `System::get`: copies a found value into `out` (the
/// copy the caller would make) and says whether there was one.
#[inline]
pub(crate) fn copy_out(found: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    match found {
        Some(v) => {
            out.clear();
            out.extend_from_slice(v);
            true
        }
        None => false,
    }
}

/// A key-value store under test. Every method may be called from many
/// threads at once.
pub(crate) trait System: Send + Sync {
    /// Stores `value` under `key`.
    fn put(&self, key: &[u8], value: &[u8]);
    /// Copies the value of `key` into `out`; false if absent.
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool;
    /// Removes `key`; true if it was present.
    fn delete(&self, key: &[u8]) -> bool;
    /// Reads the values of `keys`, copying each one found into `out` as
    /// `get` does; returns how many were found. Systems with a batched read
    /// (a multi-get, MGET) use it; the others read the keys one by one.
    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        keys.iter().filter(|k| self.get(k, out)).count()
    }
    /// Reads (copies) up to `n` entries from the first key at or after
    /// `start`; `None` if the store is unordered.
    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize>;
    /// As `scan`, through an iterator stepped one entry at a time (next,
    /// key, value), as most programs iterate. Only kvdb's `scan` reads
    /// whole batches per call; every other system's `scan` already steps.
    fn scan_steps(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        self.scan(start, n, out)
    }
    /// Reads (copies) up to `n` entries from the last key at or before
    /// `start`, in descending order; `None` if the store is unordered (or,
    /// here, cannot read backward).
    fn scan_back(&self, _start: &[u8], _n: usize, _out: &mut Vec<u8>) -> Option<usize> {
        None
    }
    /// Requests sent together (1 for embedded stores; a server pipelines).
    fn pipeline(&self) -> usize {
        1
    }
    /// Runs a group of requests; embedded stores run them one by one.
    fn run(&self, ops: &[Op<'_>], out: &mut Vec<u8>) {
        for op in ops {
            match *op {
                Op::Get(k) => {
                    self.get(k, out);
                }
                Op::Put(k, v) => self.put(k, v),
                Op::Delete(k) => {
                    self.delete(k);
                }
                Op::Scan(k, n) => {
                    self.scan(k, n, out);
                }
                Op::ScanSteps(k, n) => {
                    self.scan_steps(k, n, out);
                }
                Op::ScanBack(k, n) => {
                    self.scan_back(k, n, out);
                }
                Op::ReadModifyWrite(k, v) => {
                    self.get(k, out);
                    self.put(k, v);
                }
            }
        }
    }
    /// Makes everything written durable, where that means anything.
    fn flush(&self) {}
    /// Finishes, now, the work the store does by itself after a bulk load
    /// (kvdb: putting its index back in key order); false if it has none.
    fn settle(&self) -> bool {
        false
    }
    /// Stores many pairs in one go (one transaction or batch where the
    /// system has them); used to load durable stores quickly.
    fn load_batch(&self, pairs: &[(&[u8], &[u8])]) {
        for (k, v) in pairs {
            self.put(k, v);
        }
    }
    /// Brings the files to their settled state (checkpoint, flush, save).
    fn compact(&self) {
        self.flush();
    }
    /// Bytes on disk, if the system reports them itself.
    fn disk_bytes(&self) -> Option<u64> {
        None
    }
    /// Resident bytes of the process holding the data, if it is not this one.
    fn resident_bytes(&self) -> Option<u64> {
        None
    }
}

/// How a system is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// In memory, or as close to it as the system gets (no log, no sync).
    Memory,
    /// On disk, every write synced before it is acknowledged.
    Durable,
}

/// A system the driver knows how to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Kvdb,
    KvdbC,
    SkipMap,
    BTreeMap,
    HashMap,
    Lmdb,
    RocksDb,
    Redis,
}

impl Kind {
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Kvdb,
        Kind::KvdbC,
        Kind::SkipMap,
        Kind::BTreeMap,
        Kind::HashMap,
        Kind::Lmdb,
        Kind::RocksDb,
        Kind::Redis,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Kvdb => "kvdb",
            Kind::KvdbC => "kvdb-c-abi",
            Kind::SkipMap => "crossbeam-skipmap",
            Kind::BTreeMap => "btreemap-rwlock",
            Kind::HashMap => "hashmap-rwlock",
            Kind::Lmdb => "lmdb",
            Kind::RocksDb => "rocksdb",
            Kind::Redis => "redis",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True if this build can open the system (peers are cargo features).
    pub(crate) fn available(self) -> bool {
        let compiled = [
            (Kind::Lmdb, cfg!(feature = "lmdb")),
            (Kind::RocksDb, cfg!(feature = "rocksdb")),
            (Kind::Redis, cfg!(feature = "redis")),
        ];
        compiled
            .iter()
            .find(|(k, _)| *k == self)
            .is_none_or(|(_, on)| *on)
    }

    /// True if the system can run the durable workloads.
    pub(crate) fn durable(self) -> bool {
        matches!(self, Kind::Kvdb | Kind::Lmdb | Kind::RocksDb | Kind::Redis)
    }

    /// Opens the system in `dir` (used by the systems that keep files).
    pub(crate) fn open(self, mode: Mode, dir: &Path, env: &crate::Env) -> Arc<dyn System> {
        match self {
            Kind::Kvdb => Arc::new(kvdb::KvdbRust::open(mode, dir)),
            Kind::KvdbC => Arc::new(ffi::KvdbC::open(&env.ffi_lib, mode, dir)),
            Kind::SkipMap => Arc::new(skipmap::SkipMapSystem::default()),
            Kind::BTreeMap => Arc::new(locked::LockedBTree::default()),
            Kind::HashMap => Arc::new(locked::LockedHash::default()),
            #[cfg(feature = "lmdb")]
            Kind::Lmdb => Arc::new(lmdb::Lmdb::open(mode, dir)),
            #[cfg(feature = "rocksdb")]
            Kind::RocksDb => Arc::new(rocksdb::RocksDb::open(mode, dir)),
            #[cfg(feature = "redis")]
            Kind::Redis => Arc::new(redis::Redis::open(mode, dir, &env.redis_server)),
            #[allow(unreachable_patterns)]
            other => panic!(
                "{} is not compiled in (enable its cargo feature)",
                other.name()
            ),
        }
    }
}
