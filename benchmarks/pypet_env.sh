#!/usr/bin/env bash
# Create benchmarks/.venv-pypet with pypet 0.7.0 (the peer for side-by-side benchmarks).
# pypet 0.7.0 declares Python >= 3.12 but runs on 3.11; plain `pip install pypet` picks 0.6.1,
# which fails with numpy 2. Idempotent; prints the venv's python.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$here/.venv-pypet
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pypet" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q --ignore-requires-python \
      --only-binary numpy,pandas,tables,numexpr,scipy "pypet==0.7.0" scoop >&2
fi
echo "$venv/bin/python"
