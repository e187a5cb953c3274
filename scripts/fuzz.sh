#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer) of everything that
# reads untrusted bytes, and of the API against a model:
#   wal_reader       log segments, raw and structure-aware (valid checksums)
#   snapshot_loader  snapshot files, raw and structure-aware
#   recovery         whole database directories, every recovery mode
#   api_model        random API call sequences against a BTreeMap model
#   evict_model      the same under a small memory limit and a random
#                    eviction policy, told evictions by the change feed,
#                    with transactions and, in half the inputs, a
#                    secondary index
#
# cargo-fuzz builds with unstable compiler flags (sanitizer coverage,
# AddressSanitizer). This machine has one stable toolchain, so the build
# runs with RUSTC_BOOTSTRAP=1, which lets a stable rustc accept them.
# cargo-fuzz itself is installed from crates.io when missing.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default: 60 seconds for each of the five targets. Corpora grow in
#   fuzz/corpus/<target> (not checked in); a crash is saved under
#   fuzz/artifacts/<target> and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(wal_reader snapshot_loader recovery api_model evict_model)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked --quiet
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${seconds}s"
  status=0
  cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E 'DONE|^Done|stat::number_of_executed_units' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz target $target found a failure (exit $status); see fuzz/artifacts/$target" >&2
    exit "$status"
  fi
done
