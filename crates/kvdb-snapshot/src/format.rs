//! The byte layout of a snapshot file (see `docs/FORMAT.md`).
//!
//! ```text
//! header (64 bytes)                     entry (16- or 20-byte header + key + value)
//! 0   magic        8  "KVDBSNAP"        0   key length    u32
//! 8   version      u32 = 1 or 2         4   value length  u32
//! 12  flags        u32 (access kind)    8   expires at    u64 (ms since epoch, 0 = never)
//! 16  seq          u64                  16  access age    u32 (only with an access kind)
//! 24  entry count  u64                  16 or 20: key, then value
//! 32  created at   u64 (ms since epoch)
//! 40  reserved     20 bytes = 0         footer (24 bytes)
//! 60  header crc   u32 (bytes 0..60)    0   data length   u64 (bytes of all entries)
//!                                       8   data crc      u32 (CRC-32 of all entries)
//!                                       12  footer crc    u32 (bytes 0..12)
//!                                       16  end magic     8  "KVDBSEND"
//! ```
//!
//! Entries are sorted by key, strictly ascending. Integers are little-endian.
//! The flags' bits 0-1 say what each entry records of its key's use
//! ([`AccessKind`]); with none, an entry has no access field and the file
//! is laid out as version 1 (flags 0), and written as one, so that builds
//! older than version 2 read it. A file with an access kind is version 2.

/// The first eight bytes of a snapshot file.
pub const MAGIC: [u8; 8] = *b"KVDBSNAP";
/// The last eight bytes of a snapshot file.
pub const END_MAGIC: [u8; 8] = *b"KVDBSEND";
/// The newest format version, which this build writes for files that
/// record their keys' use; others it writes as version 1 (the same layout),
/// which older builds read.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads (versions 1 to
/// [`FORMAT_VERSION`]).
pub const OLDEST_FORMAT_VERSION: u32 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + MAGIC.len();
const FLAGS_AT: usize = VERSION_AT + 4;
const SEQ_AT: usize = FLAGS_AT + 4;
const COUNT_AT: usize = SEQ_AT + 8;
const CREATED_AT: usize = COUNT_AT + 8;
const RESERVED_AT: usize = CREATED_AT + 8;
const HEADER_CRC_AT: usize = RESERVED_AT + 20;
/// Bytes in the header.
pub const HEADER_LEN: usize = HEADER_CRC_AT + 4;

const DATA_LEN_AT: usize = 0;
const DATA_CRC_AT: usize = DATA_LEN_AT + 8;
const FOOTER_CRC_AT: usize = DATA_CRC_AT + 4;
const END_MAGIC_AT: usize = FOOTER_CRC_AT + 4;
/// Bytes in the footer.
pub const FOOTER_LEN: usize = END_MAGIC_AT + END_MAGIC.len();

/// Bytes in an entry's header without an access field.
pub const ENTRY_HEADER_LEN: usize = 16;
/// Bytes of an entry's access field, when the file records one.
pub const ACCESS_LEN: usize = 4;

/// The header flags' bits that hold the access kind.
const ACCESS_KIND_MASK: u32 = 0b11;

/// What each entry of a file records of its key's use, for eviction after
/// the database reopens: the form of the store's access word (see kvdb-core's
/// `access.rs`) as an age at the snapshot's sequence number, so that it does
/// not depend on the clock of the process that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessKind {
    /// Nothing: the entries have no access field (and so are version 1's).
    #[default]
    None,
    /// Recency (LRU): the units of 16 writes since the key's last use.
    Recency,
    /// Frequency (LFU): bits 0-7 the key's logarithmic access counter,
    /// bits 8-31 the units of 1,024 writes since it last changed.
    Frequency,
}

impl AccessKind {
    fn code(self) -> u32 {
        match self {
            AccessKind::None => 0,
            AccessKind::Recency => 1,
            AccessKind::Frequency => 2,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(AccessKind::None),
            1 => Some(AccessKind::Recency),
            2 => Some(AccessKind::Frequency),
            _ => None,
        }
    }

