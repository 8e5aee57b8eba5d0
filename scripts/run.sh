#!/usr/bin/env bash
# The main job: install, fetch the embedded default model, and score the llm agent on
# ProactiveBench with it. With no arguments it runs two traces (code_11, writing_11:
# 35 of 233 events, about 5 minutes here), because the whole benchmark takes about
# 30 minutes on this 2-core CPU; arguments replace that choice and go to `proactive bench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PROACTIVEBENCH_DIR="${PROACTIVEBENCH_DIR:-$(cd .. && pwd)/shared/proactivebench}"
proactive models pull qwen2.5-coder-1.5b
if [ "$#" -eq 0 ]; then
  proactive bench run --agent llm --model local/qwen2.5-coder-1.5b --traces code_11,writing_11 \
    --out runs/llm-qwen1.5b-2traces
  echo
  echo "That was 2 of the 12 test traces. The whole benchmark (233 events, ~30 min here; resumable):"
  echo "  .venv/bin/proactive bench run --agent llm --model local/qwen2.5-coder-1.5b --out runs/llm-qwen1.5b"
else
  proactive bench run --agent llm --model local/qwen2.5-coder-1.5b "$@"
fi
