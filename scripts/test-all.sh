#!/usr/bin/env bash
# Runs every test of the project: formatting and lints; the Rust suites
# (unit, integration, property, concurrency, crash, fuzz-style, doc tests);
# the C and C++ programs against libkvdb (plain, ASan/UBSan, valgrind,
# static, dlopen, plugin, every install route); the Go module (cgo, -race)
# and the Python package against an installed libkvdb; and a
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
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing tools: ${need[*]}; install them (Debian: apt-get install ${need[*]}) and re-run" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A run on a clean clone (CI) gains nothing from incremental compilation's
# caches or from full debug info, which together take about half of the
# build's disk; line tables keep backtraces and sanitizer reports naming
# their lines.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests, C/C++ programs (plain, ASan/UBSan, valgrind), dlopen, plugin, install"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

step "Go module (cgo, -race), linked through pkg-config to an installed libkvdb"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s PROFILE=debug
make -s PROFILE=debug install prefix="$prefix" >/dev/null
(
  cd go
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then echo "gofmt: $unformatted" >&2; exit 1; fi
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$prefix/lib"
  go vet ./...
  go test -race -count=1 ./...
)

step "Python package: pip install into a fresh venv, then its tests against the installed libkvdb"
python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q ./python
(
  cd "$prefix"   # import the installed package, not the source tree
  LD_LIBRARY_PATH="$prefix/lib" "$prefix/venv/bin/python" -m unittest discover -s "$OLDPWD/python/tests"
)

step "coverage-guided fuzzing, a short run of each target (scripts/fuzz.sh)"
scripts/fuzz.sh "${KVDB_FUZZ_SECONDS:-15}"

step "all tests passed"
