//! A bare crossbeam `SkipMap<Vec<u8>, Vec<u8>>`: the cost of kvdb's ordered
//! structure with nothing on top (no versions, no TTL, no snapshots).

use crossbeam_skiplist::SkipMap;

use super::{System, copy_out};

#[derive(Default)]
pub(crate) struct SkipMapSystem {
    map: SkipMap<Vec<u8>, Vec<u8>>,
}

impl System for SkipMapSystem {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        copy_out(
            self.map.get(key).as_ref().map(|e| e.value().as_slice()),
            out,
        )
    }

    fn delete(&self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut read = 0;
        for e in self
            .map
            .range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .take(n)
        {
            out.clear();
            out.extend_from_slice(e.value());
            read += 1;
        }
        Some(read)
    }

    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut read = 0;
        for e in self
            .map
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(start)))
            .rev()
            .take(n)
        {
            out.clear();
            out.extend_from_slice(e.value());
            read += 1;
        }
        Some(read)
    }
}
