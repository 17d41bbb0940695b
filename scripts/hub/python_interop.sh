#!/usr/bin/env bash
# Cross-checks lgpo's hub cache against huggingface_hub's (a pinned version in its own venv):
# both download from a local fake hub, the trees must be identical and each must read the other's
# offline. Needs Python 3 and PyPI; not part of `npm test`. Usage: scripts/hub/python_interop.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${LGPO_INTEROP_VENV:-${TMPDIR:-/tmp}/lgpo-hf-interop-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet huggingface_hub==2.4.0
fi
PYTHON="$VENV/bin/python" npx vite-node scripts/hub/python_interop.ts
