//! The indexes a database maintains: their definitions, numbers and build
//! state. Changed only under the write lock; read by every commit (one
//! atomic load when there are none) and by queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kvdb_index::IndexDef;
use parking_lot::{Mutex, RwLock};

/// How far an index's build has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Built {
    /// Records with keys up to and including this one (none while `None`)
    /// have entries; writes to them keep their entries up to date, writes
    /// to later keys leave them to the build.
    Through(Option<Vec<u8>>),
    /// Every record has its entries.
    Complete,
}

impl Built {
    /// True if a write to `key` must maintain the index now.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        match self {
            Built::Complete => true,
            Built::Through(None) => false,
            Built::Through(Some(last)) => key <= last.as_slice(),
        }
    }
}

/// One index the database maintains.
pub(crate) struct IndexState {
    /// The number its entries are filed under (never reused).
    pub(crate) id: u32,
    pub(crate) def: IndexDef,
    /// Changed under the write lock only.
    pub(crate) built: Mutex<Built>,
    /// Views at or above this sequence number may use the index; `u64::MAX`
    /// until the build completes.
    ready_seq: AtomicU64,
}

impl IndexState {
    pub(crate) fn ready_seq(&self) -> Option<u64> {
        match self.ready_seq.load(Ordering::Acquire) {
            u64::MAX => None,
            seq => Some(seq),
        }
    }

    pub(crate) fn set_ready(&self, seq: u64) {
        *self.built.lock() = Built::Complete;
        self.ready_seq.store(seq, Ordering::Release);
    }
}

/// The database's indexes.
#[derive(Default)]
pub(crate) struct Registry {
    indexes: RwLock<Arc<[Arc<IndexState>]>>,
    /// True while `indexes` is not empty: the commit path's fast check.
    any: AtomicBool,
    next_id: AtomicU32,
}

impl Registry {
    /// True if some index must be maintained.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Every index, building or built.
    pub(crate) fn all(&self) -> Arc<[Arc<IndexState>]> {
        Arc::clone(&self.indexes.read())
    }

    /// The index named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<Arc<IndexState>> {
        self.indexes
            .read()
            .iter()
            .find(|i| i.def.name() == name)
            .cloned()
    }

    /// Registers `def` as a new index whose build has not started. Callers
    /// hold the write lock and have checked the name is free.
    pub(crate) fn add(&self, def: IndexDef) -> Arc<IndexState> {
        let state = Arc::new(IndexState {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            def,
            built: Mutex::new(Built::Through(None)),
            ready_seq: AtomicU64::new(u64::MAX),
        });
        let mut indexes = self.indexes.write();
        let mut list: Vec<_> = indexes.iter().cloned().collect();
        list.push(Arc::clone(&state));
        *indexes = list.into();
        self.any.store(true, Ordering::Release);
        state
    }

    /// Forgets the index numbered `id`. Callers hold the write lock.
    pub(crate) fn remove(&self, id: u32) {
        let mut indexes = self.indexes.write();
        let list: Vec<_> = indexes.iter().filter(|i| i.id != id).cloned().collect();
        self.any.store(!list.is_empty(), Ordering::Release);
        *indexes = list.into();
    }
}
