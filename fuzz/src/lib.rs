//! Shared pieces of the fuzz targets: structure-aware inputs that encode
//! into log segments and snapshot files whose checksums are valid, so the
//! fuzzer reaches the checks behind the checksums (sequence continuity,
//! entry order and counts, batch payloads, recovery's cross-file checks)
//! instead of stopping at a CRC mismatch; plus byte-level damage applied
//! *before* the checksums are computed; and the model the API targets
//! check the database against.

use arbitrary::Arbitrary;
use kvdb_snapshot::format::{AccessKind, Header, encode_entry, encode_footer, encode_header};
use kvdb_wal::format::{begin_frame, encode_segment_header, seal_frame};

/// Damage applied to bytes before checksums are sealed over them.
#[derive(Debug, Arbitrary)]
pub enum Damage {
    /// Flip bit `bit % 8` of byte `at % len`.
    Flip { at: u32, bit: u8 },
    /// Cut to `len % (len + 1)` bytes.
    Truncate { at: u32 },
    /// Overwrite from `at % len` with bytes.
    Overwrite { at: u32, bytes: Vec<u8> },
    /// Insert bytes at `at % (len + 1)`.
    Insert { at: u32, bytes: Vec<u8> },
}

impl Damage {
    /// Applies the damage to `bytes`.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match self {
            Damage::Flip { at, bit } if len > 0 => {
                bytes[*at as usize % len] ^= 1 << (bit % 8);
            }
            Damage::Truncate { at } => bytes.truncate(*at as usize % (len + 1)),
            Damage::Overwrite { at, bytes: with } if len > 0 => {
                let start = *at as usize % len;
                for (i, b) in with.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(start + i) {
                        *slot = *b;
                    }
                }
            }
            Damage::Insert { at, bytes: with } => {
                let start = *at as usize % (len + 1);
                bytes.splice(start..start, with.iter().copied());
            }
            _ => {}
        }
    }
}

/// One operation of a batch, as the log stores it.
#[derive(Debug, Clone, Arbitrary)]
pub enum LogOp {
    /// Tag 1 (or 2 with an expiry).
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        expires_at: Option<u64>,
    },
    /// Tag 3.
    Delete { key: Vec<u8> },
    /// An unknown tag.
    Unknown { tag: u8 },
}

/// Encodes a batch payload as `docs/FORMAT.md` describes it.
pub fn encode_batch(ops: &[LogOp], count_delta: i8) -> Vec<u8> {
    let mut buf = Vec::new();
    let count = (ops.len() as i64 + i64::from(count_delta)).clamp(0, u32::MAX as i64) as u32;
    buf.extend_from_slice(&count.to_le_bytes());
    for op in ops {
        match op {
            LogOp::Put {
                key,
                value,
                expires_at,
            } => {
                buf.push(if expires_at.is_some() { 2 } else { 1 });
                buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
                buf.extend_from_slice(key);
                buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
                buf.extend_from_slice(value);
                if let Some(at) = expires_at {
                    buf.extend_from_slice(&at.to_le_bytes());
                }
            }
            LogOp::Delete { key } => {
                buf.push(3);
                buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
                buf.extend_from_slice(key);
            }
            LogOp::Unknown { tag } => buf.push(tag.wrapping_add(4)),
        }
    }
    buf
}

/// One record of a structured segment.
#[derive(Debug, Arbitrary)]
pub struct RecordSpec {
    /// Added to the expected sequence number (0 keeps the log continuous).
    pub seq_skew: i8,
    /// The batch.
    pub ops: Vec<LogOp>,
    /// Added to the batch's operation count.
    pub count_delta: i8,
    /// Damage to the payload before the frame's checksum is sealed.
    pub payload_damage: Option<Damage>,
}

/// A structured segment: header fields, records, and damage to the whole
/// file after sealing (which checksums then catch, or not).
#[derive(Debug, Arbitrary)]
pub struct SegmentSpec {
    /// Added to the segment's id.
    pub id_skew: i8,
    /// Added to the start sequence number the header records.
    pub start_skew: i8,
    /// The records.
    pub records: Vec<RecordSpec>,
    /// Damage to the sealed file (checksums will see it).
    pub file_damage: Option<Damage>,
}

fn skewed(base: u64, skew: i8) -> u64 {
    base.saturating_add_signed(i64::from(skew))
}

