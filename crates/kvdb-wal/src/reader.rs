//! Replay: reading every record of the log in order, deciding what damage
//! means under the chosen [`RecoveryMode`], and repairing the log so that
//! appending can resume.
//!
//! A damaged frame in the newest segment with no intact frame after it is a
//! *torn tail*: the mark of a crash during a write. Damage followed by intact
//! frames, or in an older segment, is corruption.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvdb_vfs::{FileBytes, Vfs};

use crate::error::WalError;
use crate::format::{
    FRAME_HEADER_LEN, Frame, HeaderError, SEGMENT_HEADER_V1_LEN, SegmentHeader, decode_frame,
    decode_segment_header, intact_frame_after,
};
use crate::options::RecoveryMode;
use crate::segment::{SegmentInfo, list_segments};

/// One record read back from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's first sequence number.
    pub seq: u64,
    /// The payload as appended.
    pub payload: &'a [u8],
}

/// A damaged tail that replay cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// The length the segment was cut to.
    pub offset: u64,
    /// The bytes removed.
    pub dropped_bytes: u64,
}

/// What replay found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments opened (those skipped as covered included).
    pub segments: usize,
    /// Records read.
    pub records: u64,
    /// Bytes of intact records read (headers included).
    pub bytes: u64,
    /// The highest sequence number read.
    pub last_seq: Option<u64>,
    /// Segments passed over unread because every record in them is at or
    /// below the sequence number given to [`WalReader::skip_covered_through`].
    pub segments_skipped: usize,
    /// A damaged tail that was cut off.
    pub torn_tail: Option<TornTail>,
    /// Segments set aside by point-in-time recovery (renamed `*.discarded`).
    pub discarded_segments: Vec<PathBuf>,
}

/// The result of a finished replay: what the writer needs to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The segments kept, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// What replay found.
    pub report: ReplayReport,
}

/// Damage replay will repair: segment `index` is cut to `offset` bytes.
struct Cut {
    index: usize,
    offset: u64,
    len: u64,
}

struct Current {
    index: usize,
    bytes: FileBytes,
    header: SegmentHeader,
    offset: usize,
    max_seq: u64,
}

/// What opening a segment came to.
enum Opened {
    /// Its records are next to read.
    Reading,
    /// Replay stops at it (damage it may repair).
    Stopped,
    /// It was passed over as covered.
    Skipped,
}

/// Reads the log's records in order. Call [`WalReader::next_record`] until
/// it returns `None`, then [`WalReader::finish`].
pub struct WalReader {
    vfs: Arc<dyn Vfs>,
    mode: RecoveryMode,
    segments: Vec<(u64, PathBuf)>,
    kept: Vec<SegmentInfo>,
    current: Option<Current>,
    next_index: usize,
    /// Where replay found damage it may repair.
    cut: Option<Cut>,
    /// Replay stopped early; the segments after this index are set aside.
    stopped_at: Option<usize>,
    /// Segments holding only records at or below this are not read.
    covered_through: Option<u64>,
    report: ReplayReport,
}

impl WalReader {
    /// Starts replaying the log in `dir`.
    pub fn open(vfs: Arc<dyn Vfs>, dir: &Path, mode: RecoveryMode) -> Result<Self, WalError> {
        let segments = list_segments(&*vfs, dir)?;
        Ok(Self {
            vfs,
            mode,
            segments,
            kept: Vec::new(),
            current: None,
            next_index: 0,
            cut: None,
            stopped_at: None,
            covered_through: None,
            report: ReplayReport::default(),
        })
    }

    /// Passes over, without reading their records, the segments that hold
    /// nothing above sequence number `seq` (the caller has it all already,
    /// from a snapshot). Call before the first [`WalReader::next_record`].
    ///
    /// A segment is known to be covered when the next segment's header says
    /// it starts at or below `seq + 1`: sequence numbers are consecutive, so
    /// every record before that start is at or below `seq`. The newest
    /// segment, and any whose successor does not record its start (format
    /// version 1) or cannot be read, are read as usual. Skipped segments are
    /// neither checksummed nor counted in [`ReplayReport::records`]; damage
    /// in them is not found here (their records are not needed).
    pub fn skip_covered_through(&mut self, seq: u64) {
        self.covered_through = Some(seq);
    }

    /// The start sequence number the header of segment `index` records, if
    /// it can be read and names the segment its file name does.
    fn start_of(&self, index: usize) -> Option<u64> {
        let (id, path) = self.segments.get(index)?;
        let bytes = self.vfs.read(path).ok()?;
        match decode_segment_header(&bytes) {
            Ok(header) if header.id == *id => header.start_seq,
            _ => None,
        }
    }

