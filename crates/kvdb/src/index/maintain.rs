//! Index maintenance on the write path: the index-space writes a batch
//! needs, decided under the write lock from the newest applied state, and
//! the unique-index checks that may refuse the batch whole.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use kvdb_core::{IndexOp, Op, Space, Writer};
use kvdb_index::{Mutations, mutations};

use crate::error::{Error, Result};
use crate::index::registry::{IndexState, Registry};

/// A record's value and expiry time.
type Record<'a> = (&'a [u8], Option<u64>);

/// What happens to one entry key over a whole batch: the last change wins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    /// The batch operation it goes with.
    pub(crate) at: usize,
    /// `Some(expiry)` for a put, `None` for a removal.
    pub(crate) put: Option<Option<u64>>,
}

/// The index-space writes of one batch, ready to ride it.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    /// Entry keys and their changes, in the order of the batch's
    /// operations.
    changes: Vec<(Vec<u8>, Change)>,
}

impl Planned {
    /// The entry keys the writes touch (an eviction's: the entries it
    /// removes).
    pub(crate) fn entry_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.changes.iter().map(|(key, _)| key.as_slice())
    }

    /// The writes, as the store takes them.
    pub(crate) fn index_ops(&self) -> Vec<IndexOp<'_>> {
        self.changes
            .iter()
            .map(|(key, change)| IndexOp {
                at: change.at,
                op: match change.put {
                    Some(expires_at) => Op::Put {
                        key,
                        value: b"",
                        expires_at,
                    },
                    None => Op::Delete { key },
                },
            })
            .collect()
    }
}

/// A unique index's new entry, to check once the batch's net effect is
/// known.
pub(crate) struct UniquePut<'s> {
    pub(crate) index: &'s IndexState,
    pub(crate) entry: Vec<u8>,
    pub(crate) equal_prefix_len: usize,
}

/// The index writes `ops` need under `writer`, or `None` if no index is
/// kept. Fails, deciding nothing, if an extractor panics, an index key is
/// too long, or a unique index would hold one index key for two records.
pub(crate) fn plan(
    writer: &Writer<'_>,
    registry: &Registry,
    ops: &[Op<'_>],
) -> Result<Option<Planned>> {
    if !registry.any() {
        return Ok(None);
    }
    let indexes = registry.all();
    // Each key's value as the batch has left it so far (for a key written
    // twice in one batch).
    let mut overlay: HashMap<&[u8], Option<Record<'_>>> = HashMap::new();
    let mut net: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
    let mut unique = Vec::new();
    let mut m = Mutations::default();
    for (at, op) in ops.iter().enumerate() {
        let key = op.key();
        let new = match *op {
            Op::Put {
                value, expires_at, ..
            } => Some((value, expires_at)),
            Op::Delete { .. } => None,
        };
        let covering: Vec<&IndexState> = indexes
            .iter()
            .filter(|i| i.built.lock().covers(key))
            .map(|i| &**i)
            .collect();
        if !covering.is_empty() {
            let mut diff = |old: Option<Record<'_>>| -> Result<()> {
                let expiry_changed = old.map(|o| o.1) != new.map(|n| n.1);
                for index in &covering {
                    m.clear();
                    extract_guarded(index, || {
                        mutations(
                            &index.def,
                            index.id,
                            key,
                            old.map(|o| o.0),
                            new.map(|n| n.0),
                            expiry_changed,
                            &mut m,
                        )
                    })?;
                    for removed in m.removes.drain(..) {
                        net.insert(removed, Change { at, put: None });
                    }
                    for put in m.puts.drain(..) {
                        let expires_at = new.and_then(|n| n.1);
                        if index.def.is_unique() {
                            unique.push(UniquePut {
                                index,
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
                Ok(())
            };
            match overlay.get(key) {
                Some(old) => diff(*old)?,
                None => writer.read(key, |v| diff(v.map(|v| (v.value, v.expires_at))))??,
            }
        }
        if ops.len() > 1 {
            overlay.insert(key, new);
        }
    }
    for u in &unique {
        check_unique(writer, &net, u)?;
    }
    let mut changes: Vec<(Vec<u8>, Change)> = net.into_iter().collect();
    changes.sort_by_key(|(_, c)| c.at);
    Ok(Some(Planned { changes }))
}

/// Calls `f` with each index entry a deletion of `key`, holding `value`,
/// removes: one per index key each index that covers `key` extracts from
/// `value`. Fails, having called `f` for the indexes before it, if an
/// extractor fails or panics.
pub(crate) fn entries_of(
    registry: &Registry,
    key: &[u8],
    value: &[u8],
    mut f: impl FnMut(&[u8]),
) -> Result<()> {
    let mut m = Mutations::default();
    for index in registry.all().iter() {
        if !index.built.lock().covers(key) {
            continue;
        }
        m.clear();
        extract_guarded(index, || {
            mutations(&index.def, index.id, key, Some(value), None, false, &mut m)
        })?;
        m.removes.iter().for_each(|entry| f(entry));
    }
    Ok(())
}

/// Runs an extraction, turning a panicking callback into an error.
pub(crate) fn extract_guarded(
    index: &IndexState,
    f: impl FnOnce() -> std::result::Result<(), kvdb_index::IndexError>,
) -> Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(Error::from),
        Err(_) => Err(Error::InvalidArgument(format!(
            "the extractor of index {:?} panicked; nothing was written",
            index.def.name()
        ))),
    }
}

/// Fails if, once the batch applies, `put`'s index key would belong to
/// another record too.
pub(crate) fn check_unique(
    writer: &Writer<'_>,
    net: &BTreeMap<Vec<u8>, Change>,
    put: &UniquePut<'_>,
) -> Result<()> {
    // An entry conflicts only while it is live: a removal, or a put that
    // has already expired, does not count.
    let now = writer.now_ms();
    let live = |c: &Change| c.put.is_some_and(|e| e.is_none_or(|at| at > now));
    if net.get(&put.entry).is_none_or(|c| !live(c)) {
        return Ok(()); // removed again later in the batch, or expired
    }
    let (lower, upper) = kvdb_index::entry::prefix_bounds(&put.entry[..put.equal_prefix_len]);
    let in_batch = net
        .range::<[u8], _>((as_slice(&lower), as_slice(&upper)))
        .any(|(k, c)| k != &put.entry && live(c));
    let mut stored = false;
    writer.for_each_live_in(Space::Index, (as_slice(&lower), as_slice(&upper)), |k| {
        // An entry this batch removes (or puts already expired) does not
        // count.
        if k != put.entry.as_slice() && net.get(k).is_none_or(&live) {
            stored = true;
            return false;
        }
        true
    });
    if in_batch || stored {
        let (_, ikey, pk) = kvdb_index::entry::decode(&put.entry)
            .ok_or_else(|| Error::Internal("an index entry key does not decode".into()))?;
        return Err(Error::Constraint(format!(
            "unique index {:?} already holds index key {} for another record (writing key {})",
            put.index.def.name(),
            crate::index::show_bytes(&ikey),
            crate::index::show_bytes(pk),
        )));
    }
    Ok(())
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}
