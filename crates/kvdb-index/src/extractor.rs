//! Extractors: how an index finds the index keys of a record, and how a
//! query key given in the record's own form becomes an index key.

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::IndexError;
use crate::order;

/// A user extractor: called with a record's key and value, it pushes zero,
/// one or several index keys (already in the byte order the index should
/// sort by). It must be deterministic: the same record always gives the
/// same keys, or the index cannot find the entries it must remove.
pub type Callback = Arc<dyn Fn(&[u8], &[u8], &mut Vec<Vec<u8>>) + Send + Sync>;

/// The index keys of one record (most records have one).
pub(crate) type Keys = SmallVec<[Vec<u8>; 1]>;

/// Byte order of an integer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Least significant byte first (x86, ARM: a native C struct).
    Little,
    /// Most significant byte first (network order).
    Big,
}

/// How to read an integer field of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntType {
    /// 4-byte unsigned.
    U32(Endian),
    /// 4-byte signed (two's complement).
    I32(Endian),
    /// 8-byte unsigned.
    U64(Endian),
    /// 8-byte signed (two's complement).
    I64(Endian),
}

impl IntType {
    /// The field's width in bytes.
    pub fn width(self) -> usize {
        match self {
            IntType::U32(_) | IntType::I32(_) => 4,
            IntType::U64(_) | IntType::I64(_) => 8,
        }
    }

    /// The order-preserving index key of the field `raw` (exactly
    /// [`Self::width`] bytes).
    fn key(self, raw: &[u8]) -> Vec<u8> {
        fn array<const N: usize>(raw: &[u8], endian: Endian) -> [u8; N] {
            let mut a: [u8; N] = raw.try_into().expect("width checked by the caller");
            if endian == Endian::Little {
                a.reverse();
            }
            a
        }
        match self {
            IntType::U32(e) => order::u32_key(u32::from_be_bytes(array(raw, e))).to_vec(),
            IntType::I32(e) => order::i32_key(i32::from_be_bytes(array(raw, e))).to_vec(),
            IntType::U64(e) => order::u64_key(u64::from_be_bytes(array(raw, e))).to_vec(),
            IntType::I64(e) => order::i64_key(i64::from_be_bytes(array(raw, e))).to_vec(),
        }
    }
}

/// Where an index finds a record's index keys.
#[derive(Clone)]
pub enum Extractor {
    /// Field `field` (0-based) of the key split at every `delimiter` byte.
    /// A key with fewer fields is not indexed.
    KeyField {
        /// The separator byte.
        delimiter: u8,
        /// Which field, from 0.
        field: usize,
    },
    /// Bytes `offset..offset + len` of the value (a field of a fixed-layout
    /// struct), compared as bytes, or as an integer when `int` is set (then
    /// `len` is the integer's width). A shorter value is not indexed.
    ValueBytes {
        /// First byte of the field.
        offset: usize,
        /// Its length.
        len: usize,
        /// Read as an integer of this type, if set.
        int: Option<IntType>,
    },
    /// A top-level field of a JSON object value, ordered as
    /// [`order::json_key`] says. A value that is not a JSON object, lacks
    /// the field, or holds an array or object there is not indexed.
    JsonField {
        /// The field's name.
        name: String,
    },
    /// A user function (see [`Callback`]).
    Callback(Callback),
}

impl fmt::Debug for Extractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Extractor::KeyField { delimiter, field } => f
                .debug_struct("KeyField")
                .field("delimiter", delimiter)
                .field("field", field)
                .finish(),
            Extractor::ValueBytes { offset, len, int } => f
                .debug_struct("ValueBytes")
                .field("offset", offset)
                .field("len", len)
                .field("int", int)
                .finish(),
            Extractor::JsonField { name } => {
                f.debug_struct("JsonField").field("name", name).finish()
            }
            Extractor::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

