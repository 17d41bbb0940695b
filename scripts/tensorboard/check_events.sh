#!/usr/bin/env bash
# Checks a run directory's TensorBoard event file with TensorBoard's own reader: every scalar of
# metrics.jsonl must be there, at its step, equal in float32. Creates a pinned venv on first use.
#   scripts/tensorboard/check_events.sh RUN_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../../.venv-tensorboard"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "tensorboard==2.21.0" "setuptools<81"
fi
exec "$venv/bin/python" "$here/check_events.py" "$@"
