#!/usr/bin/env bash
# The main job: install, fetch the embedded default model, and score the default agent on
# ProactiveBench: `gated` = the shipped situation-signal gate (decides when; built on first
# use from the reward rows, each scored trace gets the member fitted without it) + the offer
# writer on qwen2.5-coder-1.5b (decides what, or declines). With no arguments it runs two
# traces (code_11, writing_11: 35 of 233 events, a few minutes here) and then the fourth blind
# set of our own new traces (185 events nobody chose by); arguments replace that choice and go
# to `proactive bench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PROACTIVEBENCH_DIR="${PROACTIVEBENCH_DIR:-$(cd .. && pwd)/shared/proactivebench}"
proactive models pull qwen2.5-coder-1.5b
AGENT=(--agent gated --gate default --model local/qwen2.5-coder-1.5b)
echo "agent: gated (gate: the shipped situation-signal gate set; writer: the offer writer on qwen2.5-coder-1.5b)"
if [ "$#" -eq 0 ]; then
  proactive bench run "${AGENT[@]}" --traces code_11,writing_11 --out runs/gated-default-2traces
  echo
  echo "On our own hand-labelled new traces (coding, writing, daily life; nobody trained or chose by them):"
  proactive bench new-traces data/new_traces/blind5 "${AGENT[@]}" --out runs/gated-default-blind5
  echo
  echo "All seven sets of new traces (dev, held, blind, blind2, blind3, blind4, blind5: 1084 events; resumable):"
  echo "  .venv/bin/proactive bench new-traces ${AGENT[*]} --out runs/gated-default-new-traces"
  echo
  echo "That was 2 of the 12 test traces. The whole benchmark (233 events; resumable):"
  echo "  .venv/bin/proactive bench run ${AGENT[*]} --out runs/gated-default"
else
  proactive bench run "${AGENT[@]}" "$@"
fi