    /// Bytes in the header of an entry of a file with this kind.
    pub fn entry_header_len(self) -> usize {
        match self {
            AccessKind::None => ENTRY_HEADER_LEN,
            _ => ENTRY_HEADER_LEN + ACCESS_LEN,
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// What a header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sequence number the snapshot reads at.
    pub seq: u64,
    /// Entries in the file.
    pub entries: u64,
    /// When the snapshot was taken (ms since the Unix epoch).
    pub created_ms: u64,
    /// What the entries record of their keys' use.
    pub access: AccessKind,
}

/// Encodes a header: version 1 without an access kind, else version 2.
pub fn encode_header(h: &Header) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[MAGIC_AT..VERSION_AT].copy_from_slice(&MAGIC);
    let version = match h.access {
        AccessKind::None => OLDEST_FORMAT_VERSION,
        _ => FORMAT_VERSION,
    };
    b[VERSION_AT..FLAGS_AT].copy_from_slice(&version.to_le_bytes());
    b[FLAGS_AT..SEQ_AT].copy_from_slice(&h.access.code().to_le_bytes());
    b[SEQ_AT..COUNT_AT].copy_from_slice(&h.seq.to_le_bytes());
    b[COUNT_AT..CREATED_AT].copy_from_slice(&h.entries.to_le_bytes());
    b[CREATED_AT..RESERVED_AT].copy_from_slice(&h.created_ms.to_le_bytes());
    let crc = crc32fast::hash(&b[..HEADER_CRC_AT]);
    b[HEADER_CRC_AT..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Why a header or footer was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Something is wrong; the text says what.
    Corrupt(String),
    /// A valid header of a format version this build cannot read.
    UnsupportedVersion(u32),
}

/// Decodes and checks a header.
pub fn decode_header(bytes: &[u8]) -> Result<Header, FormatError> {
    let b = bytes.get(..HEADER_LEN).ok_or_else(|| {
        FormatError::Corrupt(format!(
            "file of {} bytes is shorter than a header",
            bytes.len()
        ))
    })?;
    if b[MAGIC_AT..VERSION_AT] != MAGIC {
        return Err(FormatError::Corrupt(
            "not a kvdb snapshot (bad magic)".into(),
        ));
    }
    if crc32fast::hash(&b[..HEADER_CRC_AT]) != u32_at(b, HEADER_CRC_AT) {
        return Err(FormatError::Corrupt("header checksum mismatch".into()));
    }
    let version = u32_at(b, VERSION_AT);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion(version));
    }
    // Version 1 has no flags (it wrote 0, which reads as no access kind).
    let flags = u32_at(b, FLAGS_AT);
    let known = if version == 1 { 0 } else { ACCESS_KIND_MASK };
    if flags & !known != 0 {
        return Err(FormatError::Corrupt(format!(
            "unknown header flags {flags:#x}"
        )));
    }
    let access = AccessKind::from_code(flags & ACCESS_KIND_MASK).ok_or_else(|| {
        FormatError::Corrupt(format!("unknown access kind {}", flags & ACCESS_KIND_MASK))
    })?;
    Ok(Header {
        seq: u64_at(b, SEQ_AT),
        entries: u64_at(b, COUNT_AT),
        created_ms: u64_at(b, CREATED_AT),
        access,
    })
}

/// Encodes the footer for `data_len` bytes of entries with checksum `data_crc`.
pub fn encode_footer(data_len: u64, data_crc: u32) -> [u8; FOOTER_LEN] {
    let mut b = [0u8; FOOTER_LEN];
    b[DATA_LEN_AT..DATA_CRC_AT].copy_from_slice(&data_len.to_le_bytes());
    b[DATA_CRC_AT..FOOTER_CRC_AT].copy_from_slice(&data_crc.to_le_bytes());
    let crc = crc32fast::hash(&b[..FOOTER_CRC_AT]);
    b[FOOTER_CRC_AT..END_MAGIC_AT].copy_from_slice(&crc.to_le_bytes());
    b[END_MAGIC_AT..].copy_from_slice(&END_MAGIC);
    b
}

