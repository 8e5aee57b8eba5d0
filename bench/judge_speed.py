"""Speed of the trained judge on this CPU: judgements per second and ms per judgement.

    .venv/bin/python bench/judge_speed.py [--artifact DIR] [--data DIR] [--n 200]

Three figures, one judgement at a time through the Judge protocol (the way an agent loop
calls it), on reward rows in file order:

- warm: every text already embedded (the agent loop's case: each event is encoded once
  when it arrives and reused by every later judgement);
- new task: events warm, the proposed task text is new (one MiniLM encode per judgement);
- cold: empty embedding cache, so the task and every event in the window are encoded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.settings import data_dir


def _time_calls(judge: Any, rows: list[Any], before: Callable[[Any], None] | None = None) -> list[float]:
    """Seconds per awaited judgement inside one event loop (as an agent loop calls it).

    `before(row)` runs outside the timing (cache resets).
    """
    from proactive.types import Proposal

    async def run_all() -> list[float]:
        timings = []
        for row in rows:
            if before is not None:
                before(row)
            start = time.perf_counter()
            await judge(row.history, Proposal(task=row.task))
            timings.append(time.perf_counter() - start)
        return timings

    return asyncio.run(run_all())


def _summary(name: str, timings: list[float]) -> None:
    ms = np.asarray(timings) * 1000
    print(
        f"{name:10s} n={len(ms):4d}  mean {ms.mean():7.2f} ms  median {np.median(ms):7.2f} ms  "
        f"p95 {np.percentile(ms, 95):7.2f} ms  -> {1000 / ms.mean():8.1f} judgements/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", type=Path, default=None, help="trained-judge folder (default: train one)")
    parser.add_argument("--data", default=None, help="ProactiveBench folder")
    parser.add_argument("--n", type=int, default=200, help="judgements per measurement")
    args = parser.parse_args()
    rows = load_reward_rows(data_dir(args.data) / REWARD_FILE)
    sample = rows[:: max(1, len(rows) // args.n)][: args.n]
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROACTIVE_HOME"] = home  # a fresh embedding cache, so "cold" is really cold
        from proactive.judge.train import train_artifact
        from proactive.judge.trained import create

        artifact = args.artifact
        if artifact is None:
            artifact = Path(home) / "judge"
            start = time.perf_counter()
            train_artifact(data_dir(args.data) / REWARD_FILE, artifact, set(), cv=False)
            print(f"trained on {len(rows)} rows in {time.perf_counter() - start:.1f} s (cold embedding cache)")
        size = sum(p.stat().st_size for p in artifact.iterdir())
        print(f"artifact {artifact}: {size / 1024:.0f} KB")
        judge = create(artifact=artifact)
        from proactive.models.embeddings import EmbeddingCache

        cache = EmbeddingCache(Path(home) / "bench.sqlite")
        judge.builder.embedder = cache.encode

        def forget_everything(_: Any) -> None:
            judge.builder._vectors.clear()
            cache.memory.clear()
            with cache._db:
                cache._db.execute("DELETE FROM vectors")

        def forget_task(row: Any) -> None:
            if row.task:
                judge.builder._vectors.pop(row.task, None)
                cache.memory.pop(row.task, None)
                with cache._db:
                    cache._db.execute("DELETE FROM vectors WHERE key = ?", (cache._key(row.task),))

        _time_calls(judge, sample[:3])  # loads MiniLM once; not part of the figures
        _summary("cold", _time_calls(judge, sample, forget_everything))
        judge.builder.warm([(r.history, r.task) for r in sample])
        _summary("warm", _time_calls(judge, sample))
        _summary("new task", _time_calls(judge, sample, forget_task))
        judge.builder.warm([(r.history, r.task) for r in rows])
        start = time.perf_counter()
        judge.score_pairs([(r.history, r.task) for r in rows])
        batch = time.perf_counter() - start
        print(f"batch      {len(rows)} rows (warm) in {batch:.2f} s -> {batch / len(rows) * 1000:.2f} ms per row")


if __name__ == "__main__":
    main()
