//! The byte layout of log segments and record frames (see `docs/FORMAT.md`).
//!
//! ```text
//! segment header, version 2 (40 bytes)    record frame (16-byte header + payload)
//! 0   magic       8  "KVDBWAL\0"          0   length  u32  payload bytes
//! 8   version     u32 = 2                 4   crc     u32  CRC-32 of length, seq, payload
//! 12  flags       u32 = 0                 8   seq     u64  first sequence number
//! 16  segment id  u64                     16  payload [length]
//! 24  start seq   u64  first sequence number the segment holds
//! 32  header crc  u32 (bytes 0..32)
//! 36  reserved    u32 = 0
//! ```
//!
//! Version 1 headers (32 bytes: no start seq, the checksum at 24) are still
//! read. All integers are little-endian. Offsets are built from the previous
//! field so the code mirrors the diagram.

/// The first eight bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"KVDBWAL\0";
/// The segment format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest segment format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + SEGMENT_MAGIC.len();
const FLAGS_AT: usize = VERSION_AT + 4;
const SEGMENT_ID_AT: usize = FLAGS_AT + 4;
const START_SEQ_AT: usize = SEGMENT_ID_AT + 8;
const HEADER_CRC_AT: usize = START_SEQ_AT + 8;
const RESERVED_AT: usize = HEADER_CRC_AT + 4;
/// Bytes in a segment header of the version this build writes.
pub const SEGMENT_HEADER_LEN: usize = RESERVED_AT + 4;

/// Version 1 had no start sequence number: its checksum sat where version
/// 2 keeps the start sequence number.
const V1_HEADER_CRC_AT: usize = SEGMENT_ID_AT + 8;
/// Bytes in a version 1 segment header.
pub const SEGMENT_HEADER_V1_LEN: usize = V1_HEADER_CRC_AT + 4 + 4;

const _: () = assert!(SEGMENT_HEADER_LEN == 40 && SEGMENT_HEADER_V1_LEN == 32);

const LEN_AT: usize = 0;
const CRC_AT: usize = LEN_AT + 4;
const SEQ_AT: usize = CRC_AT + 4;
/// Bytes in a record frame's header.
pub const FRAME_HEADER_LEN: usize = SEQ_AT + 8;
/// The largest payload one record may carry.
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

const _: () = assert!(FRAME_HEADER_LEN == 16);

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// What a segment header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment id, equal to the id in the file name.
    pub id: u64,
    /// The sequence number of the first operation the segment holds (or
    /// would have held, if it holds no record): every operation before it
    /// is in older segments or in a snapshot. `None` for version 1 headers,
    /// which did not record it.
    pub start_seq: Option<u64>,
    /// The bytes of the header, where the first frame starts.
    pub len: usize,
}

/// The header of segment `id`, whose first operation will have sequence
/// number `start_seq`.
pub fn encode_segment_header(id: u64, start_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[MAGIC_AT..VERSION_AT].copy_from_slice(&SEGMENT_MAGIC);
    h[VERSION_AT..FLAGS_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[SEGMENT_ID_AT..START_SEQ_AT].copy_from_slice(&id.to_le_bytes());
    h[START_SEQ_AT..HEADER_CRC_AT].copy_from_slice(&start_seq.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_CRC_AT]);
    h[HEADER_CRC_AT..RESERVED_AT].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// The magic bytes are wrong.
    BadMagic,
    /// The header checksum does not match.
    BadChecksum,
    /// A valid header of a format version this build cannot read.
    UnsupportedVersion(u32),
}

/// True if the `len` bytes of `h` end with a valid checksum of the rest.
fn checksum_holds(h: &[u8], crc_at: usize) -> bool {
    h.len() >= crc_at + 4 && crc32fast::hash(&h[..crc_at]) == u32_at(h, crc_at)
}

