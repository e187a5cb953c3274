//! The snapshot loader on untrusted files: raw bytes, and structured files
//! whose checksums are valid over damaged entries, wrong counts, unsorted or
//! duplicate keys and unknown versions. Loading must never panic; a file it
//! accepts must yield strictly ascending keys, as many as its header says;
//! an undamaged file must load with exactly its entries.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use kvdb_fuzz::{SnapshotSpec, encode_snapshot};
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
                && spec.version.is_none_or(|v| v == 1);
            let mut entries = spec.entries.clone();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            (encode_snapshot(spec), pristine.then_some(entries))
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
                seen.push((entry.key.to_vec(), entry.value.to_vec(), entry.expires_at));
                count += 1;
            }
            assert_eq!(count, file.info().entries);
            if let Some(expected) = expected {
                let expected: Vec<_> = expected
                    .into_iter()
                    .map(|(k, v, e)| (k, v, e.filter(|&e| e != 0)))
                    .collect();
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
