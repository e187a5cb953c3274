//! Read-only inspection of a database directory, file by file: every
//! snapshot file verified, every log record decoded, and each problem
//! reported with its file and byte offset, without writing anything. The
//! `kvdb verify` and `kvdb wal` tools are built on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvdb_core::{Op, Store};
use kvdb_snapshot::{parse_snapshot_name, verify};
use kvdb_vfs::{StdFs, Vfs};
use kvdb_wal::format::{Frame, decode_frame, decode_segment_header, intact_frame_after};
use kvdb_wal::parse_segment_name;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::persist::record;
use crate::persist::recovery::load_read_only;

/// A problem found in a database directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The file (or the directory, for a problem of the whole).
    pub file: PathBuf,
    /// The byte offset in the file where the damage starts.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
    /// False for what recovery repairs without losing an acknowledged
    /// write: a torn tail at the end of the newest log segment (the trace of
    /// a crash during a write), a leftover temporary snapshot file.
    pub fatal: bool,
}

/// One record of the write-ahead log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRecord {
    /// The segment holding it.
    pub segment: PathBuf,
    /// Its byte offset in the segment.
    pub offset: u64,
    /// The sequence number of its first operation.
    pub seq: u64,
    /// Its bytes, frame header included.
    pub bytes: u64,
    /// Puts without expiry.
    pub puts: u32,
    /// Puts with an expiry time.
    pub puts_expiring: u32,
    /// Deletes.
    pub deletes: u32,
}

/// One verified snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// The file.
    pub path: PathBuf,
    /// The sequence number it holds every write up to.
    pub seq: u64,
    /// Its entries.
    pub entries: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What [`inspect`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// Snapshot files that verified, newest first.
    pub snapshots: Vec<SnapshotSummary>,
    /// Intact log records, in log order.
    pub records: Vec<LogRecord>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

impl Inspection {
    /// True if nothing fatal was found: the directory opens with every
    /// acknowledged write.
    pub fn sound(&self) -> bool {
        self.problems.iter().all(|p| !p.fatal)
    }
}

/// Inspects database directory `dir`, which should not be open elsewhere:
/// verifies every snapshot file, decodes every log record, checks that the
/// records continue without a hole, and finally loads the directory as
/// recovery would (into memory, writing nothing) to catch what only the
/// whole shows. Fails only if `dir` cannot be listed.
pub fn inspect(dir: &Path) -> Result<Inspection> {
    let vfs: Arc<dyn Vfs> = Arc::new(StdFs);
    let mut names = vfs
        .list(dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    names.sort();
    let mut found = Inspection::default();
    for name in &names {
        let path = dir.join(name);
        if parse_snapshot_name(name).is_some() {
            check_snapshot(&*vfs, &path, &mut found);
        } else if name.ends_with(".kvs.tmp") {
            found.problems.push(Problem {
                file: path,
                offset: 0,
                what: "an unfinished snapshot (removed at the next open)".into(),
                fatal: false,
            });
        }
    }
    found.snapshots.sort_by_key(|s| std::cmp::Reverse(s.seq));
    let segments: Vec<&String> = names
        .iter()
        .filter(|n| parse_segment_name(n).is_some())
        .collect();
    let mut next_seq = None;
    for (i, name) in segments.iter().enumerate() {
        let newest = i + 1 == segments.len();
        check_segment(&*vfs, &dir.join(name), newest, &mut next_seq, &mut found);
    }
    let store = Store::new();
    if let Err(e) = load_read_only(&store, &vfs, dir, &Options::manual_maintenance()) {
        found.problems.push(Problem {
            file: dir.to_path_buf(),
            offset: 0,
            what: format!("the directory does not open: {e}"),
            fatal: true,
        });
    }
    Ok(found)
}

fn check_snapshot(vfs: &dyn Vfs, path: &Path, found: &mut Inspection) {
    let bytes = match vfs.read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            found
                .problems
                .push(fatal(path, 0, format!("cannot be read: {e}")));
            return;
        }
    };
    match verify(&bytes) {
        Ok(header) => found.snapshots.push(SnapshotSummary {
            path: path.to_path_buf(),
            seq: header.seq,
            entries: header.entries,
            bytes: bytes.len() as u64,
        }),
        Err(e) => {
            // The header is checked first; past it, the damage lies in the
            // entries or the footer, which one checksum covers.
            let offset = match kvdb_snapshot::format::decode_header(&bytes) {
                Err(_) => 0,
                Ok(_) => kvdb_snapshot::format::HEADER_LEN as u64,
            };
            found.problems.push(fatal(
                path,
                offset,
                format!("snapshot damaged: {}", describe(&e)),
            ));
        }
    }
}

