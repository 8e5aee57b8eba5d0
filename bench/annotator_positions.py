"""Are ProactiveBench's three annotation positions stable people? (issue 19, step 1)

Each reward row with a proposed task and three annotations gives, per position k, that
position's accept (True) or reject. If position k were one person throughout, k's own
earlier labels would predict k's labels on a new trace better than the other positions'
labels do. Per position k and per held-out trace (leave-one-trace-out), predictors of k's
labels, each a smoothed acceptance rate per situation of the latest event
(`proactive.assist.context.situation_of`):

- self, other traces: fitted on k's labels in the other traces;
- others, other traces: fitted on the other two positions' labels in the other traces;
- self, same trace: k's rate on the other rows of the held-out trace (leave-one-row-out);
- others, same trace: the other positions' rate on the other rows of the held-out trace;
- others, same row: the mean of the other two positions' labels on that very row.

Score: log loss per trace (lower is better), then the mean over traces with a 95% t
interval; differences are paired by trace. Only rows with three annotations count (with
two, which position is missing is unknown).

    .venv/bin/python bench/annotator_positions.py [--data DIR]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from proactive.assist.context import situation_of
from proactive.data.labels import row_trace_key
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.settings import data_dir
from proactive.types import AnnotatedRow

PRIOR = 2.0  # pseudo-rows pulling a situation's rate toward the source's overall rate
CLIP = 0.02


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% t interval."""
    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if len(array) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
    return mean, mean - half, mean + half


def rate_model(labels: Sequence[tuple[str, bool]]) -> Callable[[str], float]:
    """Acceptance rate per situation, shrunk toward the overall rate."""
    overall = (sum(y for _, y in labels) + 1.0) / (len(labels) + 2.0)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for situation, label in labels:
        counts[situation][0] += int(label)
        counts[situation][1] += 1

    def predict(situation: str) -> float:
        yes, n = counts.get(situation, (0, 0))
        return (yes + PRIOR * overall) / (n + PRIOR)

    return predict


def log_loss(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    p = np.clip(np.asarray(probabilities, dtype=float), CLIP, 1 - CLIP)
    y = np.asarray(labels, dtype=float)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


PREDICTORS = ("self, other traces", "others, other traces", "self, same trace", "others, same trace",
              "others, same row")  # fmt: skip


def position_losses(rows: Sequence[AnnotatedRow], position: int) -> dict[str, dict[str, float]]:
    """Per predictor, per held-out trace: log loss on position `position`'s labels."""
    by_trace: dict[str, list[tuple[str, list[bool]]]] = defaultdict(list)
    for row in rows:
        by_trace[row_trace_key(row)].append((situation_of(row.history), list(row.annotations)))
    others = [j for j in range(3) if j != position]
    losses: dict[str, dict[str, float]] = {name: {} for name in PREDICTORS}
    for held, items in by_trace.items():
        rest = [item for key, group in by_trace.items() if key != held for item in group]
        self_far = rate_model([(s, a[position]) for s, a in rest])
        others_far = rate_model([(s, a[j]) for s, a in rest for j in others])
        truth = [a[position] for _, a in items]
        predictions: dict[str, list[float]] = {name: [] for name in PREDICTORS}
        for i, (situation, annotation) in enumerate(items):
            near = [item for r, item in enumerate(items) if r != i]
            predictions["self, other traces"].append(self_far(situation))
            predictions["others, other traces"].append(others_far(situation))
            predictions["self, same trace"].append(rate_model([(s, a[position]) for s, a in near])(situation))
            predictions["others, same trace"].append(
                rate_model([(s, a[j]) for s, a in near for j in others])(situation)
            )
            predictions["others, same row"].append(float(np.mean([annotation[j] for j in others])))
        for name in PREDICTORS:
            losses[name][held] = log_loss(predictions[name], truth)
    return losses


def acceptance_spread(rows: Sequence[AnnotatedRow]) -> list[str]:
    """Per position: overall acceptance rate, and its lowest and highest trace rate."""
    lines = []
    for k in range(3):
        per_trace: dict[str, list[bool]] = defaultdict(list)
        for row in rows:
            per_trace[row_trace_key(row)].append(row.annotations[k])
        rates = [float(np.mean(v)) for v in per_trace.values()]
        overall = float(np.mean([row.annotations[k] for row in rows]))
        lines.append(f"| {k + 1} | {overall:.2f} | {min(rates):.2f}–{max(rates):.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ProactiveBench folder (default: the data dir).")
    args = parser.parse_args()
    folder = args.data or data_dir()
    rows = [r for r in load_reward_rows(folder / REWARD_FILE) if r.task is not None and len(r.annotations) == 3]
    traces = sorted({row_trace_key(r) for r in rows})
    print(f"{len(rows)} offer rows with three annotations, {len(traces)} traces")
    print("\n| position | acceptance | range over traces |\n| --- | --- | --- |")
    print("\n".join(acceptance_spread(rows)))
    print("\nlog loss on the position's own labels, mean over traces [95% interval]; lower is better")
    header = "| position | " + " | ".join(PREDICTORS) + " | self − others, other traces | self − others, same trace |"
    print(header + "\n" + "| --- " * (len(PREDICTORS) + 3) + "|")
    for k in range(3):
        losses = position_losses(rows, k)
        cells = []
        for name in PREDICTORS:
            mean, low, high = mean_interval(list(losses[name].values()))
            cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
        for a, b in (("self, other traces", "others, other traces"), ("self, same trace", "others, same trace")):
            diff = [losses[a][t] - losses[b][t] for t in losses[a]]
            mean, low, high = mean_interval(diff)
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        print(f"| {k + 1} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
