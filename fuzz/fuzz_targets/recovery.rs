//! Full recovery of a database directory built from fuzzed snapshots and
//! log segments (structure-aware: valid checksums over skewed sequence
//! numbers, bad batches, damaged entries), in every recovery mode. Opening
//! must never panic and fails only with a corruption or I/O error; a
//! database that opens must reopen to exactly the same contents, with no
//! further cut or set-aside (repairs are complete the first time).
#![no_main]

use std::path::Path;
use std::sync::Arc;

use arbitrary::Arbitrary;
use kvdb::vfs::{CrashOptions, SimFs, Vfs};
use kvdb::{Db, ErrorKind, Options, RecoveryMode};
use kvdb_fuzz::{SegmentSpec, SnapshotSpec, encode_segments, encode_snapshot};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    snapshots: Vec<SnapshotSpec>,
    segments: Vec<SegmentSpec>,
    first_seq: u8,
}

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateCorruptTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

fn options(fs: SimFs, mode: RecoveryMode) -> Options {
    let mut options = Options::manual_maintenance();
    options.vfs = Arc::new(fs);
    options.recovery = mode;
    options
}

fn contents(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter().collect()
}

fuzz_target!(|input: Input| {
    let dir = Path::new("/db");
    let fs = SimFs::new();
    fs.create_dir_all(dir).unwrap();
    let mut files = Vec::new();
    for spec in input.snapshots.iter().take(3) {
        files.push((
            kvdb_snapshot::snapshot_name(u64::from(spec.seq)),
            encode_snapshot(spec),
        ));
    }
    let segments = &input.segments[..input.segments.len().min(4)];
    files.extend(encode_segments(segments, u64::from(input.first_seq) + 1).0);
    for (name, bytes) in &files {
        if let Ok(mut f) = fs.create(&dir.join(name)) {
            f.append(bytes).unwrap();
            f.sync().unwrap();
        }
    }
    fs.sync_dir(dir).unwrap();
    let image = |fs: &SimFs| {
        fs.crash(CrashOptions {
            torn_tails: false,
            seed: 0,
        })
    };
    for mode in MODES {
        let attempt = image(&fs);
        match Db::open(dir, options(attempt.clone(), mode)) {
            Ok(db) => {
                let first = contents(&db);
                db.close().unwrap();
                let again = Db::open(dir, options(image(&attempt), mode))
                    .expect("a database that opened once opens again");
                assert_eq!(
                    contents(&again),
                    first,
                    "{mode:?}: reopening changed the data"
                );
                // Damaged snapshots are left in place (and reported again);
                // cuts and set-asides are done once and for all.
                let report = again.recovery_report().expect("a durable database");
                assert!(
                    report.torn_tail.is_none() && report.discarded_segments.is_empty(),
                    "{mode:?}: the first open's repairs were not complete: {report:?}"
                );
            }
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Corruption | ErrorKind::Io),
                "{mode:?}: unexpected error {e}"
            ),
        }
    }
});
