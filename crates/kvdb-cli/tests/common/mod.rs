//! Helpers the tool tests share.

use std::collections::BTreeMap;
use std::path::Path;

/// Every file of `dir` with its bytes, to check a tool changed nothing.
pub(crate) fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}
