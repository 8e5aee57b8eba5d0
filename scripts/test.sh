#!/usr/bin/env bash
# The test command: installs everything (apt + pip), then ruff, mypy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PROACTIVEBENCH_DIR="${PROACTIVEBENCH_DIR:-$(cd .. && pwd)/shared/proactivebench}"
echo "== ruff"; ruff check src tests scripts bench
echo "== mypy"; mypy
echo "== models"; proactive models pull smollm2-135m
echo "== doctor"; proactive doctor  # exits 1, naming the fix, when the install is broken
echo "== pytest"; pytest -q -rs "$@"
