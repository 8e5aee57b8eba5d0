"""Latency and cost of the live assistant loop (a benchmark script, not a test).

Replays our own hand-written traces (`data/new_traces`, dev and held: activity that no gate
was ever fitted on), one after another with their times shifted so they follow each
other, through `AssistLoop` with the default agent (the shipped gate + the embedded offer
writer, n_threads=1), a real store and consent, and a presenter that answers at once
("ignored", so no tool runs). Prints:

- event -> presentation latency (median, p95) over the events that were presented;
- where the time goes, per event: the gate, the writer's prefill of new events while the
  gate is closed, the writer when the gate opens (prompt tail + generation), and the rest
  of the loop (store, consent, attention);
- CPU seconds per hour of activity (process CPU time over the replay / hours replayed),
  and that as a share of one core; peak RSS.

`--no-prefill` is the "before" arm of the prefill lever: the writer evaluates its whole
prompt when the gate opens. Run both arms back to back on a quiet machine and compare
them as ratios (absolute times move with the machine's load).

It runs in a fresh, empty state dir, so no answer or embedding comes from a cache. The
notification itself (D-Bus round trip to the daemon) is not included: a few milliseconds
on a local session bus (`DesktopPresenter`).

    .venv/bin/python bench/assist_latency.py                 # default gate, 1.5B writer
    .venv/bin/python bench/assist_latency.py --no-prefill    # the same without prefill
    .venv/bin/python bench/assist_latency.py --events 10     # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from proactive.agent.base import DEFAULT_MODEL, AgentConfig, get_agent
from proactive.assist.attention import Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import Answer, AssistLoop, Moment, StepResult
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox
from proactive.data.labelled import load_labelled_traces

ROOT = Path(__file__).resolve().parents[1]
#: Seconds between the end of one replayed trace and the start of the next.
GAP_S = 300.0


class InstantPresenter:
    """Answers every offer at once with 'ignored' (nothing runs), so only the loop is timed."""

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str = "") -> Answer:
        return "ignored"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def new_trace_moments(limit: int | None) -> list[Moment]:
    """Our new traces' events, the traces placed one after another, GAP_S apart."""
    moments: list[Moment] = []
    clock: float | None = None
    for part in ("dev", "held"):
        for labelled in load_labelled_traces(ROOT / "data" / "new_traces" / part):
            times = [event.seconds or 0.0 for event in labelled.trace.events]
            shift = 0.0 if clock is None else clock + GAP_S - times[0]
            for event, at in zip(labelled.trace.events, times, strict=True):
                if limit is not None and len(moments) >= limit:
                    return moments
                moments.append(Moment(event=event, now=at + shift))
            clock = times[-1] + shift
    return moments


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    total = sum(values)
    return (
        f"{name}: n={len(values)} median {statistics.median(values):.3f} s, p95 {percentile(values, 0.95):.3f} s, "
        f"total {total:.1f} s"
    )


class Timer:
    """Seconds spent in each wrapped coroutine, per call, by name."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}

    def wrap(self, name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.calls.setdefault(name, []).append(time.perf_counter() - started)

        return timed


def instrument(agent: Any, timer: Timer) -> None:
    """Time the gate and the writer's two doors (prefill, write) inside the real agent."""
    gate = agent.gate
    agent.gate = _TimedGate(gate, timer)
    writer = agent._writer_for()
    writer.prefill = timer.wrap("writer prefill (gate closed)", writer.prefill)
    writer.write = timer.wrap("writer (gate open)", writer.write)


class _TimedGate:
    def __init__(self, gate: Any, timer: Timer) -> None:
        self._gate, self.name, self.threshold = gate, gate.name, gate.threshold
        self._call = timer.wrap("gate", gate.__call__)

    async def __call__(self, observation: Any) -> float:
        return float(await self._call(observation))


async def replay(loop: AssistLoop, moments: list[Moment]) -> list[tuple[StepResult, float]]:
    timed: list[tuple[StepResult, float]] = []
    for moment in moments:
        started = time.perf_counter()
        step = await loop.step(moment)
        timed.append((step, time.perf_counter() - started))
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gate", default="default", help="Gate: default (shipped), llm, or a gate folder.")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--events", type=int, default=None, help="Stop after this many events (smoke runs).")
    parser.add_argument("--no-prefill", action="store_true", help="The 'before' arm: no prefill while silent.")
    args = parser.parse_args()
    moments = new_trace_moments(args.events)
    # A fresh state dir: no response or embedding cache hits, as for new live events. The
    # shipped gate is built there on first use (seconds); that is outside the timed loop.
    state = tempfile.TemporaryDirectory(prefix="assist-bench-")
    models_home = Path(os.environ.get("PROACTIVE_HOME", Path.home() / ".local/share/proactive"))
    os.environ["PROACTIVE_HOME"] = state.name
    (Path(state.name) / "models").symlink_to(models_home / "models")
    activity_h = max(moments[-1].now - moments[0].now, 1.0) / 3600.0
    agent = get_agent("gated", AgentConfig(gate=args.gate, model=args.model))
    agent.prefill = not args.no_prefill
    timer = Timer()
    instrument(agent, timer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, AssistStore(Path(tmp) / "assist.sqlite3") as store:
        toolbox = ToolBox(Path(tmp) / "drafts", args.model)
        loop = AssistLoop(agent, store, Consent(), toolbox, InstantPresenter(), attention=Attention(max_per_hour=1000))
        timed = asyncio.run(replay(loop, moments))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    presented = [s.latency_s for s, _ in timed if s.latency_s is not None]
    steps_total = sum(t for _, t in timed)
    accounted = sum(sum(values) for values in timer.calls.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arm = "no prefill (before)" if args.no_prefill else "prefill (after)"
    print(f"arm: {arm}; gate {args.gate}; writer {args.model}")
    print(f"events {len(timed)} over {activity_h * 60:.1f} min of activity; presented {len(presented)}; "
          f"writer calls {agent.writer_calls}, declined {agent.declined}")  # fmt: skip
    print(describe("event -> presentation", presented))
    print("where the time goes (all events):")
    for name, values in timer.calls.items():
        print("  " + describe(name, values))
    print(f"  rest of the loop (store, consent, attention): total {steps_total - accounted:.1f} s")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (the model loads on the first event)")
    print(f"CPU seconds per hour of activity {cpu / activity_h:.1f} = {cpu / activity_h / 36:.2f}% of one core")
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
