//! The log reader on untrusted segments, in every recovery mode: raw bytes,
//! and structured logs whose frames carry valid checksums over skewed
//! sequence numbers, damaged payloads and bad headers. Replay must never
//! panic, must return records in strictly increasing order, and on an
//! undamaged, continuous log must return every record exactly.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use arbitrary::Arbitrary;
use kvdb_fuzz::{SegmentSpec, encode_segments};
use kvdb_vfs::{SimFs, Vfs};
use kvdb_wal::{RecoveryMode, WalError, WalReader};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    Raw(Vec<Vec<u8>>),
    Structured(Vec<SegmentSpec>),
}

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateCorruptTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

fn fs_with(files: &[(String, Vec<u8>)]) -> Arc<SimFs> {
    let fs = Arc::new(SimFs::new());
    let dir = Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        // Duplicate names (skewed ids) keep the first file.
        if let Ok(mut f) = fs.create(&dir.join(name)) {
            f.append(bytes).unwrap();
        }
    }
    fs
}

fn replay(
    files: &[(String, Vec<u8>)],
    mode: RecoveryMode,
) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
    let fs = fs_with(files);
    let mut reader = WalReader::open(fs, Path::new("/db"), mode)?;
    let mut records = Vec::new();
    while let Some(r) = reader.next_record()? {
        records.push((r.seq, r.payload.to_vec()));
    }
    reader.finish()?;
    Ok(records)
}

fuzz_target!(|input: Input| {
    let (files, pristine) = match &input {
        Input::Raw(segments) => (
            segments
                .iter()
                .take(4)
                .enumerate()
                .map(|(i, b)| (kvdb_wal::segment_name(i as u64 + 1), b.clone()))
                .collect::<Vec<_>>(),
            false,
        ),
        Input::Structured(specs) => {
            let specs = &specs[..specs.len().min(4)];
            let pristine = specs.iter().all(|s| {
                s.id_skew == 0
                    && s.start_skew == 0
                    && s.file_damage.is_none()
                    && s.records
                        .iter()
                        .all(|r| r.seq_skew == 0 && r.payload_damage.is_none() && !r.ops.is_empty())
            });
            (encode_segments(specs, 1).0, pristine)
        }
    };
    for mode in MODES {
        match replay(&files, mode) {
            Ok(records) => {
                for pair in records.windows(2) {
                    assert!(pair[0].0 < pair[1].0, "records out of order");
                }
                if pristine {
                    let expected: usize = match &input {
                        Input::Structured(specs) => specs[..specs.len().min(4)]
                            .iter()
                            .map(|s| s.records.len())
                            .sum(),
                        Input::Raw(_) => unreachable!(),
                    };
                    assert_eq!(
                        records.len(),
                        expected,
                        "{mode:?} lost records of a whole log"
                    );
                }
            }
            Err(WalError::Corruption { .. } | WalError::UnsupportedVersion { .. }) => {
                assert!(!pristine, "{mode:?} rejected a whole log");
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
});
