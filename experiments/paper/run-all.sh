#!/usr/bin/env bash
# Every reproduction sweep, in the order of docs/reproduction.md's priorities; each skips what is
# done, so this can be stopped and run again. Pass --quick to run each arm for 2 steps.
set -euo pipefail
cd "$(dirname "$0")/../.."
for plan in claim-2 claim-1 claim-3 claim-5 claim-4 claim-6 beyond-updates beyond-tau; do
  node ts/bin/lgpo-run.js sweep "experiments/paper/$plan.yaml" "$@"
done
# The second setting starts from a base that is built, not shipped (configs/sft4/base.yaml).
sft4=.cache/bases/countdown-tiny-sft4
if [ ! -f "$sft4/model.safetensors" ]; then
  node scripts/tiny-model/build.mjs --recipe scripts/tiny-model/recipe-sft4.yaml --out "$sft4" --work .cache/tiny-model-sft4
fi
node ts/bin/lgpo-run.js sweep experiments/paper/setting-sft4.yaml "$@"
