//! include/kvdb.h must be exactly what cbindgen generates from this crate.
//! Run with `KVDB_BLESS_HEADER=1` to rewrite it after changing the API.

use std::path::Path;

#[test]
fn checked_in_header_is_fresh() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = crate_dir.join("../../include/kvdb.h");
    if std::env::var_os("KVDB_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/kvdb.h is stale: run `KVDB_BLESS_HEADER=1 cargo test -p kvdb-ffi --test header` and commit it"
    );
}
