#!/usr/bin/env bash
# Builds the C library (libkvdb.so, libkvdb.a) for PROFILE (release or
# debug, default release) and adds the SONAME link libkvdb.so.MAJOR beside
# it, so programs linked with -lkvdb find it at run time.
#
# Usage: scripts/build-lib.sh [release|debug]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
case "$profile" in
  release) cargo build --release -p kvdb-ffi ;;
  debug) cargo build -p kvdb-ffi ;;
  *) echo "usage: $0 [release|debug]" >&2; exit 2 ;;
esac
major=$(sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)
ln -sf libkvdb.so "target/$profile/libkvdb.so.$major"
