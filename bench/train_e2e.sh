#!/usr/bin/env bash
# End to end on a CPU: gym traces + the annotated rows of the 4 non-test traces -> SFT data ->
# LoRA fine-tune of qwen2.5-coder-0.5b -> merged -> GGUF -> bench, beside the un-tuned base
# exported through the same dequantize/convert path (bench/export_base_control.py).
# Every step is resumable; re-run the script after any stop. Figures: docs/train.md.
set -euo pipefail
OUT=${OUT:-runs}
DATA=${PROACTIVEBENCH_DIR:-../shared/proactivebench}
TEACHER=${TEACHER:-local/qwen2.5-coder-1.5b}
STEPS=${STEPS:-80}
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$OUT"
test_traces=()
for f in "$DATA"/test_data/*.json; do
  [ "$(basename "$f")" = splits.json ] || test_traces+=(--exclude-traces "$f")
done
# 1. a judge fitted only on the 4 annotated traces that are not test traces (it filters the gym targets)
[ -f "$OUT/judge-nontest/manifest.json" ] || proactive judge train --out "$OUT/judge-nontest" "${test_traces[@]}"
# 2. gym traces written by the teacher playing user and environment
proactive gym run --scenes "$DATA/scenes/scenes.yaml" --out "$OUT/gym-train" --model "$TEACHER" \
  --agent never --max-steps 5 --limit 6 --concurrency 1
# 3. SFT + KTO data (the 12 test traces' rows are left out by default)
proactive train build --out "$OUT/sft-data-512" --traces "$OUT/gym-train" --rows "$DATA/reward_data/train_data.jsonl" \
  --model "$TEACHER" --judge "$OUT/judge-nontest" --max-retries 2 --token-budget 480
# 4. LoRA fine-tune, merge, export
proactive train sft --base qwen2.5-coder-0.5b --data "$OUT/sft-data-512" --out "$OUT/ft-05b" --max-steps "$STEPS" \
  --batch-size 1 --grad-accum 2 --max-length 640 --lr 2e-4 --save-steps 10 --threads 2 --no-gradient-checkpointing
[ -f "$OUT/ft-05b/merged/config.json" ] || proactive train merge --base qwen2.5-coder-0.5b \
  --adapter "$OUT/ft-05b/adapter" --out "$OUT/ft-05b/merged" --threads 2
[ -f "$OUT/ft-05b-q8.gguf" ] || proactive train export-gguf --model "$OUT/ft-05b/merged" --out "$OUT/ft-05b-q8.gguf"
[ -f "$OUT/base-05b-q8.gguf" ] || python bench/export_base_control.py qwen2.5-coder-0.5b "$OUT/base-05b-q8.gguf"
# 5. both on the 12 test traces, human-labels judge (the fine-tuned one is refused if its data touched them)
for name in base-05b-q8 ft-05b-q8; do
  proactive bench run --agent llm --model "local/$PWD/$OUT/$name.gguf" --judge human-labels --out "$OUT/bench-$name"
done
