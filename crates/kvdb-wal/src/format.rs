//! The byte layout of log segments and record frames (see `docs/FORMAT.md`).
//!
//! ```text
//! segment header (32 bytes)          record frame (16-byte header + payload)
//! 0   magic       8  "KVDBWAL\0"     0   length  u32  payload bytes
//! 8   version     u32 = 1            4   crc     u32  CRC-32 of length, seq, payload
//! 12  flags       u32 = 0            8   seq     u64  first sequence number
//! 16  segment id  u64                16  payload [length]
//! 24  header crc  u32 (bytes 0..24)
//! 28  reserved    u32 = 0
//! ```
//!
//! All integers are little-endian. Offsets are built from the previous field
//! so the code mirrors the diagram.

/// The first eight bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"KVDBWAL\0";
/// The segment format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + SEGMENT_MAGIC.len();
const FLAGS_AT: usize = VERSION_AT + 4;
const SEGMENT_ID_AT: usize = FLAGS_AT + 4;
const HEADER_CRC_AT: usize = SEGMENT_ID_AT + 8;
const RESERVED_AT: usize = HEADER_CRC_AT + 4;
/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: usize = RESERVED_AT + 4;

const LEN_AT: usize = 0;
const CRC_AT: usize = LEN_AT + 4;
const SEQ_AT: usize = CRC_AT + 4;
/// Bytes in a record frame's header.
pub const FRAME_HEADER_LEN: usize = SEQ_AT + 8;
/// The largest payload one record may carry.
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The header of segment `id`.
pub fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[MAGIC_AT..VERSION_AT].copy_from_slice(&SEGMENT_MAGIC);
    h[VERSION_AT..FLAGS_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[SEGMENT_ID_AT..HEADER_CRC_AT].copy_from_slice(&id.to_le_bytes());
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

/// Reads a segment header; returns the segment id.
pub fn decode_segment_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    let h = bytes.get(..SEGMENT_HEADER_LEN).ok_or(HeaderError::Short)?;
    if h[MAGIC_AT..VERSION_AT] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    if crc32fast::hash(&h[..HEADER_CRC_AT]) != u32_at(h, HEADER_CRC_AT) {
        return Err(HeaderError::BadChecksum);
    }
    let version = u32_at(h, VERSION_AT);
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    Ok(u64_at(h, SEGMENT_ID_AT))
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
        assert_eq!(SEGMENT_HEADER_LEN, 32);
        assert_eq!(FRAME_HEADER_LEN, 16);
        let h = encode_segment_header(0x0102);
        assert_eq!(&h[..8], b"KVDBWAL\0");
        assert_eq!(&h[8..12], &[1, 0, 0, 0]);
        assert_eq!(&h[16..18], &[2, 1]);
        let f = frame(7, b"abc");
        assert_eq!(&f[0..4], &[3, 0, 0, 0]);
        assert_eq!(&f[8..16], &7u64.to_le_bytes());
        assert_eq!(&f[16..], b"abc");
    }

    #[test]
    fn headers_round_trip_and_reject_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        assert_eq!(decode_segment_header(&h[..31]), Err(HeaderError::Short));
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::BadMagic));
        let mut bad = h;
        bad[17] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::BadChecksum));
    }

    #[test]
    fn a_future_version_is_reported_as_such() {
        let mut h = encode_segment_header(1);
        h[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&h[..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_segment_header(&h),
            Err(HeaderError::UnsupportedVersion(2))
        );
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