    /// True if every record of segment `index` is at or below the covered
    /// sequence number (see [`WalReader::skip_covered_through`]).
    fn is_covered(&self, index: usize) -> bool {
        let Some(covered) = self.covered_through else {
            return false;
        };
        !self.is_newest(index)
            && self
                .start_of(index + 1)
                .is_some_and(|next_start| next_start <= covered.saturating_add(1))
    }

    fn is_newest(&self, index: usize) -> bool {
        index + 1 == self.segments.len()
    }

    fn corruption(&self, index: usize, offset: usize, reason: impl Into<String>) -> WalError {
        WalError::Corruption {
            segment: self.segments[index].1.clone(),
            offset: offset as u64,
            reason: reason.into(),
        }
    }

    /// Handles damage at `offset` of segment `index`: a torn tail to cut, a
    /// point to stop at, or an error.
    fn damage(
        &mut self,
        index: usize,
        offset: usize,
        len: usize,
        reason: &str,
        torn: bool,
    ) -> Result<(), WalError> {
        match self.mode {
            RecoveryMode::TolerateCorruptTail if torn => {}
            RecoveryMode::PointInTime => {}
            _ => {
                let what = if torn { "torn tail" } else { "corrupt record" };
                return Err(self.corruption(index, offset, format!("{what}: {reason}")));
            }
        }
        self.cut = Some(Cut {
            index,
            offset: offset as u64,
            len: len as u64,
        });
        self.stopped_at = Some(index);
        Ok(())
    }

    /// Opens the next segment with records to read, passing over covered
    /// ones; false when there is none (or replay stopped).
    fn open_next(&mut self) -> Result<bool, WalError> {
        loop {
            if self.stopped_at.is_some() || self.next_index >= self.segments.len() {
                return Ok(false);
            }
            match self.open_segment()? {
                Opened::Reading => return Ok(true),
                Opened::Stopped => return Ok(false),
                Opened::Skipped => {}
            }
        }
    }

    /// Opens segment `next_index`.
    fn open_segment(&mut self) -> Result<Opened, WalError> {
        let index = self.next_index;
        self.next_index += 1;
        let (id, path) = self.segments[index].clone();
        let bytes = self
            .vfs
            .read(&path)
            .map_err(|e| WalError::io(format!("reading {}", path.display()), e))?;
        self.report.segments += 1;
        let header = match decode_segment_header(&bytes) {
            Ok(header) if header.id == id => header,
            Ok(header) => {
                let reason = format!("header names segment {}, file name says {id}", header.id);
                self.damage(index, 0, bytes.len(), &reason, false)?;
                return Ok(Opened::Stopped);
            }
            Err(HeaderError::UnsupportedVersion(found)) => {
                return Err(WalError::UnsupportedVersion {
                    segment: path,
                    found,
                });
            }
            Err(e) => {
                // A header torn by a crash just after the segment was created.
                let torn =
                    self.is_newest(index) && bytes.len() <= crate::format::SEGMENT_HEADER_LEN;
                let reason = format!("bad segment header ({e:?})");
                self.damage(index, 0, bytes.len(), &reason, torn)?;
                return Ok(Opened::Stopped);
            }
        };
        if let (Some(start), Some(last)) = (header.start_seq, self.report.last_seq)
            && start <= last
        {
            let reason = format!(
                "segment starts at sequence {start}, but an older segment holds a record at {last}"
            );
            self.damage(index, 0, bytes.len(), &reason, false)?;
            return Ok(Opened::Stopped);
        }
        if self.is_covered(index) {
            self.skip(index, &header, bytes.len() as u64);
            return Ok(Opened::Skipped);
        }
        self.current = Some(Current {
            index,
            offset: header.len,
            header,
            bytes,
            max_seq: 0,
        });
        Ok(Opened::Reading)
    }

    /// Keeps covered segment `index` without reading its records. Its
    /// `max_seq` is the sequence number before its successor's start: no
    /// record in it starts above that, which is all log truncation needs.
    fn skip(&mut self, index: usize, header: &SegmentHeader, bytes: u64) {
        let (id, path) = self.segments[index].clone();
        let max_seq = match self.start_of(index + 1) {
            Some(next_start) if bytes > header.len as u64 => next_start.saturating_sub(1),
            _ => 0,
        };
        self.report.segments_skipped += 1;
        self.kept.push(SegmentInfo {
            id,
            path,
            bytes,
            max_seq,
            start_seq: header.start_seq,
            header_len: header.len as u64,
        });
    }

