//! An index definition: a name, an extractor, and whether index keys must
//! be unique.

use std::sync::Arc;

use crate::error::IndexError;
use crate::extractor::{Extractor, IntType};

/// The longest index name accepted, in bytes.
pub const MAX_INDEX_NAME_LEN: usize = 255;

/// What an index is: its name, where it finds index keys, and whether two
/// records may share one.
#[derive(Debug, Clone)]
pub struct IndexDef {
    name: String,
    extractor: Extractor,
    unique: bool,
}

impl IndexDef {
    /// A non-unique index named `name` over `extractor`. Fails for an empty
    /// or overlong name and for an extractor that can never produce a key.
    pub fn new(name: impl Into<String>, extractor: Extractor) -> Result<Self, IndexError> {
        let name = name.into();
        if name.is_empty() || name.len() > MAX_INDEX_NAME_LEN {
            return Err(IndexError::InvalidDefinition(format!(
                "an index name is 1 to {MAX_INDEX_NAME_LEN} bytes, not {}",
                name.len()
            )));
        }
        extractor.validate()?;
        Ok(Self {
            name,
            extractor,
            unique: false,
        })
    }

    /// An index on field `field` (from 0) of keys split at `delimiter`.
    pub fn key_field(
        name: impl Into<String>,
        delimiter: u8,
        field: usize,
    ) -> Result<Self, IndexError> {
        Self::new(name, Extractor::KeyField { delimiter, field })
    }

    /// An index on bytes `offset..offset + len` of the value, compared as
    /// bytes.
    pub fn value_bytes(
        name: impl Into<String>,
        offset: usize,
        len: usize,
    ) -> Result<Self, IndexError> {
        Self::new(
            name,
            Extractor::ValueBytes {
                offset,
                len,
                int: None,
            },
        )
    }

    /// An index on the integer of type `int` at `offset` in the value,
    /// in numeric order.
    pub fn value_int(
        name: impl Into<String>,
        offset: usize,
        int: IntType,
    ) -> Result<Self, IndexError> {
        Self::new(
            name,
            Extractor::ValueBytes {
                offset,
                len: int.width(),
                int: Some(int),
            },
        )
    }

    /// An index on the top-level field `field` of JSON object values.
    pub fn json_field(
        name: impl Into<String>,
        field: impl Into<String>,
    ) -> Result<Self, IndexError> {
        Self::new(name, Extractor::JsonField { name: field.into() })
    }

    /// An index whose keys `f` computes from each record's key and value
    /// (see [`crate::Callback`]).
    pub fn callback(
        name: impl Into<String>,
        f: impl Fn(&[u8], &[u8], &mut Vec<Vec<u8>>) + Send + Sync + 'static,
    ) -> Result<Self, IndexError> {
        Self::new(name, Extractor::Callback(Arc::new(f)))
    }

    /// The same index, with unique index keys: a write that would give two
    /// records one index key is rejected.
    #[must_use]
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the index finds its keys.
    pub fn extractor(&self) -> &Extractor {
        &self.extractor
    }

    /// True if no two records may share an index key.
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// The index key a query means by `raw` (see
    /// [`Extractor`]'s forms: field bytes, an integer in the field's own
    /// byte order, a JSON scalar's text, a callback's key).
    pub fn query_key(&self, raw: &[u8]) -> Result<Vec<u8>, IndexError> {
        self.extractor
            .query_key(raw)
            .map_err(|reason| self.invalid_query(reason))
    }

    /// The index-key prefix a prefix query means by `raw` (a JSON string
    /// prefix may be left open: `"al`).
    pub fn query_prefix(&self, raw: &[u8]) -> Result<Vec<u8>, IndexError> {
        self.extractor
            .query_prefix(raw)
            .map_err(|reason| self.invalid_query(reason))
    }

    /// True if `other` indexes the same keys the same way (a callback only
    /// matches the same function object).
    pub fn same_as(&self, other: &IndexDef) -> bool {
        use Extractor as E;
        let same_extractor = match (&self.extractor, &other.extractor) {
            (E::Callback(a), E::Callback(b)) => Arc::ptr_eq(a, b),
            (
                E::KeyField {
                    delimiter: d1,
                    field: f1,
                },
                E::KeyField {
                    delimiter: d2,
                    field: f2,
                },
            ) => d1 == d2 && f1 == f2,
            (
                E::ValueBytes {
                    offset: o1,
                    len: l1,
                    int: i1,
                },
                E::ValueBytes {
                    offset: o2,
                    len: l2,
                    int: i2,
                },
            ) => o1 == o2 && l1 == l2 && i1 == i2,
            (E::JsonField { name: a }, E::JsonField { name: b }) => a == b,
            _ => false,
        };
        same_extractor && self.name == other.name && self.unique == other.unique
    }

    fn invalid_query(&self, reason: String) -> IndexError {
        IndexError::InvalidQueryKey {
            index: self.name.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extractor::Endian;

    #[test]
    fn names_must_be_short_and_not_empty() {
        assert!(IndexDef::key_field("", b':', 0).is_err());
        assert!(IndexDef::key_field("x".repeat(256), b':', 0).is_err());
        assert!(IndexDef::key_field("x".repeat(255), b':', 0).is_ok());
    }

    #[test]
    fn same_as_compares_shape_name_and_uniqueness() {
        let a = IndexDef::value_int("age", 4, IntType::U32(Endian::Little)).unwrap();
        let b = IndexDef::value_int("age", 4, IntType::U32(Endian::Little)).unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&b.clone().unique()));
        assert!(!a.same_as(&IndexDef::value_int("age", 0, IntType::U32(Endian::Little)).unwrap()));
        let f = IndexDef::callback("f", |_, _, _| {}).unwrap();
        assert!(f.same_as(&f.clone()));
        assert!(!f.same_as(&IndexDef::callback("f", |_, _, _| {}).unwrap()));
    }
}
