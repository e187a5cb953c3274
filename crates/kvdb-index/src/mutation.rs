//! The entries a write must remove and put to keep an index equal to what
//! its extractor says of the data.

use crate::definition::IndexDef;
use crate::entry::{self, MAX_INDEX_KEY_LEN};
use crate::error::IndexError;

/// An entry to put, and where its equality prefix ends (what a unique
/// index checks for other records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEntry {
    /// The entry key.
    pub key: Vec<u8>,
    /// `key[..equal_prefix_len]` is [`entry::equal_prefix`] of its index key.
    pub equal_prefix_len: usize,
}

impl PutEntry {
    /// The prefix every entry with the same index key shares.
    pub fn equal_prefix(&self) -> &[u8] {
        &self.key[..self.equal_prefix_len]
    }
}

/// Entry keys to remove and entries to put, gathered over one or several
/// writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mutations {
    /// Entry keys whose entries must go.
    pub removes: Vec<Vec<u8>>,
    /// Entries to put.
    pub puts: Vec<PutEntry>,
}

impl Mutations {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.removes.is_empty() && self.puts.is_empty()
    }

    /// Forgets every mutation, keeping the allocations.
    pub fn clear(&mut self) {
        self.removes.clear();
        self.puts.clear();
    }
}

/// Adds to `out` what index `def` (number `id`) needs when the record `pk`
/// goes from `old` to `new` (`None`: absent). Entries whose index key stays
/// are put again only if `rewrite_unchanged` (their expiry time changes
/// with the record's). Fails, adding nothing, if a new index key is longer
/// than [`MAX_INDEX_KEY_LEN`].
pub fn mutations(
    def: &IndexDef,
    id: u32,
    pk: &[u8],
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    rewrite_unchanged: bool,
    out: &mut Mutations,
) -> Result<(), IndexError> {
    let extractor = def.extractor();
    let old_keys = old.map(|v| extractor.extract(pk, v)).unwrap_or_default();
    let new_keys = new.map(|v| extractor.extract(pk, v)).unwrap_or_default();
    if let Some(long) = new_keys.iter().find(|k| k.len() > MAX_INDEX_KEY_LEN) {
        return Err(IndexError::IndexKeyTooLarge {
            index: def.name().to_string(),
            len: long.len(),
            max: MAX_INDEX_KEY_LEN,
        });
    }
    for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
        out.removes.push(entry::encode(id, k, pk));
    }
    for k in new_keys.iter() {
        if rewrite_unchanged || !old_keys.contains(k) {
            let key = entry::encode(id, k, pk);
            out.puts.push(PutEntry {
                equal_prefix_len: key.len() - pk.len(),
                key,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_index() -> IndexDef {
        IndexDef::key_field("f", b':', 1).unwrap()
    }

    fn json_index() -> IndexDef {
        IndexDef::json_field("age", "age").unwrap()
    }

    #[test]
    fn an_insert_puts_and_a_delete_removes() {
        let def = json_index();
        let mut m = Mutations::default();
        mutations(&def, 1, b"pk", None, Some(br#"{"age":3}"#), false, &mut m).unwrap();
        assert_eq!((m.removes.len(), m.puts.len()), (0, 1));
        let put = m.puts[0].clone();
        assert_eq!(
            put.equal_prefix(),
            entry::equal_prefix(1, &def.query_key(b"3").unwrap())
        );
        m.clear();
        mutations(&def, 1, b"pk", Some(br#"{"age":3}"#), None, false, &mut m).unwrap();
        assert_eq!(m.removes, vec![put.key]);
        assert!(m.puts.is_empty());
    }

    #[test]
    fn an_unchanged_index_key_is_left_alone_unless_the_expiry_changes() {
        let def = field_index();
        let mut m = Mutations::default();
        mutations(&def, 1, b"a:b", Some(b"x"), Some(b"y"), false, &mut m).unwrap();
        assert!(m.is_empty());
        mutations(&def, 1, b"a:b", Some(b"x"), Some(b"y"), true, &mut m).unwrap();
        assert_eq!((m.removes.len(), m.puts.len()), (0, 1));
    }

    #[test]
    fn a_changed_index_key_moves_the_entry() {
        let def = json_index();
        let mut m = Mutations::default();
        mutations(
            &def,
            1,
            b"pk",
            Some(br#"{"age":3}"#),
            Some(br#"{"age":4}"#),
            false,
            &mut m,
        )
        .unwrap();
        assert_eq!(
            m.removes,
            vec![entry::encode(1, &def.query_key(b"3").unwrap(), b"pk")]
        );
        assert_eq!(
            m.puts[0].key,
            entry::encode(1, &def.query_key(b"4").unwrap(), b"pk")
        );
    }

    #[test]
    fn an_overlong_index_key_is_refused_and_adds_nothing() {
        let def = IndexDef::value_bytes("v", 0, MAX_INDEX_KEY_LEN + 1).unwrap();
        let mut m = Mutations::default();
        let err = mutations(
            &def,
            1,
            b"pk",
            None,
            Some(&vec![1; MAX_INDEX_KEY_LEN + 1]),
            false,
            &mut m,
        )
        .unwrap_err();
        assert!(matches!(err, IndexError::IndexKeyTooLarge { .. }), "{err}");
        assert!(m.is_empty());
    }
}
