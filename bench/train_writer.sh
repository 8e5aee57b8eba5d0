#!/usr/bin/env bash
# The offer writer's fine-tuning recipe, end to end, one command (issue 18):
#   writer SFT data at moments of need -> LoRA SFT of qwen2.5-coder-0.5b -> merge -> GGUF ->
#   the tuned 0.5B beside the base 0.5B and the 1.5B as the default agent's writer, on our new
#   traces (grounding, distinct, seconds per offer) and on ProactiveBench (human-labels content
#   share, LOTO judge accept rate), the gate the same for all three.
# Every step is resumable: re-run the script after any stop. Runs unchanged on a GPU box
# (the trainer puts the model on the GPU; raise STEPS, add --traces folders of gym traces
# labelled by hand). Figures and the CPU cost here: docs/train.md.
#
#   bash bench/train_writer.sh                      # defaults below
#   STEPS=400 OUT=/data/runs bash bench/train_writer.sh
set -euo pipefail
OUT=${OUT:-runs}
DATA=${PROACTIVEBENCH_DIR:-../shared/proactivebench}
TEACHER=${TEACHER:-local/qwen2.5-coder-1.5b}
STEPS=${STEPS:-60}
THREADS=${THREADS:-2}
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$OUT"
# 1. data: the gate's 24 training traces (teacher candidates that name a labelled object) and the
#    annotators' accepted tasks of the 4 non-test traces; the 12 test traces are left out.
proactive train writer-data --out "$OUT/writer-data" --rows "$DATA/reward_data/train_data.jsonl" \
  --teacher "$TEACHER" --samples 3
# 2. LoRA SFT of the 0.5B on the writer's own conversations (the loss on the {"task": ...} answer only)
proactive train sft --base qwen2.5-coder-0.5b --data "$OUT/writer-data" --out "$OUT/writer-05b" \
  --max-steps "$STEPS" --batch-size 1 --grad-accum 2 --max-length 1024 --lr 2e-4 --save-steps 10 \
  --threads "$THREADS" --no-gradient-checkpointing
[ -f "$OUT/writer-05b/merged/config.json" ] || proactive train merge --base qwen2.5-coder-0.5b \
  --adapter "$OUT/writer-05b/adapter" --out "$OUT/writer-05b/merged" --threads "$THREADS"
[ -f "$OUT/writer-05b-q8.gguf" ] || proactive train export-gguf --model "$OUT/writer-05b/merged" \
  --out "$OUT/writer-05b-q8.gguf"
# 3. the three writers behind the same default gate
for spec in "local/$PWD/$OUT/writer-05b-q8.gguf" local/qwen2.5-coder-0.5b local/qwen2.5-coder-1.5b; do
  name=$(basename "$spec" .gguf)
  proactive bench new-traces --model "$spec" --out "$OUT/writer-new-traces-$name"
  proactive bench run --model "$spec" --out "$OUT/writer-pb-$name"
  [ -f "$OUT/judge-loto/index.json" ] || proactive judge train --loto --out "$OUT/judge-loto"
  proactive bench run --model "$spec" --judge "$OUT/judge-loto" --out "$OUT/writer-pb-loto-$name"
done
