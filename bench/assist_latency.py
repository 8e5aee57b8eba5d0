"""Latency and cost of the live assistant loop (a benchmark script, not a test).

Replays about an hour of recorded activity (test traces played one after another, their
times shifted so they follow each other) through `AssistLoop` with the gated agent
(trained gate + embedded writer, n_threads=1), a real store and consent, and a presenter
that answers at once ("ignored", so no tool runs and the threshold moves as it would
for a person who never answers). Prints:

- event -> presentation latency (median, p95) over the events that were presented, and
  split by where the time goes: gate-only events (silent) vs gate + writer events;
- CPU seconds per hour of activity (process CPU time over the replay / hours replayed),
  and that as a share of one core;
- peak RSS.

It runs in a fresh, empty state dir, so no answer or embedding comes from a cache.

The notification itself (D-Bus round trip to the daemon) is not included: it is what
`DesktopPresenter` adds on top, a few milliseconds on a local session bus.

    .venv/bin/python bench/assist_latency.py --gate runs/gate-loto --model local/qwen2.5-coder-1.5b
    .venv/bin/python bench/assist_latency.py --gate runs/gate-loto --events 3     # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from proactive.agent.base import AgentConfig, get_agent
from proactive.assist.attention import Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import Answer, AssistLoop, Moment, StepResult
from proactive.assist.simulate import day_shifts
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox
from proactive.data.loaders import load_test_traces
from proactive.settings import data_dir


class InstantPresenter:
    """Answers every offer at once with 'ignored' (nothing runs), so only the loop is timed."""

    async def show(self, proposal_id: int, task: str, reason: str, token: str) -> Answer:
        return "ignored"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def hour_of_moments(minutes: float, limit: int | None) -> list[Moment]:
    """Test-trace events shifted into one stretch of activity of `minutes` minutes (or `limit` events)."""
    traces = load_test_traces(data_dir(None))
    moments: list[Moment] = []
    start: float | None = None
    for trace, shift in zip(traces, day_shifts(traces), strict=True):
        for event in trace.events:
            now = (event.seconds or 0.0) + shift
            start = now if start is None else start
            if now - start > minutes * 60 or (limit is not None and len(moments) >= limit):
                return moments
            moments.append(Moment(event=event, now=now))
    return moments


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return f"{name}: n={len(values)} median {statistics.median(values):.3f} s, p95 {percentile(values, 0.95):.3f} s"


async def replay(loop: AssistLoop, moments: list[Moment]) -> list[tuple[StepResult, float]]:
    timed: list[tuple[StepResult, float]] = []
    for moment in moments:
        started = time.perf_counter()
        step = await loop.step(moment)
        timed.append((step, time.perf_counter() - started))
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gate", required=True, help="Gate folder or LOTO set (its 'full' gate is used live).")
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    parser.add_argument("--minutes", type=float, default=60.0, help="Activity to replay, minutes.")
    parser.add_argument("--events", type=int, default=None, help="Stop after this many events (smoke runs).")
    args = parser.parse_args()
    moments = hour_of_moments(args.minutes, args.events)
    # A fresh state dir: no response or embedding cache hits, as for new live events.
    state = tempfile.TemporaryDirectory(prefix="assist-bench-")
    os.environ["PROACTIVE_HOME"] = state.name
    activity_h = max(moments[-1].now - moments[0].now, 1.0) / 3600.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    agent = get_agent("gated", AgentConfig(gate=args.gate, model=args.model))
    with tempfile.TemporaryDirectory() as tmp, AssistStore(Path(tmp) / "assist.sqlite3") as store:
        toolbox = ToolBox(Path(tmp) / "drafts", args.model)
        loop = AssistLoop(agent, store, Consent(), toolbox, InstantPresenter(), attention=Attention(max_per_hour=1000))
        timed = asyncio.run(replay(loop, moments))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    presented = [s.latency_s for s, _ in timed if s.latency_s is not None]
    silent = [t for s, t in timed if s.task is None]
    written = [t for s, t in timed if s.task is not None]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"events {len(timed)} over {activity_h * 60:.1f} min of activity; presented {len(presented)}; "
          f"writer calls {getattr(agent, 'writer_calls', '?')}; pid {os.getpid()}")  # fmt: skip
    print(describe("event -> presentation", presented))
    print(describe("gate only (silent events)", silent))
    print(describe("gate + writer (proposing events)", written))
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (includes loading the gate and the model once)")
    print(f"CPU seconds per hour of activity {cpu / activity_h:.1f} = {cpu / activity_h / 36:.2f}% of one core")
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
