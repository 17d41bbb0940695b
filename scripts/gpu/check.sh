#!/usr/bin/env bash
# The GPU check: everything a GPU machine should confirm, in one run of under 8 minutes.
#
#   scripts/gpu/check.sh [OUT_DIR]                  # on a GPU machine (default OUT_DIR: gpu-check)
#   scripts/gpu/check.sh --cpu-dry-run [OUT_DIR]    # the same steps on the CPU, tiny shapes
#
# Steps, each with a time limit, their results as JSON in OUT_DIR and all output in
# OUT_DIR/run.log (at most 8 files: what a GPU lease brings back):
#   1. nvidia-smi: the GPU, driver and CUDA versions (nvidia-smi.txt), the device (info.json)
#   2. correctness against the CPU on the golden fixtures, generation against scoring, the CUDA
#      kernels against their compositions (check.json); with a binary built with NCCL, the
#      data-parallel all-reduce through it as a job of one rank (run.log)
#   3. speed at the full Qwen2.5-0.5B shape, bf16: a training step of 64 x 512 tokens (time,
#      tokens/s, MFU), LGPO / GRPO step ratios (3 baselines, N_updates 1 and 4), generating 64 prompts x 8 samples x 512 new
#      tokens (bench.json)
#   4. the same training step and generation in PyTorch + transformers (peer.json)
#   5. peak memory of a Qwen2.5-3B training step at 512 + 1024 tokens with and without activation
#      checkpointing (memory.json)
#   6. the lgpo / PyTorch table and the targets (summary.json, and the end of run.log)
#
# The binary is .cuda/dist/lgpo-gpu (scripts/gpu/build.sh) or $LGPO_GPU_BIN; the dry run uses
# the CPU build target/release/lgpo-gpu (cargo build --release -p lgpo-gpu). CUDA's libraries
# are found in python3's nvidia packages (PyTorch's CUDA wheels); python3 also runs the peer.
# Exit code: 0 when every step ran and every check passed, 1 otherwise.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dry=0
if [ "${1:-}" = "--cpu-dry-run" ]; then
  dry=1
  shift
fi
out="${1:-gpu-check}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/run.log"

start=$(date +%s)
budget=${LGPO_CHECK_BUDGET:-470} # seconds for all steps together
failed=0
python="${PYTHON:-python3}"

if [ "$dry" = 1 ]; then
  bin="${LGPO_GPU_BIN:-$root/target/release/lgpo-gpu}"
  device=cpu
  shape=(--model tiny --batch 4 --micro-batch 2 --prompt 8 --response 8)
  bench_extra=(--steps 1 --gen-prompts 2 --gen-samples 2 --gen-prompt-len 4 --gen-tokens 8 --matmul-size 128)
  memory_shape=(--model tiny --batch 4 --micro-batch 4 --prompt 16 --response 32)
  peer_model=tiny
  peer_device=cpu
  # The bench's work without the shape name and the matrix product (the peer's options).
  peer_args=(--batch 4 --micro-batch 2 --prompt 8 --response 8 --steps 1 --gen-prompts 2 --gen-samples 2 --gen-prompt-len 4 --gen-tokens 8)
else
  bin="${LGPO_GPU_BIN:-$root/.cuda/dist/lgpo-gpu}"
  device=cuda
  shape=(--model qwen2.5-0.5b --batch 64 --micro-batch 16 --prompt 128 --response 384)
  bench_extra=(--steps 3 --gen-prompts 64 --gen-samples 8 --gen-prompt-len 64 --gen-tokens 512 --gen-budget 90)
  memory_shape=(--model qwen2.5-3b --batch 8 --micro-batch 8 --prompt 512 --response 1024)
  peer_model=qwen2.5-0.5b
  peer_device=cuda
  peer_args=(--batch 64 --micro-batch 16 --prompt 128 --response 384 --steps 3 --gen-prompts 64 --gen-samples 8 --gen-prompt-len 64 --gen-tokens 512 --gen-budget 90)
fi

say() { printf '\n== %s (%ss elapsed)\n' "$*" "$(($(date +%s) - start))"; }

