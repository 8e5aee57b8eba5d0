"""20 offers of each writer at the same moments of need on our new traces, side by side (issue 18).

The moments are those of `bench/offers_before_after.py` (the first moment of need of every
trace, then the second ones, until `--count`). Each writer (`agent/writer.py`'s offer writer on
a given model) sees the same history with no earlier offers, in one process, one after
another, so the seconds are comparable (a cold prompt: the whole log is read, unlike the live
loop, which prefills it while the gate is closed).

    .venv/bin/python bench/writers_side_by_side.py \\
        --writer "tuned 0.5B=local/$PWD/runs/writer-05b-q8.gguf" --writer "base 0.5B=local/qwen2.5-coder-0.5b" \\
        --writer "1.5B=local/qwen2.5-coder-1.5b" [--out docs/writers_side_by_side.md]

A model that saw one of these traces is refused (`bench new-traces`' rule).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from proactive.agent.writer import OfferWriter
from proactive.bench.new_traces import refuse_seen_model
from proactive.data.labelled import load_labelled_traces, names_object
from proactive.errors import UserError
from proactive.models.base import get_model
from proactive.types import Observation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offers_before_after import moments

ROOT = Path(__file__).resolve().parents[1]


async def main(writers: list[tuple[str, str]], count: int, out: Path | None) -> None:
    traces = [t for part in ("dev", "held") for t in load_labelled_traces(ROOT / "data" / "new_traces" / part)]
    chosen = moments(traces, count)
    tasks: dict[str, list[str | None]] = {}
    seconds: dict[str, float] = {}
    for name, spec in writers:
        refuse_seen_model(spec, traces)
        writer = OfferWriter(get_model(spec))
        tasks[name], seconds[name] = [], 0.0
        for labelled, index in chosen:
            started = time.perf_counter()
            offer = await writer.write(Observation(history=labelled.trace.events[: index + 1]))
            seconds[name] += time.perf_counter() - started
            tasks[name].append(offer.task)
        print(f"{name}: done", file=sys.stderr, flush=True)
    header = "| trace | event (shortened) | " + " | ".join(name for name, _ in writers) + " |"
    rows = [header, "| --- | --- |" + " --- |" * len(writers)]
    named = {name: 0 for name, _ in writers}
    for row, (labelled, index) in enumerate(chosen):
        cells = []
        for name, _ in writers:
            task = tasks[name][row]
            hit = task is not None and names_object(task, labelled.objects[index])
            named[name] += hit
            mark = "(silent)" if task is None else f"{task.replace('|', '/')} {'**named**' if hit else ''}".strip()
            cells.append(mark)
        event = " ".join(labelled.trace.events[index].text.split())[:80].replace("|", "/")
        rows.append(f"| {labelled.trace.id} | {event} | " + " | ".join(cells) + " |")
    summary = [""] + [
        f"- {name}: spoke at {sum(t is not None for t in tasks[name])} of {len(chosen)}, named the labelled object "
        f"at {named[name]}, {seconds[name] / max(1, len(chosen)):.2f} s per moment (cold prompt)"
        for name, _ in writers
    ]
    text = "\n".join(rows + summary) + "\n"
    print(text)
    if out is not None:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writer", action="append", required=True, help="NAME=MODEL_SPEC (repeat)")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    pairs = []
    for item in args.writer:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise SystemExit(f"error: --writer {item!r}: expected NAME=MODEL_SPEC")
        pairs.append((name, spec))
    try:
        asyncio.run(main(pairs, args.count, args.out))
    except UserError as error:
        raise SystemExit(f"error: {error}") from None
