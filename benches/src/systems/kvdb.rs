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

    fn delete(&self, key: &[u8]) -> bool {
        self.db.delete(key).expect("delete")
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
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
