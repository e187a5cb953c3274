//! std `BTreeMap` and `HashMap` behind a `parking_lot::RwLock`: what an
//! embedder would hand-roll.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;

use super::{System, copy_out};

#[derive(Default)]
pub(crate) struct LockedBTree {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl System for LockedBTree {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.map.write().insert(key.to_vec(), value.to_vec());
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        copy_out(self.map.read().get(key).map(Vec::as_slice), out)
    }

    fn delete(&self, key: &[u8]) -> bool {
        self.map.write().remove(key).is_some()
    }

    fn scan(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let map = self.map.read();
        let mut read = 0;
        for (_, v) in map
            .range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .take(n)
        {
            out.clear();
            out.extend_from_slice(v);
            read += 1;
        }
        Some(read)
    }

    fn scan_back(&self, start: &[u8], n: usize, out: &mut Vec<u8>) -> Option<usize> {
        let map = self.map.read();
        let mut read = 0;
        for (_, v) in map
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(start)))
            .rev()
            .take(n)
        {
            out.clear();
            out.extend_from_slice(v);
            read += 1;
        }
        Some(read)
    }
}

#[derive(Default)]
pub(crate) struct LockedHash {
    map: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
}

impl System for LockedHash {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.map.write().insert(key.to_vec(), value.to_vec());
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        copy_out(self.map.read().get(key).map(Vec::as_slice), out)
    }

    fn delete(&self, key: &[u8]) -> bool {
        self.map.write().remove(key).is_some()
    }

    fn scan(&self, _start: &[u8], _n: usize, _out: &mut Vec<u8>) -> Option<usize> {
        None
    }
}
