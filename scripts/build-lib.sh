#!/usr/bin/env bash
# Builds the C library (libkvdb.so, libkvdb.a) for PROFILE (release or
# debug, default release). kvdb-ffi's build script puts the SONAME link
# libkvdb.so.MAJOR beside the library, so programs linked with -lkvdb find
# it at run time (with -Wl,-rpath or LD_LIBRARY_PATH).
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
