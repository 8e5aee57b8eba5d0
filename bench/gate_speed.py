"""How long the trained gate takes per event, as live: each new event encoded once, cold.

Usage: .venv/bin/python bench/gate_speed.py GATE_DIR [--data DIR]
Prints ms per event (mean, median, p95) over every event of the 12 test traces, with a
fresh in-memory embedding cache per trace (so every sentence is encoded on arrival).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("gate", type=Path, help="A gate folder (or a LOTO set: its full gate is used).")
    parser.add_argument("--data", type=Path, default=None, help="ProactiveBench folder.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from proactive.data.loaders import load_test_traces
    from proactive.gate.artifact import pick_gate_folder
    from proactive.gate.trained import TrainedGate
    from proactive.models.embeddings import EmbeddingCache
    from proactive.settings import data_dir

    folder, _ = pick_gate_folder(args.gate, None, allow_seen=True)
    traces = load_test_traces(data_dir(args.data))
    warm = TrainedGate.load(folder, EmbeddingCache(Path(":memory:")).encode)
    warm.probabilities([traces[0].events[:1]])  # load MiniLM once, outside the timing
    timings = []
    for trace in traces:
        gate = TrainedGate.load(folder, EmbeddingCache(Path(":memory:")).encode)
        for i in range(len(trace.events)):
            started = time.perf_counter()
            gate.probabilities([trace.events[: i + 1]])
            timings.append(1000 * (time.perf_counter() - started))
    values = np.array(timings)
    print(
        f"events {len(values)}  ms/event mean {values.mean():.1f}  median {np.median(values):.1f}  "
        f"p95 {np.percentile(values, 95):.1f}  (blocks: {', '.join(warm.manifest.blocks)})"
    )


if __name__ == "__main__":
    main()
