//! kvdb through its Rust API.

use std::path::Path;

use kvdb::{Db, Options, SyncPolicy};

use super::{Mode, System, copy_out};

pub(crate) struct KvdbRust {
    db: Db,
}

impl KvdbRust {
    pub(crate) fn open(mode: Mode, dir: &Path) -> Self {
        let db = match mode {
            Mode::Memory => Db::in_memory().expect("open kvdb"),
            Mode::Durable => {
                let mut options = Options::default();
                options.sync = SyncPolicy::Always;
                Db::open(dir, options).expect("open kvdb")
            }
        };
        Self { db }
    }
}

impl System for KvdbRust {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.db.put(key, value).expect("put");
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        self.db.get_with(key, |v| copy_out(v, out)).expect("get")
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        let mut found = 0;
        self.db
            .get_many_with(keys, |_, v| found += usize::from(copy_out(v, out)))
            .expect("get_many");
        found
    }

    fn delete(&self, key: &[u8]) -> bool {
        self.db.delete(key).expect("delete")
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut cursor = self.db.cursor::<&[u8]>(..);
        cursor.seek(start);
        Some(read_batches(&mut cursor, true, n, out))
    }

    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut cursor = self.db.cursor::<&[u8]>(..);
        cursor.seek_for_prev(start);
        Some(read_batches(&mut cursor, false, n, out))
    }

    fn scan_steps(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut cursor = self.db.cursor::<&[u8]>(..);
        cursor.seek(start);
        let mut read = 0;
        while read < n {
            let Some(value) = cursor.value() else { break };
            out.clear();
            out.extend_from_slice(value);
            read += 1;
            cursor.next();
        }
        Some(read)
    }

    fn settle(&self) -> bool {
        self.db.reorder().expect("reorder");
        true
    }

    fn flush(&self) {
        self.db.sync().expect("sync");
    }

    fn load_batch(&self, pairs: &[(&[u8], &[u8])]) {
        let mut batch = kvdb::Batch::new();
        for (k, v) in pairs {
            batch.put(k, v).expect("batch put");
        }
        self.db.write(&batch).expect("write");
    }

    fn compact(&self) {
        self.db.checkpoint().expect("checkpoint");
    }
}

/// Reads up to `n` pairs from where `cursor` stands, `forward` or back, in
/// batches of pairs per call (`Cursor::take_batch`), the fast way to scan;
/// each value is copied out, as for every system. Returns how many.
fn read_batches(cursor: &mut kvdb::Cursor, forward: bool, n: usize, out: &mut Vec<u8>) -> usize {
    let mut read = 0;
    while read < n {
        let got = cursor.take_batch(forward, (n - read).min(64), |_, value| {
            out.clear();
            out.extend_from_slice(value);
            true
        });
        if got == 0 {
            break;
        }
        read += got;
    }
    read
}
