#!/usr/bin/env bash
# Runs the memory-limit benchmark with its peers: installs Debian's
# redis-server if missing, builds the C library (for the throughput rows
# through it) and the driver with the `redis` and `moka` features, and
# writes benches/EVICT_RESULTS.md.
#
# Usage: benches/evict.sh [--repeats N]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
scripts/build-lib.sh release
cargo run --release -p kvdb-bench --bin kvdb-evict-bench --features redis,moka -- \
  --ffi-lib target/release/libkvdb.so "$@"