# Runs a step with at most `limit` seconds, and never past the overall budget.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - start)))
  if [ "$left" -lt 20 ]; then
    echo "SKIPPED $name: the time budget is spent"
    failed=1
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "$name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED $name: exit code $rc$([ "$rc" = 124 ] && echo ' (time limit)')"
    failed=1
  fi
}

main() {
  say "lgpo GPU check: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo 'no git'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $([ "$dry" = 1 ] && echo 'CPU dry run' || echo GPU)"

  # 1. The GPU, the driver and CUDA.
  if command -v nvidia-smi >/dev/null; then
    {
      nvidia-smi
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    } >"$out/nvidia-smi.txt" 2>&1
    cat "$out/nvidia-smi.txt"
  else
    echo "nvidia-smi is not on this machine" | tee "$out/nvidia-smi.txt"
    [ "$dry" = 1 ] || failed=1
  fi

  # The CUDA libraries the binary links (cudart, cuBLAS, cuRAND): in the GPU machine's Python
  # environment, inside the nvidia wheels that PyTorch depends on.
  if [ "$dry" = 0 ]; then
    libs="$("$python" -c 'import glob, os, nvidia
print(":".join(sorted({os.path.dirname(p) for base in nvidia.__path__
                       for p in glob.glob(os.path.join(base, "**", "lib*.so*"), recursive=True)})))' 2>/dev/null)"
    if [ -z "$libs" ]; then
      echo "no CUDA libraries found under python3's nvidia packages; set LD_LIBRARY_PATH yourself"
    fi
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  if [ ! -x "$bin" ]; then
    echo "FAILED: $bin is missing; build it with $([ "$dry" = 1 ] && echo 'cargo build --release -p lgpo-gpu' || echo scripts/gpu/build.sh)"
    return 1
  fi
  if command -v ldd >/dev/null && ldd "$bin" | grep -q "not found"; then
    echo "FAILED: libraries of $bin are missing:"
    ldd "$bin" | grep "not found"
    return 1
  fi

  step info 60 "$bin" info --device "$device" --out "$out/info.json"

  # 2. Correctness.
  step check 150 "$bin" check --device "$device" --fixtures "$root/crates/lgpo-core/tests/fixtures" --out "$out/check.json"

  # 2b. The data-parallel all-reduce through NCCL, as a job of one rank (one GPU runs the whole
  #     path); for a binary built with it (scripts/gpu/build.sh's default; not LGPO_GPU_FEATURES=cuda).
  #     Its table goes to run.log (the folder holds at most 8 files).
  if [ "$dry" = 0 ] && "$bin" nccl --probe >/dev/null 2>&1; then
    step nccl 60 "$bin" nccl --device "$device"
  else
    echo "SKIPPED nccl: $([ "$dry" = 1 ] && echo 'a CPU dry run' || echo "$bin was built without the nccl feature")"
  fi

  # 3. Speed.
  step bench 240 "$bin" bench --device "$device" "${shape[@]}" "${bench_extra[@]}" --out "$out/bench.json"

  # 4. The peer: PyTorch + transformers, same work.
  if "$python" -c 'import torch, transformers' 2>/dev/null; then
    config="$(mktemp)"
    "$bin" config --model "$peer_model" >"$config"
    step peer 200 "$python" "$root/scripts/gpu/peer_torch.py" --config "$config" --device "$peer_device" "${peer_args[@]}" --out "$out/peer.json"
    rm -f "$config"
  else
    echo "SKIPPED peer: python3 has no torch + transformers"
    [ "$dry" = 1 ] || failed=1
  fi

  # 5. Memory with and without activation checkpointing.
  step memory 150 "$bin" memory --device "$device" "${memory_shape[@]}" --out "$out/memory.json"

  # 6. The table.
  say summary
  "$bin" summary "$out" --out "$out/summary.json" || failed=1
  if [ -f "$out/check.json" ] && ! grep -q '"passed": true' "$out/check.json"; then
    failed=1
  fi
  say "done: $([ "$failed" = 0 ] && echo 'every step ran and every check passed' || echo 'something FAILED (see above)')"
  return "$failed"
}

# Everything goes to the console and to run.log; the script ends after tee has written it all.
main 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
