//! Mutation fuzzing of the snapshot loader, run as property tests in CI.
//!
//! Random bytes and damaged copies of valid snapshot files (bit flips,
//! truncations, insertions, overwritten ranges) must never make verification
//! panic, and a file that verifies must hold exactly the original entries.
//!
//! `PROPTEST_CASES` raises the number of cases for a longer run.

use std::path::PathBuf;
use std::sync::Arc;

use kvdb_snapshot::format::{AccessKind, HEADER_LEN, Header, encode_header};
use kvdb_snapshot::{SnapshotFile, SnapshotWriter, verify};
use kvdb_vfs::{SimFs, Vfs};
use proptest::prelude::*;

type Entries = Vec<(Vec<u8>, Vec<u8>, Option<u64>)>;

/// A valid file of `entries`; with `access`, each records its key's use as
/// the key's length.
fn valid_file(entries: &Entries, access: AccessKind) -> Vec<u8> {
    let fs = Arc::new(SimFs::new());
    let dir = PathBuf::from("/db");
    fs.create_dir_all(&dir).unwrap();
    let mut w = SnapshotWriter::create_recording(fs.clone(), &dir, 9, 1, access).unwrap();
    for (k, v, e) in entries {
        w.add_with_access(k, v, *e, k.len() as u32).unwrap();
    }
    let path = w.finish().unwrap().path;
    let file = SnapshotFile::open(&*fs, &path).unwrap();
    let read: Entries = file
        .entries()
        .map(|e| {
            let recorded = (access != AccessKind::None).then_some(e.key.len() as u32);
            assert_eq!(e.access, recorded);
            (e.key.to_vec(), e.value.to_vec(), e.expires_at)
        })
        .collect();
    assert_eq!(&read, entries);
    fs.read(&path).unwrap().to_vec()
}

fn sorted_entries() -> impl Strategy<Value = Entries> {
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 0..8),
        (
            prop::collection::vec(any::<u8>(), 0..16),
            prop::option::of(1..u64::MAX),
        ),
        0..10,
    )
    .prop_map(|m| m.into_iter().map(|(k, (v, e))| (k, v, e)).collect())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_verify_or_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), with_header in any::<bool>()) {
        let mut file = if with_header {
            encode_header(&Header { seq: 1, entries: 1, created_ms: 0, access: AccessKind::None }).to_vec()
        } else {
            Vec::new()
        };
        file.extend_from_slice(&bytes);
        prop_assert!(verify(&file).is_err());
    }

    #[test]
    fn damaged_files_are_rejected(
        entries in sorted_entries(),
        flips in prop::collection::vec((any::<usize>(), 0..8u8), 1..6),
        cut in prop::option::of(any::<usize>()),
        insert in prop::option::of((any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))),
        recording in any::<bool>(),
    ) {
        let access = if recording { AccessKind::Frequency } else { AccessKind::None };
        let original = valid_file(&entries, access);
        let mut damaged = original.clone();
        for (at, bit) in &flips {
            let len = damaged.len();
            damaged[at % len] ^= 1 << bit;
        }
        if let Some(cut) = cut {
            damaged.truncate(cut % (damaged.len() + 1));
        }
        if let Some((at, junk)) = insert {
            let at = at % (damaged.len() + 1);
            damaged.splice(at..at, junk);
        }
        if damaged != original {
            prop_assert!(verify(&damaged).is_err(), "damage went unnoticed");
        }
        prop_assert!(damaged.len() < HEADER_LEN || verify(&original).is_ok());
    }
}
