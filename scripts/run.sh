#!/usr/bin/env bash
# The main job: install, fetch the embedded default model, and score the llm agent on
# ProactiveBench with it. Extra arguments go to `proactive bench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PROACTIVEBENCH_DIR="${PROACTIVEBENCH_DIR:-$(cd .. && pwd)/shared/proactivebench}"
proactive models pull qwen2.5-coder-1.5b
proactive bench run --agent llm --model local/qwen2.5-coder-1.5b --out runs/llm-qwen1.5b "$@"
