//! RocksDB through the rocksdb crate, linked to Debian's librocksdb. In
//! memory mode the WAL is off and the memtable is large enough to hold every
//! record (nothing is flushed to SST files during a run); in durable mode the
//! WAL is on and every write is synced (`sync = true`).

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamilyDescriptor, DB, DBRawIterator, Options, WriteBatch, WriteOptions};

use super::{Mode, System, copy_out};

pub(crate) struct RocksDb {
    db: DB,
    write: WriteOptions,
    dir: PathBuf,
}

impl RocksDb {
    pub(crate) fn open(mode: Mode, dir: &Path) -> Self {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.increase_parallelism(2);
        let mut write = WriteOptions::default();
        match mode {
            Mode::Memory => {
                options.set_write_buffer_size(4 << 30);
                options.set_db_write_buffer_size(4 << 30);
                options.set_max_write_buffer_number(2);
                write.disable_wal(true);
            }
            Mode::Durable => write.set_sync(true),
        }
        // The default column family opened by name, with these options, so
        // that MultiGet can be given its handle (`open_cf` would give it
        // default options: a small memtable flushed to files).
        let default_cf = ColumnFamilyDescriptor::new("default", options.clone());
        let db = DB::open_cf_descriptors(&options, dir, [default_cf]).expect("open RocksDB");
        Self {
            db,
            write,
            dir: dir.to_path_buf(),
        }
    }
}

impl System for RocksDb {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.db.put_opt(key, value, &self.write).expect("put");
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        copy_out(self.db.get_pinned(key).expect("get").as_deref(), out)
    }

    /// RocksDB's MultiGet (the batched form, which sorts the keys and
    /// reads the memtable for them together).
    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        let cf = self.db.cf_handle("default").expect("default column family");
        self.db
            .batched_multi_get_cf(cf, keys, false)
            .into_iter()
            .filter(|v| copy_out(v.as_ref().expect("multi_get").as_deref(), out))
            .count()
    }

    fn delete(&self, key: &[u8]) -> bool {
        // RocksDB deletes blindly; read first so the answer means the same
        // as for the other systems.
        let present = self.db.get_pinned(key).expect("get").is_some();
        self.db.delete_opt(key, &self.write).expect("delete");
        present
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut it = self.db.raw_iterator();
        it.seek(start);
        Some(step_values(&mut it, n, out, DBRawIterator::next))
    }

    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(start);
        Some(step_values(&mut it, n, out, DBRawIterator::prev))
    }

    fn flush(&self) {
        self.db.flush_wal(true).expect("flush WAL");
    }

    fn load_batch(&self, pairs: &[(&[u8], &[u8])]) {
        let mut batch = WriteBatch::default();
        for (k, v) in pairs {
            batch.put(k, v);
        }
        self.db.write_opt(batch, &self.write).expect("write");
    }

    fn compact(&self) {
        self.db.flush().expect("flush");
        self.db.compact_range::<&[u8], &[u8]>(None, None);
    }

    fn disk_bytes(&self) -> Option<u64> {
        Some(crate::memory::dir_bytes(&self.dir))
    }
}

/// Copies the value at `it` into `out` and steps, up to `n` entries or
/// the end, as every system's scan copies the values it reads; returns how
/// many were read.
fn step_values<'d>(
    it: &mut DBRawIterator<'d>,
    n: usize,
    out: &mut Vec<u8>,
    step: fn(&mut DBRawIterator<'d>),
) -> usize {
    let mut read = 0;
    while read < n && it.valid() {
        out.clear();
        out.extend_from_slice(it.value().expect("value"));
        read += 1;
        step(it);
    }
    read
}