impl Extractor {
    /// Fails if the extractor can never produce a key.
    pub(crate) fn validate(&self) -> Result<(), IndexError> {
        match self {
            Extractor::ValueBytes { offset, len, int } => {
                if let Some(int) = int
                    && int.width() != *len
                {
                    return Err(IndexError::InvalidDefinition(format!(
                        "an integer field of {} bytes cannot be {len} bytes long",
                        int.width()
                    )));
                }
                if offset.checked_add(*len).is_none() {
                    return Err(IndexError::InvalidDefinition(
                        "the field ends past the largest possible value".into(),
                    ));
                }
                Ok(())
            }
            Extractor::JsonField { name } if name.is_empty() => Err(IndexError::InvalidDefinition(
                "a JSON field name cannot be empty".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The index keys of the record `key` → `value`, without duplicates.
    pub(crate) fn extract(&self, key: &[u8], value: &[u8]) -> Keys {
        let mut keys = Keys::new();
        match self {
            Extractor::KeyField { delimiter, field } => {
                if let Some(f) = key.split(|b| b == delimiter).nth(*field) {
                    keys.push(f.to_vec());
                }
            }
            Extractor::ValueBytes { offset, len, int } => {
                if let Some(raw) = value.get(*offset..offset + len) {
                    keys.push(match int {
                        Some(int) => int.key(raw),
                        None => raw.to_vec(),
                    });
                }
            }
            Extractor::JsonField { name } => {
                if let Ok(serde_json::Value::Object(mut object)) =
                    serde_json::from_slice::<serde_json::Value>(value)
                    && let Some(field) = object.remove(name)
                    && let Some(k) = order::json_key(&field)
                {
                    keys.push(k);
                }
            }
            Extractor::Callback(f) => {
                let mut out = Vec::new();
                f(key, value, &mut out);
                out.sort_unstable();
                out.dedup();
                keys.extend(out);
            }
        }
        keys
    }

    /// The index key a query means by `raw`, given in the form the records
    /// carry it: the key field's bytes; the value field's bytes (an integer
    /// in the field's own width and byte order); a JSON scalar's text (`30`,
    /// `"alice"`); a callback index's key as the callback gives it.
    pub(crate) fn query_key(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Extractor::ValueBytes { int: Some(int), .. } => {
                if raw.len() != int.width() {
                    return Err(format!(
                        "an integer key of this index is {} bytes, not {}",
                        int.width(),
                        raw.len()
                    ));
                }
                Ok(int.key(raw))
            }
            Extractor::JsonField { .. } => {
                let value: serde_json::Value =
                    serde_json::from_slice(raw).map_err(|e| format!("not a JSON scalar: {e}"))?;
                order::json_key(&value)
                    .ok_or_else(|| "arrays and objects are not indexed".to_string())
            }
            _ => Ok(raw.to_vec()),
        }
    }

    /// The index-key prefix a prefix query means by `raw`: as
    /// [`Self::query_key`], except that a JSON string may be unterminated
    /// (`"al` matches `"alice"`) and an integer prefix is refused (the
    /// bytes of a number have no useful prefix).
    pub(crate) fn query_prefix(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Extractor::ValueBytes { int: Some(_), .. } => {
                Err("an integer index has no prefix queries; use a range".into())
            }
            Extractor::JsonField { .. } => {
                let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
                if !text.starts_with('"') {
                    return Err("a JSON prefix is a string, starting with '\"'".into());
                }
                let value = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value @ serde_json::Value::String(_)) => value,
                    _ => serde_json::from_str(&format!("{text}\""))
                        .map_err(|e| format!("not a JSON string: {e}"))?,
                };
                order::json_key(&value).ok_or_else(|| "not a JSON string".to_string())
            }
            _ => Ok(raw.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(e: &Extractor, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let keys = e.extract(key, value);
        assert!(keys.len() <= 1);
        keys.into_iter().next()
    }

    #[test]
    fn key_field_takes_the_nth_field_or_nothing() {
        let e = Extractor::KeyField {
            delimiter: b':',
            field: 1,
        };
        assert_eq!(one(&e, b"user:42:name", b""), Some(b"42".to_vec()));
        assert_eq!(one(&e, b"user::x", b""), Some(b"".to_vec()));
        assert_eq!(one(&e, b"user", b""), None);
    }

    #[test]
    fn value_bytes_reads_a_little_endian_field_in_numeric_order() {
        let e = Extractor::ValueBytes {
            offset: 4,
            len: 4,
            int: Some(IntType::U32(Endian::Little)),
        };
        let record = |n: u32| [[0u8; 4], n.to_le_bytes()].concat();
        let a = one(&e, b"k", &record(255)).unwrap();
        let b = one(&e, b"k", &record(256)).unwrap();
        assert!(a < b, "255 sorts before 256");
        assert_eq!(one(&e, b"k", &[0; 7]), None, "a short value is not indexed");
        assert_eq!(e.query_key(&256u32.to_le_bytes()).unwrap(), b);
        assert!(e.query_key(&[1, 2]).is_err());
    }

    #[test]
    fn signed_big_endian_field_sorts_negatives_first() {
        let e = Extractor::ValueBytes {
            offset: 0,
            len: 8,
            int: Some(IntType::I64(Endian::Big)),
        };
        let a = one(&e, b"k", &(-5i64).to_be_bytes()).unwrap();
        let b = one(&e, b"k", &3i64.to_be_bytes()).unwrap();
        assert!(a < b);
    }

    #[test]
    fn json_field_indexes_scalars_only() {
        let e = Extractor::JsonField { name: "age".into() };
        assert!(one(&e, b"k", br#"{"age": 30}"#).is_some());
        assert_eq!(one(&e, b"k", br#"{"age": [30]}"#), None);
        assert_eq!(one(&e, b"k", br#"{"name": "x"}"#), None);
        assert_eq!(one(&e, b"k", b"not json"), None);
        assert_eq!(
            one(&e, b"k", br#"{"age": 30}"#).unwrap(),
            e.query_key(b"30.0").unwrap()
        );
        assert!(e.query_key(b"{").is_err());
    }

    #[test]
    fn json_prefix_accepts_an_open_string() {
        let e = Extractor::JsonField { name: "n".into() };
        let alice = one(&e, b"k", br#"{"n": "alice"}"#).unwrap();
        let p = e.query_prefix(br#""al"#).unwrap();
        assert!(alice.starts_with(&p));
        assert_eq!(e.query_prefix(br#""al""#).unwrap(), p);
        assert!(e.query_prefix(b"12").is_err());
    }

    #[test]
    fn callback_keys_are_deduplicated() {
        let e = Extractor::Callback(Arc::new(|_k, v, out| {
            for w in v.split(|b| *b == b' ') {
                out.push(w.to_vec());
            }
        }));
        let keys = e.extract(b"k", b"b a b");
        assert_eq!(keys.as_slice(), &[b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn integer_field_must_match_its_width() {
        let e = Extractor::ValueBytes {
            offset: 0,
            len: 3,
            int: Some(IntType::U32(Endian::Big)),
        };
        assert!(e.validate().is_err());
    }
}
