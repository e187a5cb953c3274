#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, and the Rust test suites
# (unit, integration, property, concurrency, doc tests).
#
# Usage: scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

step "all tests passed"
