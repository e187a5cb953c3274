//! The snapshot loader on untrusted files: raw bytes, and structured files
//! whose checksums are valid over damaged entries, wrong counts, unsorted or
//! duplicate keys, unknown versions and each kind of access record. Loading
//! must never panic; a file it accepts must yield strictly ascending keys,
//! as many as its header says; an undamaged file must load with exactly its
//! entries, access records included.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use kvdb_fuzz::{SnapshotSpec, encode_snapshot, snapshot_access};
use kvdb_snapshot::format::{AccessKind, FORMAT_VERSION};
use kvdb_snapshot::{SnapshotError, SnapshotFile, verify};
use kvdb_vfs::{SimFs, Vfs};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    Raw(Vec<u8>),
    Structured(SnapshotSpec),
}

fuzz_target!(|input: Input| {
    let (bytes, expected) = match &input {
        Input::Raw(b) => (b.clone(), None),
        Input::Structured(spec) => {
            let pristine = spec.count_delta == 0
                && !spec.unsorted
                && spec.data_damage.is_none()
                && spec.file_damage.is_none()
                && spec.version.is_none_or(|v| {
                    v == FORMAT_VERSION || (v == 1 && spec.access() == AccessKind::None)
                });
            let mut entries = spec.entries.clone();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            let expected = pristine.then(|| {
                let recorded = spec.access() != AccessKind::None;
                entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, (k, v, e))| {
                        let access = recorded.then(|| snapshot_access(i));
                        (k, v, e.filter(|&e| e != 0), access)
                    })
                    .collect::<Vec<_>>()
            });
            (encode_snapshot(spec), expected)
        }
    };
    let checked = verify(&bytes);
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    let path = Path::new("/db/snap-00000000000000000001.kvs");
    fs.create(path).unwrap().append(&bytes).unwrap();
    match SnapshotFile::open(&fs, path) {
        Ok(file) => {
            assert!(checked.is_ok());
            let mut previous: Option<Vec<u8>> = None;
            let mut count = 0u64;
            let mut seen = Vec::new();
            for entry in file.entries() {
                if let Some(p) = &previous {
                    assert!(entry.key > p.as_slice(), "keys not ascending");
                }
                previous = Some(entry.key.to_vec());
                seen.push((
                    entry.key.to_vec(),
                    entry.value.to_vec(),
                    entry.expires_at,
                    entry.access,
                ));
                count += 1;
            }
            assert_eq!(count, file.info().entries);
            if let Some(expected) = expected {
                assert_eq!(seen, expected);
            }
        }
        Err(SnapshotError::Corrupt { .. } | SnapshotError::UnsupportedVersion { .. }) => {
            assert!(checked.is_err());
            assert!(expected.is_none(), "an undamaged snapshot was rejected");
        }
        Err(other) => panic!("unexpected error {other}"),
    }
});