fn describe(e: &kvdb_snapshot::format::FormatError) -> String {
    match e {
        kvdb_snapshot::format::FormatError::Corrupt(text) => text.clone(),
        kvdb_snapshot::format::FormatError::UnsupportedVersion(v) => {
            format!("format version {v}, which this build cannot read")
        }
    }
}

fn fatal(file: &Path, offset: u64, what: String) -> Problem {
    Problem {
        file: file.to_path_buf(),
        offset,
        what,
        fatal: true,
    }
}

fn header_problem(e: &kvdb_wal::format::HeaderError) -> String {
    use kvdb_wal::format::HeaderError;
    match e {
        HeaderError::Short => "shorter than a header".into(),
        HeaderError::BadMagic => "not a log segment (wrong magic bytes)".into(),
        HeaderError::BadChecksum => "header checksum mismatch".into(),
        HeaderError::UnsupportedVersion(v) => {
            format!("format version {v}, which this build cannot read")
        }
    }
}

fn check_segment(
    vfs: &dyn Vfs,
    path: &Path,
    newest: bool,
    next_seq: &mut Option<u64>,
    found: &mut Inspection,
) {
    let bytes = match vfs.read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            found
                .problems
                .push(fatal(path, 0, format!("cannot be read: {e}")));
            return;
        }
    };
    let header = match decode_segment_header(&bytes) {
        Ok(header) => header,
        Err(e) => {
            found.problems.push(fatal(
                path,
                0,
                format!("log segment header damaged: {}", header_problem(&e)),
            ));
            return;
        }
    };
    if let (Some(start), Some(expected)) = (header.start_seq, *next_seq)
        && start != expected
    {
        found.problems.push(fatal(
            path,
            0,
            format!("the log has a hole: this segment starts at sequence {start}, the one before ended at {}", expected - 1),
        ));
    }
    let mut at = header.len;
    while at < bytes.len() {
        match decode_frame(&bytes[at..]) {
            Frame::Valid { seq, payload, len } => {
                let mut rec = LogRecord {
                    segment: path.to_path_buf(),
                    offset: at as u64,
                    seq,
                    bytes: len as u64,
                    puts: 0,
                    puts_expiring: 0,
                    deletes: 0,
                };
                match record::decode(payload) {
                    Ok(ops) => {
                        for op in &ops {
                            match op {
                                Op::Put {
                                    expires_at: None, ..
                                } => rec.puts += 1,
                                Op::Put { .. } => rec.puts_expiring += 1,
                                Op::Delete { .. } => rec.deletes += 1,
                            }
                        }
                        if let Some(expected) = *next_seq
                            && seq != expected
                        {
                            found.problems.push(fatal(
                                path,
                                at as u64,
                                format!(
                                    "the log has a hole: expected sequence {expected}, found {seq}"
                                ),
                            ));
                        }
                        *next_seq = Some(seq + ops.len() as u64);
                        found.records.push(rec);
                    }
                    Err(reason) => found.problems.push(fatal(
                        path,
                        at as u64,
                        format!("log record at sequence {seq} cannot be decoded: {reason}"),
                    )),
                }
                at += len;
            }
            damaged => {
                let rest = bytes.len() - at;
                let what = match damaged {
                    Frame::BadChecksum => "checksum mismatch",
                    _ => "incomplete record",
                };
                // Damage at the end of the newest segment, with no intact
                // record after it, is what a crash during a write leaves (as
                // recovery judges it); anywhere else records are lost.
                let last = next_seq.map(|next| next - 1);
                let torn = newest && !intact_frame_after(&bytes, at, last);
                found.problems.push(Problem {
                    file: path.to_path_buf(),
                    offset: at as u64,
                    what: format!(
                        "{what}; the {rest} bytes from here are unreadable{}",
                        if torn {
                            " (a torn tail: cut at the next open)"
                        } else {
                            ""
                        }
                    ),
                    fatal: !torn,
                });
                return;
            }
        }
    }
}
