#!/usr/bin/env bash
# The project's test command (referenced from the README and run by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace --all-targets"
cargo test --workspace --all-targets

echo "==> cargo test --workspace --doc"
cargo test --workspace --doc
