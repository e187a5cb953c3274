#!/usr/bin/env bash
# Runs every test of the project: formatting and lints; the Rust suites
# (unit, integration, property, concurrency, crash, fuzz-style, doc tests);
# the C and C++ programs against libkvdb (plain, ASan/UBSan, valgrind,
# static, dlopen, plugin, install + pkg-config); the Go (cgo) tests; and a
# short coverage-guided fuzzing run of every target (cargo-fuzz, installed
# from crates.io if missing; KVDB_FUZZ_SECONDS sets the seconds per target).
#
# Installs what it needs and is missing (Go, valgrind, pkg-config) with
# apt-get, which needs root; otherwise it says what to install and stops.
#
# Usage: scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing tools: ${need[*]}; install them (Debian: apt-get install ${need[*]}) and re-run" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests, C/C++ programs (plain, ASan/UBSan, valgrind), dlopen, plugin, install"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

step "Go (cgo) tests"
scripts/build-lib.sh debug
(cd ffi-tests/go && go vet ./... && go test -race -count=1 ./...)

step "coverage-guided fuzzing, a short run of each target (scripts/fuzz.sh)"
scripts/fuzz.sh "${KVDB_FUZZ_SECONDS:-15}"

step "all tests passed"