/// Decodes and checks a footer; returns the data length and checksum.
pub fn decode_footer(b: &[u8; FOOTER_LEN]) -> Result<(u64, u32), FormatError> {
    if b[END_MAGIC_AT..] != END_MAGIC {
        return Err(FormatError::Corrupt(
            "bad end magic: the file is cut short or damaged".into(),
        ));
    }
    if crc32fast::hash(&b[..FOOTER_CRC_AT]) != u32_at(b, FOOTER_CRC_AT) {
        return Err(FormatError::Corrupt("footer checksum mismatch".into()));
    }
    Ok((u64_at(b, DATA_LEN_AT), u32_at(b, DATA_CRC_AT)))
}

/// Appends one entry to `buf`, with an access field if `access` is given
/// (which a file's entries have if and only if its header has an access
/// kind).
pub fn encode_entry(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    expires_at: Option<u64>,
    access: Option<u32>,
) {
    buf.extend_from_slice(
        &u32::try_from(key.len())
            .expect("key length fits u32")
            .to_le_bytes(),
    );
    buf.extend_from_slice(
        &u32::try_from(value.len())
            .expect("value length fits u32")
            .to_le_bytes(),
    );
    buf.extend_from_slice(&expires_at.unwrap_or(0).to_le_bytes());
    if let Some(access) = access {
        buf.extend_from_slice(&access.to_le_bytes());
    }
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
}

/// One entry decoded from the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// The absolute expiry time (ms since the Unix epoch), if any.
    pub expires_at: Option<u64>,
    /// The key's use, in the form the file's [`AccessKind`] says; `None`
    /// when it records none.
    pub access: Option<u32>,
}

