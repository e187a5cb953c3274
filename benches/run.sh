#!/usr/bin/env bash
# Reproduces the whole comparison in one command: installs what the peers
# need (Debian's redis-server, librocksdb-dev, libclang-dev for the rocksdb
# crate's bindings) if missing, builds kvdb's C library and the driver with
# every peer, runs every workload on every system, and writes
# benches/RESULTS.md, benches/results.json and benches/chart.svg.
#
# Usage: benches/run.sh [driver options]      e.g. --records 200000 --repeats 1
# (benches/run.sh --help lists them). A full run takes about half an hour on
# two cores; nothing else should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -e /usr/include/rocksdb/c.h ] || need+=(librocksdb-dev)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

scripts/build-lib.sh release
ROCKSDB_LIB_DIR=$(dirname "$(ls /usr/lib/*/librocksdb.so | head -n 1)") \
  cargo build --release -p kvdb-bench --features peers
target/release/kvdb-bench --out benches --ffi-lib target/release/libkvdb.so "$@"
