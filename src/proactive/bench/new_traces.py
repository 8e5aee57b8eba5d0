"""`proactive bench new-traces`: an agent on our own hand-labelled traces, activity nobody trained on.

The traces (`data/new_traces/`, format in `data/labelled.py`) are written unlike the
released ones (other settings, other phrasing, daily life) and labelled by hand with when
help is welcome and what a specific offer names. No learned part is fitted on them, so
their figures say how an agent carries over to a person's own activity:

- timing: precision, recall, F1 and balanced accuracy of "spoke" against `help_needed`,
  beside always-propose's F1 on the same events;
- grounding: of the offers at moments of need, the share naming one of the event's objects;
- distinct: distinct tasks / tasks (case, spaces and edge punctuation ignored), over new
  offers: an unanswered offer said again while it stands (`Proposal.repeats`) is the same
  offer, not another task, and `standing` counts those repeats;
- prompt copies: share of tasks holding `COPY_WORDS` consecutive words of the writer's prompt;
- seconds per offer: the agent's time at events where it spoke (median, p95), over the offers
  whose answer was not read from the response cache (`timed_offers`).

Each event is appended to `records/<trace>.jsonl` as it finishes (the bench's record
log), so a stopped run resumes where it stopped; a folder holding other settings is refused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from proactive.agent.base import AgentConfig
from proactive.agent.writer import copies_prompt, prompt_shingles
from proactive.bench.runner import build_agent, run_event, traces_seen_by_model
from proactive.bench.store import EventRecord, RecordLog
from proactive.data.labelled import LabelledTrace, load_labelled_traces, names_object
from proactive.data.labels import trace_key_of_events
from proactive.errors import UserError
from proactive.fileio import write_atomic
from proactive.metrics import classification_metrics, confusion_counts, zero_undefined
from proactive.types import silence_form

SETTINGS_FILE = "settings.json"
METRICS_FILE = "metrics.json"


class NewTraceSettings(BaseModel):
    """What `bench new-traces` was asked to run (a resumed folder must match)."""

    agent: str = Field(description="Registered agent name.")
    model: str | None = Field(default=None, description="Chat model of model-backed agents.")
    gate: str | None = Field(default=None, description="Gate spec of the gated agent.")
    threshold: float | None = Field(default=None, description="Gate threshold override.")
    max_tokens: int = Field(default=320, description="Generation cap per answer.")
    folders: list[str] = Field(description="Folders of labelled traces.")


def _open(out: Path, settings: NewTraceSettings) -> None:
    path = out / SETTINGS_FILE
    if path.is_file():
        theirs = json.loads(path.read_text(encoding="utf-8"))
        if theirs != settings.model_dump():
            differ = sorted(k for k in theirs if theirs.get(k) != settings.model_dump().get(k))
            raise UserError(f"{path}: holds another run ({', '.join(differ)} differ); pass another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, settings.model_dump_json(indent=2))


async def _run_trace(settings: NewTraceSettings, labelled: LabelledTrace, log: RecordLog) -> list[EventRecord]:
    trace = labelled.trace
    records = log.load()
    if len(records) >= len(trace.events):
        return records[: len(trace.events)]
    config = AgentConfig(model=settings.model, gate=settings.gate, threshold=settings.threshold,
                         max_tokens=settings.max_tokens)  # fmt: skip
    # No learned part knows these traces, so a gate set gives its `full` member; one fitted on
    # this trace (e.g. `gate train` on data/new_traces) is refused, as in `bench run`.
    agent = build_agent(settings.agent, config, trace_key=trace_key_of_events(trace.events))
    for index in range(len(records), len(trace.events)):
        record = await run_event(agent, None, trace, index, records, 0)
        log.append(record)
        records.append(record)
    return records


def refuse_seen_model(model: str | None, traces: Sequence[LabelledTrace]) -> None:
    """One line, before anything is written, when a fine-tuned model's data touched a scored trace."""
    record, seen = traces_seen_by_model(model, [t.trace for t in traces])
    if record is not None and seen:
        raise UserError(
            f"--model {model}: fine-tuned on data from the scored trace(s) {', '.join(seen)} "
            f"({record.manifests[0]}); build its data without them (`--traces` of other folders)"
        )