/// Encodes `segments` as files `(name, bytes)`, starting at sequence
/// `first_seq`; returns them and the sequence number after the last record.
pub fn encode_segments(segments: &[SegmentSpec], first_seq: u64) -> (Vec<(String, Vec<u8>)>, u64) {
    let mut files = Vec::new();
    let mut next = first_seq;
    for (i, spec) in segments.iter().enumerate() {
        let id = skewed(i as u64 + 1, spec.id_skew);
        let mut bytes = encode_segment_header(id, skewed(next, spec.start_skew)).to_vec();
        for record in &spec.records {
            let seq = skewed(next, record.seq_skew);
            let mut payload = encode_batch(&record.ops, record.count_delta);
            if let Some(d) = &record.payload_damage {
                d.apply(&mut payload);
            }
            let start = begin_frame(&mut bytes);
            bytes.extend_from_slice(&payload);
            seal_frame(&mut bytes, start, seq);
            next = seq.saturating_add(record.ops.len().max(1) as u64);
        }
        if let Some(d) = &spec.file_damage {
            d.apply(&mut bytes);
        }
        files.push((kvdb_wal::segment_name(id), bytes));
    }
    (files, next)
}

/// A structured snapshot file.
#[derive(Debug, Arbitrary)]
pub struct SnapshotSpec {
    /// The sequence number in the header.
    pub seq: u16,
    /// Added to the true entry count in the header.
    pub count_delta: i8,
    /// Entries, encoded in the order given (sorted first unless `unsorted`).
    pub entries: Vec<(Vec<u8>, Vec<u8>, Option<u64>)>,
    /// Keep the given order (duplicates and disorder reach the loader).
    pub unsorted: bool,
    /// Damage to the entries before their checksum is sealed.
    pub data_damage: Option<Damage>,
    /// Damage to the sealed file.
    pub file_damage: Option<Damage>,
    /// Write this format version instead (header checksum kept valid).
    pub version: Option<u32>,
    /// What the entries record of their keys' use: [`SnapshotSpec::access`]
    /// of this code (modulo 3).
    pub access_kind: u8,
}

impl SnapshotSpec {
    /// What the entries record of their keys' use.
    pub fn access(&self) -> AccessKind {
        match self.access_kind % 3 {
            0 => AccessKind::None,
            1 => AccessKind::Recency,
            _ => AccessKind::Frequency,
        }
    }
}

/// The access field [`encode_snapshot`] gives the `i`th entry it encodes
/// (in a file that records access).
pub fn snapshot_access(i: usize) -> u32 {
    (i as u32).wrapping_mul(2_654_435_761)
}

/// Encodes a snapshot file with valid checksums over whatever it holds.
pub fn encode_snapshot(spec: &SnapshotSpec) -> Vec<u8> {
    let mut entries = spec.entries.clone();
    if !spec.unsorted {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
    }
    let mut data = Vec::new();
    let access = spec.access();
    for (i, (k, v, exp)) in entries.iter().enumerate() {
        let recorded = (access != AccessKind::None).then(|| snapshot_access(i));
        encode_entry(&mut data, k, v, exp.filter(|&e| e != 0), recorded);
    }
    if let Some(d) = &spec.data_damage {
        d.apply(&mut data);
    }
    let count = (entries.len() as i64 + i64::from(spec.count_delta)).max(0) as u64;
    let mut file = encode_header(&Header {
        seq: u64::from(spec.seq),
        entries: count,
        created_ms: 1,
        access,
    })
    .to_vec();
    if let Some(v) = spec.version {
        file[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = crc32fast::hash(&file[..60]);
        file[60..64].copy_from_slice(&crc.to_le_bytes());
    }
    file.extend_from_slice(&data);
    file.extend_from_slice(&encode_footer(data.len() as u64, crc32fast::hash(&data)));
    if let Some(d) = &spec.file_damage {
        d.apply(&mut file);
    }
    file
}

/// A key-value model of the database for the API targets: each key's value
/// and expiry time (ms, by the test's manual clock).
pub type Model = std::collections::BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

/// Live pairs, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The pairs of `model` live at `now`.
pub fn live(model: &Model, now: u64) -> Pairs {
    model
        .iter()
        .filter(|(_, (_, exp))| exp.is_none_or(|e| e > now))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

/// The value of `k` in `model` at `now`, if live.
pub fn get(model: &Model, k: &[u8], now: u64) -> Option<Vec<u8>> {
    model
        .get(k)
        .filter(|(_, exp)| exp.is_none_or(|e| e > now))
        .map(|(v, _)| v.clone())
}
