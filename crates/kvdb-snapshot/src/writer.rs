//! Writing a snapshot file without ever exposing a partial one.
//!
//! Entries stream into `snap-<seq>.kvs.tmp`; [`SnapshotWriter::finish`]
//! writes the footer, fills in the header, syncs the file, renames it into
//! place and syncs the directory. A crash at any point leaves either no new
//! snapshot or a complete one; leftover temporary files are removed on open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvdb_vfs::{Vfs, WritableFile};

use crate::dir::{snapshot_name, temporary_name};
use crate::error::SnapshotError;
use crate::format::{AccessKind, HEADER_LEN, Header, encode_entry, encode_footer, encode_header};

const FLUSH_AT: usize = 1 << 20;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The file.
    pub path: PathBuf,
    /// The sequence number the snapshot reads at.
    pub seq: u64,
    /// Entries in the file.
    pub entries: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// When the snapshot was taken (ms since the Unix epoch).
    pub created_ms: u64,
    /// What the entries record of their keys' use.
    pub access: AccessKind,
}

/// Streams entries, in ascending key order, into a new snapshot file.
pub struct SnapshotWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    tmp: PathBuf,
    file: Box<dyn WritableFile>,
    header: Header,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    data_len: u64,
    last_key: Option<Vec<u8>>,
    finished: bool,
}

impl SnapshotWriter {
    /// Starts the snapshot taken at sequence `seq` at time `created_ms`,
    /// whose entries record nothing of their keys' use.
    pub fn create(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        seq: u64,
        created_ms: u64,
    ) -> Result<Self, SnapshotError> {
        Self::create_recording(vfs, dir, seq, created_ms, AccessKind::None)
    }

    /// As [`SnapshotWriter::create`], for entries that record their keys'
    /// use as `access` says ([`SnapshotWriter::add_with_access`]).
    pub fn create_recording(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        seq: u64,
        created_ms: u64,
        access: AccessKind,
    ) -> Result<Self, SnapshotError> {
        let tmp = dir.join(temporary_name(seq));
        // A leftover from an interrupted attempt at the same snapshot.
        let _ = vfs.remove(&tmp);
        let mut file = vfs
            .create(&tmp)
            .map_err(|e| SnapshotError::io(format!("creating {}", tmp.display()), e))?;
        let header = Header {
            seq,
            entries: 0,
            created_ms,
            access,
        };
        file.append(&encode_header(&header))
            .map_err(|e| SnapshotError::io(format!("writing {}", tmp.display()), e))?;
        Ok(Self {
            vfs,
            dir: dir.to_path_buf(),
            tmp,
            file,
            header,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            crc: crc32fast::Hasher::new(),
            data_len: 0,
            last_key: None,
            finished: false,
        })
    }

    /// Adds an entry; keys must be strictly ascending. In a file that
    /// records access, its key's use is recorded as 0 (just used).
    pub fn add(
        &mut self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<(), SnapshotError> {
        self.add_with_access(key, value, expires_at, 0)
    }

    /// Adds an entry whose key's use is `access`, in the form of the file's
    /// [`AccessKind`] (ignored in a file that records none); keys must be
    /// strictly ascending.
    pub fn add_with_access(
        &mut self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
        access: u32,
    ) -> Result<(), SnapshotError> {
        if let Some(last) = &mut self.last_key {
            if key <= last.as_slice() {
                return Err(SnapshotError::InvalidEntry(
                    "entries must be added in strictly ascending key order".into(),
                ));
            }
            last.clear();
            last.extend_from_slice(key);
        } else {
            self.last_key = Some(key.to_vec());
        }
        if u32::try_from(key.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(SnapshotError::InvalidEntry(
                "key or value longer than 4 GiB".into(),
            ));
        }
        let start = self.buf.len();
        let access = (self.header.access != AccessKind::None).then_some(access);
        encode_entry(&mut self.buf, key, value, expires_at, access);
        self.crc.update(&self.buf[start..]);
        self.data_len += (self.buf.len() - start) as u64;
        self.header.entries += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SnapshotError> {
        self.file
            .append(&self.buf)
            .map_err(|e| SnapshotError::io(format!("writing {}", self.tmp.display()), e))?;
        self.buf.clear();
        Ok(())
    }

    /// Completes the file and moves it into place, durably.
    pub fn finish(mut self) -> Result<SnapshotInfo, SnapshotError> {
        let footer = encode_footer(self.data_len, self.crc.clone().finalize());
        self.buf.extend_from_slice(&footer);
        self.flush()?;
        let tmp = self.tmp.clone();
        let fail = |what: &str, e| SnapshotError::io(format!("{what} {}", tmp.display()), e);
        self.file
            .write_at(0, &encode_header(&self.header))
            .map_err(|e| fail("writing the header of", e))?;
        self.file.sync().map_err(|e| fail("syncing", e))?;
        let path = self.dir.join(snapshot_name(self.header.seq));
        self.vfs
            .rename(&tmp, &path)
            .map_err(|e| fail("renaming", e))?;
        self.finished = true;
        self.vfs.sync_dir(&self.dir).map_err(|e| {
            SnapshotError::io(format!("syncing directory {}", self.dir.display()), e)
        })?;
        Ok(SnapshotInfo {
            path,
            seq: self.header.seq,
            entries: self.header.entries,
            bytes: HEADER_LEN as u64 + self.data_len + footer.len() as u64,
            created_ms: self.header.created_ms,
            access: self.header.access,
        })
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Abandoned (an error, or the caller gave up): leave no debris.
            let _ = self.vfs.remove(&self.tmp);
        }
    }
}