def run_new_traces(
    settings: NewTraceSettings, out: Path, advance: Callable[[int], None] | None = None
) -> dict[str, list[EventRecord]]:
    """Run (or resume) the agent over every labelled trace of `settings.folders`."""
    traces = [t for folder in settings.folders for t in load_labelled_traces(Path(folder))]
    refuse_seen_model(settings.model, traces)
    _open(out, settings)
    results: dict[str, list[EventRecord]] = {}
    for labelled in traces:
        log = RecordLog(out / "records" / f"{labelled.trace.id}.jsonl")
        results[labelled.trace.id] = asyncio.run(_run_trace(settings, labelled, log))
        if advance is not None:
            advance(len(labelled.trace.events))
    return results


def _timing(spoke: Sequence[bool], need: Sequence[bool]) -> dict[str, float]:
    counts = confusion_counts(np.array(spoke, dtype=bool), np.array(need, dtype=bool))
    figures = zero_undefined(classification_metrics(counts))
    return {name: figures[name] for name in ("precision", "recall", "f1", "balanced_accuracy")}


def score_new_traces(traces: Sequence[LabelledTrace], records: dict[str, list[EventRecord]]) -> dict[str, Any]:
    """The figures of the module docstring, over all traces and per setting."""
    shingles = prompt_shingles()
    groups: dict[str, list[tuple[LabelledTrace, list[EventRecord]]]] = {"all": []}
    for labelled in traces:
        pair = (labelled, records[labelled.trace.id])
        groups["all"].append(pair)
        groups.setdefault(labelled.setting, []).append(pair)
        if len({t.part for t in traces}) > 1:  # e.g. dev and held, reported apart too
            groups.setdefault(f"part:{labelled.part}", []).append(pair)
    report: dict[str, Any] = {}
    for name, pairs in groups.items():
        spoke = [not r.proposal.is_silence for _, rs in pairs for r in rs]
        need = [n for lt, _ in pairs for n in lt.help_needed]
        offered = [r.proposal for _, rs in pairs for r in rs if not r.proposal.is_silence]
        tasks = [p.task or "" for p in offered if p.repeats is None]
        at_need = [
            names_object(r.proposal.task or "", lt.objects[r.index])
            for lt, rs in pairs for r in rs if lt.help_needed[r.index] and not r.proposal.is_silence
        ]  # fmt: skip
        # An answer from the response cache took no model time: such offers are not timed.
        seconds = [r.agent_seconds for _, rs in pairs for r in rs if not r.proposal.is_silence and not r.cached]
        report[name] = {
            "events": len(need),
            "need": int(sum(need)),
            "spoke": int(sum(spoke)),
            **_timing(spoke, need),
            "always_f1": _timing([True] * len(need), need)["f1"],
            "offers_at_need": len(at_need),
            "grounded": float(np.mean(at_need)) if at_need else 0.0,
            "distinct": len({silence_form(t) for t in tasks}) / len(tasks) if tasks else 0.0,
            "standing": len(offered) - len(tasks),
            "prompt_copies": float(np.mean([copies_prompt(t, shingles) for t in tasks])) if tasks else 0.0,
            "seconds_per_offer_median": float(np.median(seconds)) if seconds else 0.0,
            "seconds_per_offer_p95": float(np.percentile(seconds, 95)) if seconds else 0.0,
            "timed_offers": len(seconds),
        }
    return report


def write_metrics(out: Path, report: dict[str, Any]) -> Path:
    """metrics.json of a new-traces run."""
    path = out / METRICS_FILE
    write_atomic(path, json.dumps(report, indent=2))
    return path