/// Reads a segment header of any version this build reads.
///
/// A version this build does not know is reported as such when the header's
/// checksum holds at either known position; otherwise the header is damaged.
pub fn decode_segment_header(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let h = bytes
        .get(..SEGMENT_HEADER_V1_LEN)
        .ok_or(HeaderError::Short)?;
    if h[MAGIC_AT..VERSION_AT] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    match u32_at(h, VERSION_AT) {
        1 => {
            if !checksum_holds(h, V1_HEADER_CRC_AT) {
                return Err(HeaderError::BadChecksum);
            }
            Ok(SegmentHeader {
                id: u64_at(h, SEGMENT_ID_AT),
                start_seq: None,
                len: SEGMENT_HEADER_V1_LEN,
            })
        }
        FORMAT_VERSION => {
            let h = bytes.get(..SEGMENT_HEADER_LEN).ok_or(HeaderError::Short)?;
            if !checksum_holds(h, HEADER_CRC_AT) {
                return Err(HeaderError::BadChecksum);
            }
            Ok(SegmentHeader {
                id: u64_at(h, SEGMENT_ID_AT),
                start_seq: Some(u64_at(h, START_SEQ_AT)),
                len: SEGMENT_HEADER_LEN,
            })
        }
        other => {
            let long = bytes.get(..SEGMENT_HEADER_LEN).unwrap_or(h);
            if checksum_holds(h, V1_HEADER_CRC_AT) || checksum_holds(long, HEADER_CRC_AT) {
                Err(HeaderError::UnsupportedVersion(other))
            } else {
                Err(HeaderError::BadChecksum)
            }
        }
    }
}

fn frame_crc(len: &[u8], seq: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(seq);
    hasher.update(payload);
    hasher.finalize()
}

/// Reserves room for a frame header at the end of `buf`; returns where the
/// frame starts. Append the payload, then call [`seal_frame`].
pub fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    start
}

/// Fills in the header of the frame starting at `start`, whose payload runs
/// to the end of `buf`. The caller has checked the payload against
/// [`MAX_PAYLOAD`].
pub fn seal_frame(buf: &mut [u8], start: usize, seq: u64) {
    let frame = &mut buf[start..];
    let payload_len =
        u32::try_from(frame.len() - FRAME_HEADER_LEN).expect("payload within MAX_PAYLOAD");
    frame[LEN_AT..CRC_AT].copy_from_slice(&payload_len.to_le_bytes());
    frame[SEQ_AT..FRAME_HEADER_LEN].copy_from_slice(&seq.to_le_bytes());
    let crc = frame_crc(
        &frame[LEN_AT..CRC_AT],
        &frame[SEQ_AT..FRAME_HEADER_LEN],
        &frame[FRAME_HEADER_LEN..],
    );
    frame[CRC_AT..SEQ_AT].copy_from_slice(&crc.to_le_bytes());
}

/// A frame read from `bytes` at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, intact frame.
    Valid {
        /// The record's first sequence number.
        seq: u64,
        /// The record's payload.
        payload: &'a [u8],
        /// The total bytes of the frame, header included.
        len: usize,
    },
    /// Fewer bytes remain than the frame needs.
    Incomplete,
    /// The frame is whole but its checksum does not match.
    BadChecksum,
}

/// Reads the frame at the start of `bytes`.
pub fn decode_frame(bytes: &[u8]) -> Frame<'_> {
    let Some(header) = bytes.get(..FRAME_HEADER_LEN) else {
        return Frame::Incomplete;
    };
    let payload_len = u32_at(header, LEN_AT) as usize;
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload_len) else {
        return Frame::Incomplete;
    };
    let crc = frame_crc(
        &header[LEN_AT..CRC_AT],
        &header[SEQ_AT..FRAME_HEADER_LEN],
        payload,
    );
    if crc != u32_at(header, CRC_AT) {
        return Frame::BadChecksum;
    }
    Frame::Valid {
        seq: u64_at(header, SEQ_AT),
        payload,
        len: FRAME_HEADER_LEN + payload_len,
    }
}

