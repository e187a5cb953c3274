//! The payload of a log record: one batch of operations.
//!
//! ```text
//! payload := count u32, then `count` operations
//! op      := tag u8, key length u32, key,
//!            [tag 1, 2: value length u32, value]
//!            [tag 2: expires at u64 (ms since the Unix epoch)]
//! tags    := 1 put, 2 put with expiry, 3 delete,
//!            4 delete of a key whose expiry time passed (by the expiry cycle)
//! ```
//!
//! Integers are little-endian. The record's frame carries the sequence
//! number of the first operation; the others follow consecutively.

use kvdb_core::{MAX_KEY_LEN, MAX_VALUE_LEN, Op};

const PUT: u8 = 1;
const PUT_EXPIRING: u8 = 2;
const DELETE: u8 = 3;
const DELETE_EXPIRED: u8 = 4;
const DELETE_EVICTED: u8 = 5;

/// Why a batch was written: what a watcher is told about its deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A caller's write.
    Write,
    /// The expiry cycle deleting keys whose expiry time passed.
    Expiry,
    /// Eviction deleting keys to keep within the memory limit.
    Eviction,
}

/// What one logged operation did, as watchers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logged<'a> {
    /// The operation as the store applies it.
    Op(Op<'a>),
    /// A deletion by the expiry cycle.
    Expired(&'a [u8]),
    /// A deletion by eviction.
    Evicted(&'a [u8]),
}

/// Appends the payload for `ops`, written for `cause`, to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, ops: &[Op<'_>], cause: Cause) {
    let size: usize = 4 + ops
        .iter()
        .map(|op| match op {
            Op::Put {
                key,
                value,
                expires_at,
            } => 1 + 4 + key.len() + 4 + value.len() + if expires_at.is_some() { 8 } else { 0 },
            Op::Delete { key } => 1 + 4 + key.len(),
        })
        .sum::<usize>();
    buf.reserve(size);
    buf.extend_from_slice(&u32::try_from(ops.len()).unwrap_or(u32::MAX).to_le_bytes());
    for op in ops {
        match *op {
            Op::Put {
                key,
                value,
                expires_at,
            } => {
                buf.push(if expires_at.is_some() {
                    PUT_EXPIRING
                } else {
                    PUT
                });
                put_bytes(buf, key);
                put_bytes(buf, value);
                if let Some(at) = expires_at {
                    buf.extend_from_slice(&at.to_le_bytes());
                }
            }
            Op::Delete { key } => {
                buf.push(match cause {
                    Cause::Write => DELETE,
                    Cause::Expiry => DELETE_EXPIRED,
                    Cause::Eviction => DELETE_EVICTED,
                });
                put_bytes(buf, key);
            }
        }
    }
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and values are checked against their limits (far below 4 GiB)
    // before anything is logged.
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("batch record ends inside {what}"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    fn bytes(&mut self, what: &str, limit: usize) -> Result<&'a [u8], String> {
        let len = self.u32(what)? as usize;
        if len > limit {
            return Err(format!(
                "{what} of {len} bytes exceeds the limit of {limit}"
            ));
        }
        self.take(len, what)
    }
}

/// Decodes a payload into operations borrowing from it.
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<Op<'_>>, String> {
    Ok(decode_logged(payload)?
        .into_iter()
        .map(|logged| match logged {
            Logged::Op(op) => op,
            Logged::Expired(key) | Logged::Evicted(key) => Op::Delete { key },
        })
        .collect())
}

/// The number of operations a payload holds (its first field), without
/// decoding them.
pub(crate) fn op_count(payload: &[u8]) -> Result<u64, String> {
    Reader { rest: payload }
        .u32("the operation count")
        .map(u64::from)
}

/// Decodes a payload into what each operation did, borrowing from it.
pub(crate) fn decode_logged(payload: &[u8]) -> Result<Vec<Logged<'_>>, String> {
    let mut r = Reader { rest: payload };
    let count = r.u32("the operation count")? as usize;
    // Each operation takes at least 5 bytes: do not trust `count` for the
    // allocation beyond what the payload could hold.
    let mut ops = Vec::with_capacity(count.min(payload.len() / 5));
    for i in 0..count {
        let tag = r.take(1, "an operation tag")?[0];
        let key = r.bytes("a key", MAX_KEY_LEN)?;
        let op = match tag {
            PUT | PUT_EXPIRING => {
                let value = r.bytes("a value", MAX_VALUE_LEN)?;
                let expires_at = if tag == PUT_EXPIRING {
                    let at = u64::from_le_bytes(
                        r.take(8, "an expiry time")?.try_into().expect("8 bytes"),
                    );
                    if at == 0 {
                        return Err(format!("operation {i} has an expiry time of 0"));
                    }
                    Some(at)
                } else {
                    None
                };
                Logged::Op(Op::Put {
                    key,
                    value,
                    expires_at,
                })
            }
            DELETE => Logged::Op(Op::Delete { key }),
            DELETE_EXPIRED => Logged::Expired(key),
            DELETE_EVICTED => Logged::Evicted(key),
            other => return Err(format!("operation {i} has unknown tag {other}")),
        };
        ops.push(op);
    }
    if !r.rest.is_empty() {
        return Err(format!("{} bytes follow the last operation", r.rest.len()));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn batches_round_trip() {
        let ops = [
            Op::Put {
                key: b"k1",
                value: b"v1",
                expires_at: None,
            },
            Op::Put {
                key: b"",
                value: b"",
                expires_at: Some(123),
            },
            Op::Delete { key: b"k1" },
        ];
        let mut buf = Vec::new();
        encode(&mut buf, &ops, Cause::Write);
        assert_eq!(decode(&buf).unwrap(), ops);
        assert_eq!(&buf[..4], &3u32.to_le_bytes());
        assert_eq!(buf[4], PUT);
        assert_eq!(op_count(&buf).unwrap(), 3);
    }

    #[test]
    fn deletions_by_the_expiry_cycle_keep_their_cause() {
        let ops = [Op::Delete { key: b"a" }, Op::Delete { key: b"b" }];
        let mut buf = Vec::new();
        encode(&mut buf, &ops, Cause::Expiry);
        assert_eq!(buf[4], DELETE_EXPIRED);
        assert_eq!(
            decode_logged(&buf).unwrap(),
            [Logged::Expired(b"a"), Logged::Expired(b"b")]
        );
        // Recovery applies them as the deletions they are.
        assert_eq!(decode(&buf).unwrap(), ops);
    }

    #[test]
    fn deletions_by_eviction_keep_their_cause() {
        let ops = [Op::Delete { key: b"a" }];
        let mut buf = Vec::new();
        encode(&mut buf, &ops, Cause::Eviction);
        assert_eq!(buf[4], DELETE_EVICTED);
        assert_eq!(decode_logged(&buf).unwrap(), [Logged::Evicted(b"a")]);
        assert_eq!(decode(&buf).unwrap(), ops);
    }

    #[test]
    fn damage_is_reported_not_trusted() {
        let mut buf = Vec::new();
        encode(
            &mut buf,
            &[Op::Put {
                key: b"key",
                value: b"value",
                expires_at: None,
            }],
            Cause::Write,
        );
        assert!(
            decode(&buf[..buf.len() - 1])
                .unwrap_err()
                .contains("ends inside")
        );
        let mut trailing = buf.clone();
        trailing.push(0);
        assert!(decode(&trailing).unwrap_err().contains("follow"));
        let mut bad_tag = buf.clone();
        bad_tag[4] = 9;
        assert!(decode(&bad_tag).unwrap_err().contains("unknown tag"));
        let mut huge_count = buf;
        huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge_count).is_err());
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
