//! Loading a snapshot file: everything is verified before anything is used.

use std::path::{Path, PathBuf};

use kvdb_vfs::{FileBytes, Vfs};

use crate::error::SnapshotError;
use crate::format::{
    AccessKind, Entry, FOOTER_LEN, FormatError, HEADER_LEN, Header, decode_entry, decode_footer,
    decode_header,
};
use crate::writer::SnapshotInfo;

/// A snapshot file whose every byte has been checked: magic, version,
/// header and footer checksums, the checksum of all entries, every length,
/// the entry count, and strictly ascending keys.
pub struct SnapshotFile {
    bytes: FileBytes,
    info: SnapshotInfo,
}

fn corrupt(path: &Path, e: FormatError) -> SnapshotError {
    match e {
        FormatError::Corrupt(reason) => SnapshotError::Corrupt {
            path: path.to_path_buf(),
            reason,
        },
        FormatError::UnsupportedVersion(found) => SnapshotError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
        },
    }
}

/// Checks `bytes` as a whole snapshot file; returns its header.
pub fn verify(bytes: &[u8]) -> Result<Header, FormatError> {
    let header = decode_header(bytes)?;
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err(FormatError::Corrupt(
            "file is shorter than a header and a footer".into(),
        ));
    }
    let footer_at = bytes.len() - FOOTER_LEN;
    let footer: &[u8; FOOTER_LEN] = bytes[footer_at..].try_into().expect("footer length");
    let (data_len, data_crc) = decode_footer(footer)?;
    let data = &bytes[HEADER_LEN..footer_at];
    if data_len != data.len() as u64 {
        return Err(FormatError::Corrupt(format!(
            "footer records {data_len} bytes of entries, the file holds {}",
            data.len()
        )));
    }
    if crc32fast::hash(data) != data_crc {
        return Err(FormatError::Corrupt("entry checksum mismatch".into()));
    }
    let mut at = 0;
    let mut count = 0u64;
    let mut previous: Option<&[u8]> = None;
    while at < data.len() {
        let (entry, len) = decode_entry(&data[at..], header.access)?;
        if previous.is_some_and(|p| entry.key <= p) {
            return Err(FormatError::Corrupt(format!(
                "entry {count} is out of key order"
            )));
        }
        previous = Some(entry.key);
        at += len;
        count += 1;
    }
    if count != header.entries {
        return Err(FormatError::Corrupt(format!(
            "header records {} entries, the file holds {count}",
            header.entries
        )));
    }
    Ok(header)
}

impl SnapshotFile {
    /// Opens and verifies the snapshot at `path`.
    pub fn open(vfs: &dyn Vfs, path: &Path) -> Result<Self, SnapshotError> {
        let bytes = vfs
            .read(path)
            .map_err(|e| SnapshotError::io(format!("reading {}", path.display()), e))?;
        let header = verify(&bytes).map_err(|e| corrupt(path, e))?;
        let info = SnapshotInfo {
            path: PathBuf::from(path),
            seq: header.seq,
            entries: header.entries,
            bytes: bytes.len() as u64,
            created_ms: header.created_ms,
            access: header.access,
        };
        Ok(Self { bytes, info })
    }

    /// What the file records about itself.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// The entries, in ascending key order.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            data: &self.bytes[HEADER_LEN..self.bytes.len() - FOOTER_LEN],
            access: self.info.access,
        }
    }
}

impl std::fmt::Debug for SnapshotFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotFile")
            .field("info", &self.info)
            .finish()
    }
}

/// The entries of a verified snapshot file.
pub struct Entries<'a> {
    data: &'a [u8],
    access: AccessKind,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.data.is_empty() {
            return None;
        }
        // Verified at open: every entry decodes and the last ends the data.
        let (entry, len) =
            decode_entry(self.data, self.access).expect("entries were verified at open");
        self.data = &self.data[len..];
        Some(entry)
    }
}