/// True if an intact frame newer than `last_seq` starts anywhere after
/// `from` in `bytes`: then damage at `from` is not a torn tail (the trace of
/// a crash during the last write) but lost records.
pub fn intact_frame_after(bytes: &[u8], from: usize, last_seq: Option<u64>) -> bool {
    (from + 1..bytes.len()).any(|at| {
        matches!(decode_frame(&bytes[at..]),
            Frame::Valid { seq, .. } if last_seq.is_none_or(|last| seq > last))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let start = begin_frame(&mut buf);
        buf.extend_from_slice(payload);
        seal_frame(&mut buf, start, seq);
        buf
    }

    #[test]
    fn layout_matches_the_documented_offsets() {
        let h = encode_segment_header(0x0102, 0x0304);
        assert_eq!(&h[..8], b"KVDBWAL\0");
        assert_eq!(&h[8..12], &[2, 0, 0, 0]);
        assert_eq!(&h[16..18], &[2, 1]);
        assert_eq!(&h[24..26], &[4, 3]);
        assert_eq!(&h[32..36], &crc32fast::hash(&h[..32]).to_le_bytes());
        let f = frame(7, b"abc");
        assert_eq!(&f[0..4], &[3, 0, 0, 0]);
        assert_eq!(&f[8..16], &7u64.to_le_bytes());
        assert_eq!(&f[16..], b"abc");
    }

    #[test]
    fn headers_round_trip_and_reject_damage() {
        let h = encode_segment_header(42, 7);
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                id: 42,
                start_seq: Some(7),
                len: SEGMENT_HEADER_LEN
            })
        );
        assert_eq!(decode_segment_header(&h[..39]), Err(HeaderError::Short));
        assert_eq!(decode_segment_header(&h[..31]), Err(HeaderError::Short));
        for bit in 0..SEGMENT_HEADER_LEN * 8 {
            if (RESERVED_AT * 8..SEGMENT_HEADER_LEN * 8).contains(&bit) {
                continue;
            }
            let mut damaged = h;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_segment_header(&damaged).is_err(), "bit {bit}");
        }
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::BadMagic));
        let mut bad = h;
        bad[17] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::BadChecksum));
    }

    #[test]
    fn a_future_version_is_reported_as_such() {
        let mut h = encode_segment_header(1, 1);
        h[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32fast::hash(&h[..32]);
        h[32..36].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_segment_header(&h),
            Err(HeaderError::UnsupportedVersion(3))
        );
        h[9] ^= 1;
        assert_eq!(decode_segment_header(&h), Err(HeaderError::BadChecksum));
    }

    /// A version 1 header, as the first format wrote it.
    fn v1_header(id: u64) -> [u8; SEGMENT_HEADER_V1_LEN] {
        let mut h = [0u8; SEGMENT_HEADER_V1_LEN];
        h[..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        h[16..24].copy_from_slice(&id.to_le_bytes());
        let crc = crc32fast::hash(&h[..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        h
    }

    #[test]
    fn version_1_headers_are_still_read() {
        let h = v1_header(9);
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                id: 9,
                start_seq: None,
                len: 32
            })
        );
        let mut bad = h;
        bad[20] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::BadChecksum));
    }

    #[test]
    fn frames_round_trip_and_every_bit_flip_is_caught() {
        let f = frame(99, b"payload bytes");
        assert_eq!(
            decode_frame(&f),
            Frame::Valid {
                seq: 99,
                payload: b"payload bytes",
                len: f.len()
            }
        );
        for bit in 0..f.len() * 8 {
            let mut damaged = f.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !matches!(decode_frame(&damaged), Frame::Valid { .. }),
                "flip of bit {bit} went unnoticed"
            );
        }
        assert_eq!(decode_frame(&f[..f.len() - 1]), Frame::Incomplete);
        assert_eq!(decode_frame(&f[..10]), Frame::Incomplete);
        assert_eq!(
            decode_frame(&[0; 16]),
            Frame::BadChecksum,
            "zeros are not a frame"
        );
    }
}
