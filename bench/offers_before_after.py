"""20 offers at moments of need on our new traces: the old writer beside the new one.

Before: the writer of the earlier `gated` agent, i.e. the `llm` agent in must-propose mode
with its system prompt as committed in db8385e (a menu of four stock tasks; purpose,
thoughts, task, message), read from git so this script needs no old code. It sees what
that agent showed its writer when the gate had been closed until now: all events joined
into one turn. After: the offer writer of `agent/writer.py` on the same history.

    .venv/bin/python bench/offers_before_after.py [--model local/qwen2.5-coder-1.5b] [--out docs/offers_before_after.md]

Prints a Markdown table (and writes it with --out) with, per moment, both tasks and
whether each names one of the moment's labelled objects; then the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path

from proactive.agent.llm_agent import LLMAgent
from proactive.agent.writer import OfferWriter
from proactive.data.labelled import LabelledTrace, load_labelled_traces, names_object
from proactive.models.base import get_model
from proactive.types import AgentConfig, Event, Observation

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "db8385e"
OLD_PROMPT = "src/proactive/prompts/agent_writer_system.j2"


def moments(traces: list[LabelledTrace], count: int) -> list[tuple[LabelledTrace, int]]:
    """The first need event of every trace, then the second ones, until `count`."""
    chosen: list[tuple[LabelledTrace, int]] = []
    for rank in range(4):
        for labelled in traces:
            needs = [i for i, n in enumerate(labelled.help_needed) if n]
            if rank < len(needs) and len(chosen) < count:
                chosen.append((labelled, needs[rank]))
    return chosen


def folded(history: list[Event]) -> list[Event]:
    """The old writer's view after a closed gate: every event joined into the latest one."""
    text = " Then: ".join(event.text for event in history)
    return [history[-1].model_copy(update={"text": text})]


async def main(model_spec: str, count: int, out: Path | None) -> None:
    old_system = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{OLD_PROMPT}"],
                                capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    traces = [t for part in ("dev", "held") for t in load_labelled_traces(ROOT / "data" / "new_traces" / part)]
    model = get_model(model_spec)
    new_writer = OfferWriter(model)
    rows = ["| trace | event (shortened) | before (old writer) | named | after (offer writer) | named |",
            "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    named = {"before": 0, "after": 0}
    spoke = {"before": 0, "after": 0}
    seconds = {"before": 0.0, "after": 0.0}
    for labelled, index in moments(traces, count):
        history = labelled.trace.events[: index + 1]
        objects = labelled.objects[index]
        old_agent = LLMAgent(AgentConfig(model=model_spec, max_tokens=320), model, must_propose=True)
        old_agent.system = old_system
        started = time.perf_counter()
        before = (await old_agent(Observation(history=folded(history)))).proposal.task or ""
        seconds["before"] += time.perf_counter() - started
        started = time.perf_counter()
        offer = await new_writer.write(Observation(history=history))
        seconds["after"] += time.perf_counter() - started
        after = offer.task or f"(silent: {offer.declined})"
        marks = {}
        for name, task, said in (("before", before, bool(before)), ("after", offer.task or "", offer.task is not None)):
            hit = said and names_object(task, objects)
            named[name] += hit
            spoke[name] += said
            marks[name] = "yes" if hit else ("no" if said else "-")
        event = " ".join(history[-1].text.split())[:90].replace("|", "/")
        rows.append(f"| {labelled.trace.id} | {event} | {before.replace('|', '/')} | {marks['before']} | "
                    f"{after.replace('|', '/')} | {marks['after']} |")  # fmt: skip
        print(rows[-1], flush=True)
    total = len(rows) - 2
    summary = [
        "",
        f"{total} moments of need, model {model_spec}: before spoke at {spoke['before']} and named the object in "
        f"{named['before']}; after spoke at {spoke['after']} and named it in {named['after']} "
        f"(declined at {total - spoke['after']}). Seconds per moment: before {seconds['before'] / total:.1f}, "
        f"after {seconds['after'] / total:.1f}.",
    ]
    text = "\n".join(rows + summary) + "\n"
    print(summary[-1])
    if out is not None:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.model, args.count, args.out))