    fn close_current(&mut self) {
        if let Some(cur) = self.current.take() {
            let (id, path) = self.segments[cur.index].clone();
            self.kept.push(SegmentInfo {
                id,
                path,
                bytes: cur.bytes.len() as u64,
                max_seq: cur.max_seq,
                start_seq: cur.header.start_seq,
                header_len: cur.header.len as u64,
            });
        }
    }

    /// The next record, or `None` at the end of the log.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, WalError> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let cur = self.current.as_ref().expect("a segment is open");
            let (index, offset) = (cur.index, cur.offset);
            if offset == cur.bytes.len() {
                self.close_current();
                continue;
            }
            let rest = &cur.bytes[offset..];
            match decode_frame(rest) {
                Frame::Valid { seq, len, .. } => {
                    if offset == cur.header.len
                        && let Some(start) = cur.header.start_seq
                        && seq != start
                    {
                        let len = cur.bytes.len();
                        let reason = format!(
                            "the segment starts at sequence {start}, its first record at {seq}"
                        );
                        self.damage(index, offset, len, &reason, false)?;
                        self.close_current();
                        return Ok(None);
                    }
                    if self.report.last_seq.is_some_and(|last| seq <= last) {
                        let last = self.report.last_seq.unwrap_or(0);
                        return Err(self.corruption(
                            index,
                            offset,
                            format!("sequence number {seq} does not follow {last}"),
                        ));
                    }
                    let cur = self.current.as_mut().expect("a segment is open");
                    cur.offset += len;
                    cur.max_seq = seq;
                    self.report.records += 1;
                    self.report.bytes += len as u64;
                    self.report.last_seq = Some(seq);
                    let payload = &cur.bytes[offset + FRAME_HEADER_LEN..offset + len];
                    return Ok(Some(Record { seq, payload }));
                }
                damaged => {
                    let reason = match damaged {
                        Frame::Incomplete => "incomplete frame",
                        _ => "checksum mismatch",
                    };
                    let torn = self.is_newest(index)
                        && !intact_frame_after(&cur.bytes, offset, self.report.last_seq);
                    let len = cur.bytes.len();
                    self.damage(index, offset, len, reason, torn)?;
                    self.close_current();
                    return Ok(None);
                }
            }
        }
    }

    /// What replay has found so far.
    pub fn report(&self) -> &ReplayReport {
        &self.report
    }

    /// The segments replay has finished reading and keeps, oldest first.
    /// Once [`WalReader::next_record`] has returned `None`, that is every
    /// segment the log will keep: the caller can check what they record
    /// (their start sequence numbers) before [`WalReader::finish`] repairs
    /// anything.
    pub fn kept_segments(&self) -> &[SegmentInfo] {
        &self.kept
    }

    /// Applies the repairs replay decided on (cutting a damaged tail, setting
    /// aside later segments) and returns what the writer needs.
    pub fn finish(mut self) -> Result<Recovered, WalError> {
        while self.stopped_at.is_none() && self.next_record()?.is_some() {}
        self.close_current();
        let vfs = Arc::clone(&self.vfs);
        if let Some(Cut { index, offset, len }) = self.cut {
            let path = self.segments[index].1.clone();
            let header_len = self
                .kept
                .iter()
                .find(|s| s.path == path)
                .map_or(SEGMENT_HEADER_V1_LEN as u64, |s| s.header_len);
            if offset <= header_len {
                // Nothing intact in it: remove the segment altogether.
                vfs.remove(&path)
                    .map_err(|e| WalError::io(format!("removing {}", path.display()), e))?;
                self.kept.retain(|s| s.path != path);
            } else {
                vfs.truncate(&path, offset)
                    .map_err(|e| WalError::io(format!("truncating {}", path.display()), e))?;
                if let Some(kept) = self.kept.iter_mut().find(|s| s.path == path) {
                    kept.bytes = offset;
                }
            }
            self.report.torn_tail = Some(TornTail {
                segment: path,
                offset,
                dropped_bytes: len.saturating_sub(offset),
            });
        }
        if let Some(index) = self.stopped_at {
            for (_, path) in &self.segments[index + 1..] {
                let mut aside = path.clone().into_os_string();
                aside.push(".discarded");
                let aside = PathBuf::from(aside);
                vfs.rename(path, &aside)
                    .map_err(|e| WalError::io(format!("setting aside {}", path.display()), e))?;
                self.report.discarded_segments.push(aside);
            }
        }
        if self.cut.is_some()
            && let Some(dir) = self.segments.first().and_then(|(_, p)| p.parent())
        {
            vfs.sync_dir(dir)
                .map_err(|e| WalError::io(format!("syncing {}", dir.display()), e))?;
        }
        Ok(Recovered {
            segments: self.kept,
            report: self.report,
        })
    }
}
