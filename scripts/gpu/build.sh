#!/usr/bin/env bash
# Builds the standalone GPU binary: `lgpo-gpu` with the `cuda` feature, release code, stripped,
# into .cuda/dist/lgpo-gpu (git-ignored; carry it to the GPU machine with the working tree).
#
#   scripts/gpu/build.sh          # about 9 min clean on 2 cores (candle's kernels), seconds after
#
# It sets the toolkit up first (scripts/gpu/setup-toolkit.sh) and builds in target/cuda, so the
# CPU build in target/ is left alone. The binary needs at run time the NVIDIA driver
# (libcuda.so.1) and CUDA 13's libcudart, libcublas(Lt) and libcurand; scripts/gpu/check.sh finds
# them in the GPU machine's Python environment (PyTorch's nvidia wheels).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The default features, cuda and nccl, include the NCCL all-reduce check (`lgpo-gpu nccl`),
# linking libnccl from the nvidia-nccl-cu13 wheel that setup-toolkit.sh then installs (PyTorch
# brings the same library to the GPU machine); LGPO_GPU_FEATURES=cuda builds without it.
features="${LGPO_GPU_FEATURES:-cuda,nccl}"
case ",$features," in *,nccl,*) export LGPO_NCCL=1 ;; esac
"$root/scripts/gpu/setup-toolkit.sh"
# shellcheck disable=SC1091
. "$root/.cuda/env.sh"
cargo build --profile gpu -p lgpo-gpu --features "$features" --target-dir "$root/target/cuda" --manifest-path "$root/Cargo.toml"
mkdir -p "$root/.cuda/dist"
cp "$root/target/cuda/gpu/lgpo-gpu" "$root/.cuda/dist/lgpo-gpu.tmp"
mv "$root/.cuda/dist/lgpo-gpu.tmp" "$root/.cuda/dist/lgpo-gpu"
size=$(stat -c %s "$root/.cuda/dist/lgpo-gpu")
echo "built .cuda/dist/lgpo-gpu: $((size / 1024 / 1024)) MiB; needs: $(readelf -d "$root/.cuda/dist/lgpo-gpu" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')" >&2
