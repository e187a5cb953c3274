//! Creating an index over the data a database already holds, online, and
//! dropping one.
//!
//! A build walks the records in key order a chunk at a time, each chunk
//! under the write lock, and files their entries at the newest applied
//! sequence number. Meanwhile every write to a key the build has passed
//! maintains the index like any write; writes to keys ahead of it are left
//! to the build, which will read them as they then are. When the walk ends
//! the index is complete, and views taken from then on may use it (older
//! views are refused: they would miss entries filed after them).
//!
//! A view at the sequence number the build ends at may still be older in
//! time: taken before the build, when a record that has expired since was
//! live. So the build files entries for every record the store holds,
//! expired or not, each with its record's expiry time: an entry is then
//! visible to exactly the views its record is visible to. Unique checks
//! count only entries live now.
//!
//! Under a memory limit each chunk first makes room for its entries, as a
//! write does (the policy evicts, or the build fails and the index is
//! dropped); the entries of records that eviction took are not filed. The
//! indexes named in the options are built at open without making room:
//! the opening then evicts down to the limit.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use kvdb_core::{Op, Space};
use kvdb_index::{IndexDef, Mutations, mutations};

use crate::db::Inner;
use crate::error::{Error, Result};
use crate::index::maintain::{Change, UniquePut, check_unique};
use crate::index::registry::{Built, IndexState};

/// Records per chunk: the write lock is held for one chunk at a time.
const CHUNK: usize = 1024;

/// The puts that file `net`'s entries.
fn entry_puts(net: &BTreeMap<Vec<u8>, Change>) -> Vec<Op<'_>> {
    net.iter()
        .map(|(key, change)| Op::Put {
            key,
            value: b"",
            expires_at: change.put.flatten(),
        })
        .collect()
}

/// Whether a build makes room for its entries under the memory limit.
#[derive(Clone, Copy)]
enum Room {
    /// As a write does: evicting by the policy, or failing.
    Make,
    /// Not: the caller evicts down to the limit afterwards.
    Ignore,
}

impl Inner {
    /// Adds the index `def` and builds it from the records held now,
    /// making room for its entries under the memory limit as writes do.
    /// Fails if the name is taken, if (for a unique index) two records
    /// share an index key, or if the policy cannot make room; then nothing
    /// of the index is left.
    pub(crate) fn create_index(&self, def: IndexDef) -> Result<()> {
        self.create_index_with(def, Room::Make)
    }

    /// As [`Inner::create_index`], for an index named in the options of a
    /// database being opened: its entries are filed whatever the limit, and
    /// the opening then evicts down to the limit as lowering it does (a
    /// database that cannot hold its indexes under `noeviction` still
    /// opens, and refuses writes).
    pub(crate) fn create_index_at_open(&self, def: IndexDef) -> Result<()> {
        self.create_index_with(def, Room::Ignore)
    }

    fn create_index_with(&self, def: IndexDef, room: Room) -> Result<()> {
        let state = {
            let _writer = self.begin_write()?;
            if self.indexes.find(def.name()).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "an index named {:?} already exists",
                    def.name()
                )));
            }
            self.indexes.add(def)
        };
        if let Err(e) = self.build_index(&state, room) {
            // Best effort: the index is unusable either way.
            let _ = self.drop_index_state(&state);
            return Err(e);
        }
        Ok(())
    }

    fn build_index(&self, state: &Arc<IndexState>, room: Room) -> Result<()> {
        let mut after: Option<Vec<u8>> = None;
        let mut m = Mutations::default();
        loop {
            let mut writer = self.begin_write()?;
            let mut keys = Vec::new();
            let lower = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            writer.for_each_held_in(Space::User, (lower, Bound::Unbounded), |k| {
                keys.push(k.to_vec());
                keys.len() < CHUNK
            });
            // Each entry's change is `at` its record's position in `keys`.
            let mut net = BTreeMap::new();
            let mut unique = Vec::new();
            for (at, key) in keys.iter().enumerate() {
                m.clear();
                let expires_at = writer.read_held(key, |v| -> Result<Option<u64>> {
                    let Some(v) = v else { return Ok(None) };
                    crate::index::maintain::extract_guarded(state, || {
                        mutations(&state.def, state.id, key, None, Some(v.value), true, &mut m)
                    })?;
                    Ok(v.expires_at)
                })??;
                for put in m.puts.drain(..) {
                    if state.def.is_unique() {
                        unique.push(UniquePut {
                            index: state,
                            entry: put.key.clone(),
                            equal_prefix_len: put.equal_prefix_len,
                        });
                    }
                    net.insert(
                        put.key,
                        Change {
                            at,
                            put: Some(expires_at),
                        },
                    );
                }
            }
            let mut puts = entry_puts(&net);
            let evicted = match room {
                Room::Make => self.make_room_for_entries(&mut writer, &puts)?,
                Room::Ignore => None,
            };
            // The entries of records the eviction took are not filed (it
            // may take any record, this chunk's too: a database smaller than
            // a chunk has no other), and their unique checks are moot.
            if let Some(evicted) = &evicted {
                let taken: HashSet<&[u8]> = evicted.victims.iter().map(|c| c.key()).collect();
                net.retain(|_, change| !taken.contains(keys[change.at].as_slice()));
                unique.retain(|u| net.contains_key(&u.entry));
                puts = entry_puts(&net);
            }
            let filed = unique
                .iter()
                .try_for_each(|u| check_unique(&writer, &net, u))
                .and_then(|()| Ok(writer.install_index_entries(&puts)?));
            let done = keys.len() < CHUNK;
            if filed.is_ok() {
                if done {
                    state.set_ready(writer.next_seq() - 1);
                } else {
                    after = keys.pop();
                    *state.built.lock() = Built::Through(after.clone());
                }
            }
            // Made under the lock, so published and collected with it
            // released, whatever became of the entries.
            match evicted {
                Some(evicted) => self.finish_eviction(writer, evicted)?,
                None => drop(writer),
            }
            filed?;
            if done {
                return Ok(());
            }
        }
    }

    /// Forgets the index `name` and removes its entries. Views and
    /// iterators taken before keep reading what they saw.
    pub(crate) fn drop_index(&self, name: &str) -> Result<()> {
        let state = self
            .indexes
            .find(name)
            .ok_or_else(|| Error::InvalidArgument(format!("no index named {name:?}")))?;
        self.drop_index_state(&state)
    }

    fn drop_index_state(&self, state: &IndexState) -> Result<()> {
        {
            let _writer = self.begin_write()?;
            self.indexes.remove(state.id);
        }
        // No write maintains the index any more: remove its entries a chunk
        // at a time.
        let all = kvdb_index::EntryBounds::prefix(state.id, b"");
        let mut lower = all.lower.clone();
        loop {
            let mut writer = self.begin_write()?;
            let mut entries = Vec::new();
            writer.for_each_live_in(
                Space::Index,
                (
                    lower.as_ref().map(Vec::as_slice),
                    all.upper.as_ref().map(Vec::as_slice),
                ),
                |k| {
                    entries.push(k.to_vec());
                    entries.len() < CHUNK
                },
            );
            let ops: Vec<Op<'_>> = entries.iter().map(|key| Op::Delete { key }).collect();
            writer.install_index_entries(&ops)?;
            if entries.len() < CHUNK {
                return Ok(());
            }
            lower = Bound::Excluded(entries.pop().expect("a full chunk"));
        }
    }
}
