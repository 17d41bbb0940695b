#!/usr/bin/env bash
# Creates .venv-peer (git-ignored) at the repository root with the pinned Python stack that lgpo is
# compared with: PyTorch and transformers at the fixture scripts' pins (scripts/fixtures/) and TRL.
# Only the peer benchmarks use it; tests and CI never run Python.
#
# The default index's Linux wheel of torch carries CUDA libraries it does not use on CPU; point
# pip at PyTorch's CPU wheel index (PIP_INDEX_URL / PIP_EXTRA_INDEX_URL) to get the smaller CPU
# build of the same version.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-peer"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet torch==2.9.1 transformers==4.57.1 trl==0.24.0 safetensors numpy
echo "$venv"
