//! Test-only crate: the C, C++, dlopen and plugin programs under `c/` and
//! `cpp/` are compiled and run by `tests/c.rs` against the kvdb C library.
