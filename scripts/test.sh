#!/usr/bin/env bash
# The project's test command (referenced from the README and run by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The system tests use the real etcd, etcdctl, containerd, nft …: make sure they are there
# (idempotent; it only calls apt-get when something is missing).
bash scripts/install-deps.sh </dev/null

echo "==> cargo test --workspace --all-targets"
cargo test --workspace --all-targets

echo "==> cargo test --workspace --doc"
cargo test --workspace --doc
