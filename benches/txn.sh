#!/usr/bin/env bash
# Transaction benchmark: kvdb transactions against plain batches and against
# RocksDB's OptimisticTransactionDB, in memory and durable, at 1 and 8
# threads, with and without contention; and a read-only transaction's get
# against a snapshot get. Installs librocksdb-dev and libclang-dev (for the
# rocksdb crate's bindings) if missing. Writes benches/TXN_RESULTS.md.
#
# Usage: benches/txn.sh [--repeats N]     (default 3; about 6 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -e /usr/include/rocksdb/c.h ] || need+=(librocksdb-dev)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

ROCKSDB_LIB_DIR=$(dirname "$(ls /usr/lib/*/librocksdb.so | head -n 1)") \
  cargo build --release -p kvdb-bench --features rocksdb --bin kvdb-txn-bench
target/release/kvdb-txn-bench "$@"
