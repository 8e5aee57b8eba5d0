"""How low may the gate's threshold go when the offer writer's declines filter what passes it?

The gate's threshold is chosen for the gate alone (grouped CV on its own rows). But the
agent speaks only where the gate opens *and* the writer offers; the writer declines at
calm moments more often than at moments of need (a click to repeat, nothing to name), so
the pair may do best with the gate opening earlier. This script answers that from one run
of the agent with the gate open everywhere (`--threshold 0`): there the writer was asked
at every event, and since nobody answers offers in these runs, the writer's prompt does not
depend on earlier offers, so "offered at p >= T" is exactly what a run at threshold T does.

    proactive bench new-traces data/new_traces/dev data/new_traces/held --threshold 0 --out runs/nt-t0
    proactive bench run --threshold 0 --no-baselines --out runs/pb-t0
    .venv/bin/python bench/writer_as_second_gate.py --new-traces runs/nt-t0 --pb runs/pb-t0

Each event's threshold is its gate member's own (new traces: the shipped set's `full` member;
ProactiveBench: the member fitted without the trace), lowered by each margin in `--margins`.
Prints, per margin and part, timing F1, balanced accuracy and how often the agent speaks,
beside the gate alone at the same threshold (no writer) and always-propose.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from proactive.bench.metrics import timing_metrics
from proactive.data.labelled import load_labelled_traces
from proactive.gate.default import default_gate_folder
from proactive.metrics import confusion_counts
from proactive.settings import data_dir

ROOT = Path(__file__).resolve().parents[1]
MARGINS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.2]


def member_thresholds(gate_set: Path) -> tuple[dict[str, float], float]:
    """Threshold of each trace's LOTO member (by trace id), and of the `full` member."""
    index = json.loads((gate_set / "index.json").read_text())
    per_trace = {
        entry["trace_id"]: float(json.loads((gate_set / entry["folder"] / "manifest.json").read_text())["threshold"])
        for entry in index["entries"]
    }
    return per_trace, float(json.loads((gate_set / "full" / "manifest.json").read_text())["threshold"])


def records_of(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path}: no records; pass the folder of a finished `--threshold 0` run")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


Row = tuple[float, float, bool, bool]  # gate probability, its threshold, writer offered, help needed


def counts(rows: Sequence[Row], margin: float, writer: bool) -> np.ndarray:
    """(TP, FP, TN, FN) of speaking where the lowered threshold opens (and, with `writer`, the writer offered)."""
    spoke = [p >= threshold - margin and (offered or not writer) for p, threshold, offered, _ in rows]
    return confusion_counts(np.array(spoke), np.array([need for *_, need in rows]))


def new_trace_rows(run: Path, full_threshold: float) -> dict[str, list[Row]]:
    parts: dict[str, list[Row]] = {}
    for folder in (ROOT / "data/new_traces/dev", ROOT / "data/new_traces/held"):
        for labelled in load_labelled_traces(folder):
            records = records_of(run / "records" / f"{labelled.trace.id}.jsonl")
            if len(records) != len(labelled.help_needed):
                raise SystemExit(f"{run}: {labelled.trace.id} has {len(records)} records, expected all events")
            parts.setdefault(labelled.part, []).extend(
                (r["proposal"]["gate_probability"], full_threshold, r["proposal"]["task"] is not None, need)
                for r, need in zip(records, labelled.help_needed, strict=True)
            )
    return parts


def pb_rows(run: Path, per_trace: dict[str, float]) -> list[Row]:
    from proactive.bench.score import score_file
    from proactive.judge.content import LabelBook

    book = LabelBook.load(data_dir(None))
    rows: list[Row] = []
    if not (run / "predictions").is_dir():
        raise SystemExit(f"{run}: no predictions/; pass the folder of a finished `bench run --threshold 0`")
    for prediction in sorted((run / "predictions").glob("*.json")):
        scored = score_file(prediction, book, with_content=False)
        records = records_of(run / "records" / f"{prediction.stem}.jsonl")
        if len(records) != len(scored.outcomes):
            raise SystemExit(f"{run}: {prediction.stem} has {len(records)} records for {len(scored.outcomes)} steps")
        rows.extend(
            (r["proposal"]["gate_probability"], per_trace[scored.trace_id], r["proposal"]["task"] is not None,
             bool(o.help_needed))
            for r, o in zip(records, scored.outcomes, strict=True) if o.help_needed is not None
        )  # fmt: skip
    return rows


def table(name: str, rows: Sequence[Row], margins: Sequence[float]) -> None:
    always = timing_metrics([sum(r[3] for r in rows), sum(not r[3] for r in rows), 0, 0])
    print(f"\n{name}: {len(rows)} events, {sum(r[3] for r in rows)} need help; always-propose F1 {always['f1']:.3f}")
    print("margin | agent F1 | BA | speaks | gate alone F1 | BA")
    for margin in margins:
        agent = timing_metrics(counts(rows, margin, writer=True))
        gate = timing_metrics(counts(rows, margin, writer=False))
        print(
            f"{margin:.2f} | {agent['f1']:.3f} | {agent['balanced_accuracy']:.3f} | {agent['propose_rate']:.0%} | "
            f"{gate['f1']:.3f} | {gate['balanced_accuracy']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-traces", type=Path, help="a `bench new-traces --threshold 0` run of dev + held")
    parser.add_argument("--pb", type=Path, help="a `bench run --threshold 0` run")
    parser.add_argument("--margins", type=float, nargs="+", default=MARGINS)
    args = parser.parse_args()
    per_trace, full = member_thresholds(default_gate_folder(data_dir(None)))
    if args.new_traces:
        parts = new_trace_rows(args.new_traces, full)
        for part, rows in parts.items():
            table(f"new traces, {part}", rows, args.margins)
        table("new traces, all", [row for rows in parts.values() for row in rows], args.margins)
    if args.pb:
        table("ProactiveBench (LOTO members)", pb_rows(args.pb, per_trace), args.margins)


if __name__ == "__main__":
    main()
