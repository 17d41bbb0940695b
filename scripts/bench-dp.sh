#!/usr/bin/env bash
# Step and collective time of LGPO steps at 1 and 2 MPI ranks on the CPU, on the fixture model
# (docs/distributed.md): `npm run bench:dp [STEPS]`. Needs Open MPI and libclang (README).
# The cores are split among the ranks, so 2 ranks show the overhead of the split, not a speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-100}"
cargo build --release -p lgpo-core --features mpi --bin lgpo-dp-check
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores="$(nproc)"
for ranks in 1 2; do
  RAYON_NUM_THREADS="$(( cores / ranks > 0 ? cores / ranks : 1 ))" mpirun -np "$ranks" --oversubscribe \
    target/release/lgpo-dp-check --bench "$steps" crates/lgpo-core/tests/fixtures/tiny_tied
done
