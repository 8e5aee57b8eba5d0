"""How the shipped gate's blocks were chosen: candidates on ProactiveBench (LOTO) and on our new traces.

For each candidate block set: ProactiveBench's 12 test traces scored leave-one-trace-out
(each by a gate fitted on the other 15 annotated traces), and our own new traces
(`data/new_traces/dev`, the set we chose by; `held` is printed only with --held, for the
final report) scored by a gate fitted on all 16 annotated traces. No gate is ever fitted
on a new trace. Timing figures: F1, balanced accuracy, AUC, share of events opened.
With --train-traces every gate is also fitted on the 48 hand-labelled training traces
(`proactive/gate/train_traces`), as the shipped gate is; they are never scored.

    .venv/bin/python bench/gate_choice.py [--held] [--train-traces] [--blocks signals,keywords]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from proactive.data.labelled import load_labelled_traces, rows_of_labelled
from proactive.gate.default import TRAIN_TRACES
from proactive.gate.evaluate import (
    load_loto_data,
    run_loto,
    score_labelled_traces,
    score_trace_with_trained,
    summarize,
    trained_gate_on_rows,
)
from proactive.gate.training import TrainSpec
from proactive.settings import data_dir

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (
    ("words",),
    ("signals",),
    ("signals", "keywords"),
    ("signals", "keywords", "timing", "position"),
    ("keywords", "recency", "apps", "timing", "position"),
    ("embed_last", "similarity", "keywords", "recency", "apps", "timing", "position"),
)


def main(held: bool, train_traces: bool, only: str | None) -> None:
    loto = load_loto_data(data_dir())
    if train_traces:
        extra = rows_of_labelled(load_labelled_traces(TRAIN_TRACES))
        loto = loto.model_copy(update={"rows": loto.rows + extra})
        print(f"fitting on {len(loto.rows)} rows: the reward rows and {len(extra)} of the training traces")
    candidates = [tuple(only.split(","))] if only else CANDIDATES
    parts = ["dev", "held"] if held else ["dev"]
    new = {part: load_labelled_traces(ROOT / "data" / "new_traces" / part) for part in parts}
    header = "| blocks | PB F1 | PB BA | PB AUC | PB opened | " + " | ".join(
        f"{p} F1 (always) | {p} BA | {p} AUC | {p} opened" for p in parts
    )
    print(header + " |")
    print("|" + " --- |" * (5 + 4 * len(parts)))
    for blocks in candidates:
        spec = TrainSpec(block_sets=[list(blocks)], regularizations=[0.01, 0.03])
        report = summarize("+".join(blocks), run_loto(loto, score_trace_with_trained(spec)))
        cells = [f"{report.f1:.3f}", f"{report.balanced_accuracy:.3f}", f"{report.auc:.3f}",
                 f"{report.opened}/{report.events}"]  # fmt: skip
        gate = trained_gate_on_rows(loto.rows, spec)
        for part in parts:

            def probabilities(trace, gate=gate):  # type: ignore[no-untyped-def]
                prefixes = [trace.events[: i + 1] for i in range(len(trace.events))]
                return [float(p) for p in np.asarray(gate.probabilities(prefixes))]

            scored = summarize(part, score_labelled_traces(new[part], probabilities, gate.threshold))
            cells += [f"{scored.f1:.3f} ({scored.always_propose_f1:.3f})", f"{scored.balanced_accuracy:.3f}",
                      f"{scored.auc:.3f}", f"{scored.opened}/{scored.events}"]  # fmt: skip
        print(f"| {'+'.join(blocks)} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", action="store_true", help="Also score the held-back new traces.")
    parser.add_argument("--train-traces", action="store_true", help="Also fit on the gate's training traces.")
    parser.add_argument("--blocks", default=None, help="Only this block set, comma-separated.")
    args = parser.parse_args()
    main(args.held, args.train_traces, args.blocks)
