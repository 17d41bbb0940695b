#!/usr/bin/env bash
# Makes the `cuda` feature buildable on a machine without a CUDA install or a GPU: the CUDA 13.0
# compiler, headers and libraries from NVIDIA's pip wheels, in the git-ignored folder `.cuda/`.
#
#   scripts/gpu/setup-toolkit.sh        # idempotent; about 1.2 GB of wheels on the first run
#   . .cuda/env.sh                      # then: cargo build --features cuda --target-dir target/cuda ...
#
# What it makes (docs/gpu.md explains why each piece is needed):
#   .cuda/venv/      a Python venv holding cuda-toolkit[nvcc,cudart,cublas,curand,nvrtc,cccl]
#   .cuda/toolkit/   a CUDA_HOME-style tree over the wheels (bin include nvvm lib64), with the
#                    unversioned library names the linker wants (libcublas.so -> libcublas.so.13)
#   .cuda/toolkit/lib64/stubs/libcuda.so
#                    a link-time stub of the driver library (SONAME libcuda.so.1; every entry
#                    point returns CUDA_ERROR_STUB_LIBRARY). No wheel ships the driver; the built
#                    binary records libcuda.so.1 and gets the real driver on the GPU machine.
#   .cuda/env.sh     the environment the build scripts read (PATH, CUDA_HOME, CUDA_COMPUTE_CAP,
#                    CUDAFORGE_THREADS)
#
# Knobs (environment): CUDA_TOOLKIT_PIN (default 13.0.3.0: stay on 13.0.x, see below),
# CUDA_COMPUTE_CAP (default 90: H100/H200), PYTHON (default python3).
#
# Why 13.0.x: nvcc 13.0 writes PTX ISA 9.0, which a driver reporting CUDA 13.0 (R580) can JIT;
# a newer nvcc writes a newer ISA that such a driver rejects, and cudarc 0.19 panics on an nvcc
# version it does not know.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.cuda"
venv="$dir/venv"
tree="$dir/toolkit"
pin="${CUDA_TOOLKIT_PIN:-13.0.3.0}"
python="${PYTHON:-python3}"

say() { printf 'setup-toolkit: %s\n' "$*" >&2; }

mkdir -p "$dir"

# 1. The wheels. cuda-toolkit is NVIDIA's meta-package; its extras pin matching component wheels
#    (nvcc brings ptxas, cicc/libdevice and the crt headers; cccl brings cub/thrust/cuda::std,
#    which cuda_fp16.h and candle's kernels include). All CUDA 13 wheels install into one folder,
#    site-packages/nvidia/cu13/{bin,include,lib,nvvm}.
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi
installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cuda-toolkit"))' 2>/dev/null || true)"
if [ "$installed" != "$pin" ]; then
  say "installing cuda-toolkit $pin wheels (about 1.2 GB)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "cuda-toolkit[nvcc,cudart,cublas,curand,nvrtc,cccl]==$pin"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cu13="$site/nvidia/cu13"
[ -x "$cu13/bin/nvcc" ] || { say "nvcc is missing under $cu13"; exit 1; }

# 2. The CUDA_HOME tree. The wheels ship only versioned sonames, so `-lcublas` would not find
#    them; cudarc's build script searches $CUDA_HOME/{lib64,lib64/stubs,...}.
mkdir -p "$tree/lib64/stubs"
for d in bin include nvvm; do ln -sfn "$cu13/$d" "$tree/$d"; done
for so in "$cu13"/lib/lib*.so.*; do
  name="$(basename "$so")"
  case "$name" in *.alt.* | libnvrtc-builtins*) continue ;; esac
  ln -sfn "$so" "$tree/lib64/$name"
  ln -sfn "$so" "$tree/lib64/${name%%.so.*}.so"
done

# 3. The driver stub. candle-core always enables cudarc's dynamic linking, so the link needs
#    -lcuda. The stub exports every driver entry point named in the wheel's cuda.h (the API
#    functions and their versioned aliases) and in cudarc's bindings; each returns 34
#    (CUDA_ERROR_STUB_LIBRARY). Only lib64/stubs/libcuda.so exists, no libcuda.so.1, so it can
#    never be loaded at run time.
stub="$tree/lib64/stubs/libcuda.so"
if [ ! -s "$stub" ]; then
  say "building the link-time driver stub"
  (cd "$root" && cargo fetch --quiet)
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  {
    grep -oE 'CUDAAPI cu[A-Za-z0-9_]+\(' "$cu13/include/cuda.h" | sed 's/CUDAAPI //; s/(//'
    grep -oE '^#define +cu[A-Za-z0-9_]+ +cu[A-Za-z0-9_]+' "$cu13/include/cuda.h" | awk '{print $3}'
    for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-*/src/driver/sys/mod.rs; do
      [ -f "$f" ] && grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$f" | awk '{print $4}'
    done
  } | sort -u >"$work/names.txt"
  {
    echo '/* Link-time stub of libcuda.so.1, made by scripts/gpu/setup-toolkit.sh. Never load it. */'
    while read -r name; do echo "int $name(void) { return 34; }"; done <"$work/names.txt"
  } >"$work/cuda_stub.c"
  cc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$stub.tmp" "$work/cuda_stub.c"
  mv "$stub.tmp" "$stub"
fi

# 3b. NCCL, only when asked (LGPO_NCCL=1, which scripts/gpu/build.sh sets for its default features,
#     not for LGPO_GPU_FEATURES=cuda): the nccl feature links libnccl. The wheel's library joins the tree under the name the
#     linker wants; the GPU machine loads the one PyTorch installed (same soname, libnccl.so.2).
if [ "${LGPO_NCCL:-0}" = 1 ]; then
  if ! "$venv/bin/python" -c 'import importlib.metadata as m; m.version("nvidia-nccl-cu13")' 2>/dev/null; then
    say "installing the nvidia-nccl-cu13 wheel"
    "$venv/bin/pip" install --quiet --disable-pip-version-check nvidia-nccl-cu13
  fi
  nccl="$(find "$site/nvidia" -name 'libnccl.so.*' | head -1)"
  [ -n "$nccl" ] || { say "libnccl.so.* is missing under $site/nvidia"; exit 1; }
  ln -sfn "$nccl" "$tree/lib64/$(basename "$nccl")"
  ln -sfn "$nccl" "$tree/lib64/libnccl.so"
fi

# 4. The environment. cudarc's build script runs `nvcc --version` (PATH) to pick its CUDA 13.0
#    bindings and links from CUDA_HOME; candle-kernels' build (cudaforge) and lgpo-core's build
#    script read CUDA_COMPUTE_CAP (else they run nvidia-smi, absent here) and CUDAFORGE_THREADS.
cat >"$dir/env.sh.tmp" <<ENV
# Made by scripts/gpu/setup-toolkit.sh: source it before a cuda build.
export PATH="$tree/bin:\$PATH"
export CUDA_HOME="$tree"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-${CUDA_COMPUTE_CAP:-90}}"
export CUDAFORGE_THREADS="\${CUDAFORGE_THREADS:-\$(nproc)}"
ENV
mv "$dir/env.sh.tmp" "$dir/env.sh"
say "ready: nvcc $("$tree/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'); source $dir/env.sh"
