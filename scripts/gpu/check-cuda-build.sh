#!/usr/bin/env bash
# Compiles the CUDA code on a machine without a GPU, so that it cannot rot between GPU runs:
# clippy (warnings are errors) over lgpo-core, lgpo-gpu and the Node addon with the `cuda`
# feature, against the pinned CUDA 13.0 toolkit from pip wheels (scripts/gpu/setup-toolkit.sh).
# .ci/run calls it; it builds in target/cuda, apart from the CPU build.
#
#   scripts/gpu/check-cuda-build.sh     # about 1.2 GB of wheels and ~10 min on 2 cores the first time
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/scripts/gpu/setup-toolkit.sh"
# shellcheck disable=SC1091
. "$root/.cuda/env.sh"
cargo clippy --manifest-path "$root/Cargo.toml" --target-dir "$root/target/cuda" \
  -p lgpo-core -p lgpo-gpu -p lgpo-node --features cuda --all-targets -- -D warnings
# The NCCL backend, with MPI as in a job of several GPU ranks (needs Open MPI and libclang, which
# .ci/run installs; clippy does not link, so libnccl is not needed here).
cargo clippy --manifest-path "$root/Cargo.toml" --target-dir "$root/target/cuda" -p lgpo-core -p lgpo-gpu -p lgpo-node \
  --features lgpo-core/nccl,lgpo-core/mpi,lgpo-gpu/nccl,lgpo-node/nccl,lgpo-node/mpi --all-targets -- -D warnings
echo "check-cuda-build: the cuda and nccl features compile, clippy clean" >&2