/// Decodes the entry at the start of `data`, of a file whose entries record
/// `access`; returns it and its length.
pub fn decode_entry(data: &[u8], access: AccessKind) -> Result<(Entry<'_>, usize), FormatError> {
    let header_len = access.entry_header_len();
    let h = data
        .get(..header_len)
        .ok_or_else(|| FormatError::Corrupt("entry header runs past the data".into()))?;
    let key_len = u32_at(h, 0) as usize;
    let value_len = u32_at(h, 4) as usize;
    let expires_at = u64_at(h, 8);
    let access = (access != AccessKind::None).then(|| u32_at(h, ENTRY_HEADER_LEN));
    let key_end = header_len + key_len;
    let end = key_end
        .checked_add(value_len)
        .filter(|&end| end <= data.len())
        .ok_or_else(|| FormatError::Corrupt("entry runs past the data".into()))?;
    Ok((
        Entry {
            key: &data[header_len..key_end],
            value: &data[key_end..end],
            expires_at: (expires_at != 0).then_some(expires_at),
            access,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_documented_offsets() {
        assert_eq!(HEADER_LEN, 64);
        assert_eq!(FOOTER_LEN, 24);
        let h = encode_header(&Header {
            seq: 5,
            entries: 2,
            created_ms: 9,
            access: AccessKind::Frequency,
        });
        assert_eq!(&h[..8], b"KVDBSNAP");
        assert_eq!(&h[8..12], &2u32.to_le_bytes());
        assert_eq!(&h[12..16], &2u32.to_le_bytes(), "flags: the access kind");
        assert_eq!(&h[16..24], &5u64.to_le_bytes());
        assert_eq!(&h[24..32], &2u64.to_le_bytes());
        assert_eq!(&h[32..40], &9u64.to_le_bytes());
        let f = encode_footer(100, 7);
        assert_eq!(&f[16..], b"KVDBSEND");
        let mut e = Vec::new();
        encode_entry(&mut e, b"k", b"vv", Some(3), Some(0xa1b2_c3d4));
        assert_eq!(e.len(), 20 + 1 + 2);
        assert_eq!(&e[16..20], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(&e[20..], b"kvv");
    }

    #[test]
    fn header_footer_and_entries_round_trip() {
        for access in [AccessKind::None, AccessKind::Recency, AccessKind::Frequency] {
            let header = Header {
                seq: 1,
                entries: 3,
                created_ms: 1_700_000_000_000,
                access,
            };
            assert_eq!(decode_header(&encode_header(&header)), Ok(header));
        }
        assert_eq!(
            decode_footer(&encode_footer(42, 0xdead_beef)),
            Ok((42, 0xdead_beef))
        );
        for (kind, access) in [(AccessKind::None, None), (AccessKind::Recency, Some(9))] {
            let mut buf = Vec::new();
            encode_entry(&mut buf, b"key", b"value", Some(77), access);
            encode_entry(&mut buf, b"", b"", None, access);
            let (first, n) = decode_entry(&buf, kind).unwrap();
            assert_eq!(
                first,
                Entry {
                    key: b"key",
                    value: b"value",
                    expires_at: Some(77),
                    access,
                }
            );
            let (second, m) = decode_entry(&buf[n..], kind).unwrap();
            assert_eq!(
                second,
                Entry {
                    key: b"",
                    value: b"",
                    expires_at: None,
                    access,
                }
            );
            assert_eq!(n + m, buf.len());
            assert!(decode_entry(&buf[..n - 1], kind).is_err());
        }
    }

    #[test]
    fn every_header_bit_flip_is_caught() {
        let h = encode_header(&Header {
            seq: 1,
            entries: 3,
            created_ms: 4,
            access: AccessKind::Recency,
        });
        for bit in 0..HEADER_LEN * 8 {
            let mut damaged = h;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&damaged).is_err(), "bit {bit}");
        }
    }

    /// A version 1 header: flags 0, the version 1.
    fn version_1_header(seq: u64, entries: u64) -> [u8; HEADER_LEN] {
        encode_header(&Header {
            seq,
            entries,
            created_ms: 4,
            access: AccessKind::None,
        })
    }

    #[test]
    fn a_file_that_records_no_access_is_written_as_version_1() {
        let h = version_1_header(7, 2);
        assert_eq!(&h[8..16], &[1, 0, 0, 0, 0, 0, 0, 0], "version 1, flags 0");
        let header = decode_header(&h).unwrap();
        assert_eq!(header.seq, 7);
        assert_eq!(header.access, AccessKind::None);
        // Version 2 without an access kind reads the same.
        let mut b = h;
        b[VERSION_AT..FLAGS_AT].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..HEADER_CRC_AT]);
        b[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&b), Ok(header));
    }

    #[test]
    fn unknown_flags_and_versions_are_rejected_naming_them() {
        let with = |flags: u32, version: u32| {
            let mut b = version_1_header(1, 0);
            b[VERSION_AT..FLAGS_AT].copy_from_slice(&version.to_le_bytes());
            b[FLAGS_AT..SEQ_AT].copy_from_slice(&flags.to_le_bytes());
            let crc = crc32fast::hash(&b[..HEADER_CRC_AT]);
            b[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
            decode_header(&b)
        };
        assert_eq!(
            with(3, 2),
            Err(FormatError::Corrupt("unknown access kind 3".into()))
        );
        assert_eq!(
            with(1 << 4, 2),
            Err(FormatError::Corrupt("unknown header flags 0x10".into()))
        );
        assert_eq!(
            with(1, 1),
            Err(FormatError::Corrupt("unknown header flags 0x1".into())),
            "version 1 has no flags"
        );
        assert_eq!(with(0, 3), Err(FormatError::UnsupportedVersion(3)));
        assert_eq!(with(0, 0), Err(FormatError::UnsupportedVersion(0)));
    }
}
