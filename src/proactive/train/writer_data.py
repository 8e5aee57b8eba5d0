"""Writer SFT data: the offer writer's own conversation at moments of need, with a target that names the work.

The agent splits the question: the gate decides *when*, the writer *what* (`agent/writer.py`).
So the writer is fitted only where help is wanted, towards grounded, specific offers:

- **Hand-labelled traces** (default: the gate's training traces, `gate/train_traces`; never
  `data/new_traces`, which are for scoring): at each moment of need the teacher writer (the
  shipped `OfferWriter` on the teacher model) answers greedily, then with `samples` seeds at
  `SAMPLE_TEMPERATURE`. The target is the first candidate the writer's own checks let through
  that names one of the moment's labelled objects; a moment with none is dropped (counted).
- **Annotated reward rows** of the non-test traces (`--rows`): at each event the annotators
  said needed help, their most-accepted candidate (`rows_source.decide`), kept when the
  writer's checks let it through (the released agent's tasks often retell the event).

Each example is `writer_messages(observation)` plus the assistant turn `{"task": "..."}`: the
exact conversation the deployed writer sees. Rows of the 12 test traces are left out unless
`keep_test_traces`; the manifest lists every trace the examples came from, and a model fitted
on them carries that list, so the bench refuses to score it on any of them.

Resumable: each moment's outcome is appended to `work.jsonl` (`fileio.DurableLog`) when it is
decided; a re-run skips the moments already there and rebuilds `sft.jsonl` from the log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.agent.writer import OfferWriter, decline_reason, prompt_shingles, writer_messages
from proactive.data.labelled import LabelledTrace, names_object
from proactive.data.labels import trace_key_of_events
from proactive.errors import DataError, UserError
from proactive.fileio import DurableLog, write_atomic
from proactive.models.base import ChatModel, Message
from proactive.provenance import code_version, file_sha256, now_utc
from proactive.train.manifest import DatasetManifest, SourceRef, save_dataset_manifest
from proactive.train.rows_source import row_events
from proactive.types import AnnotatedRow, Event, Observation

SFT_FILE = "sft.jsonl"
WORK_FILE = "work.jsonl"
SETTINGS_FILE = "settings.json"
SAMPLE_TEMPERATURE = 0.7


class Moment(BaseModel):
    """One moment of need: where it came from, the history, and how a target is accepted."""

    source: str = Field(description="'labelled' or 'rows'.")
    trace_key: str
    index: int = Field(description="0-based event index.")
    history: list[Event]
    objects: list[str] = Field(default_factory=list, description="Labelled objects (labelled traces only).")
    task: str | None = Field(default=None, description="The annotators' task (reward rows only).")

    @property
    def key(self) -> str:
        return f"{self.source}|{self.trace_key}|{self.index}"


class Outcome(BaseModel):
    """What was decided for one moment (a line of the work log)."""

    key: str
    source: str
    trace_key: str
    task: str | None = Field(description="The target, or None when the moment was dropped.")
    why: str = Field(default="", description="Why the moment was dropped, or which candidate was kept.")
    candidates: list[str] = Field(default_factory=list, description="What the teacher wrote (labelled only).")
    # Plain dicts (Message is a typing.TypedDict, which pydantic refuses on Python 3.11).
    messages: list[dict[str, str]] = Field(default_factory=list, description="The writer's conversation and target.")


def labelled_moments(traces: Sequence[LabelledTrace]) -> list[Moment]:
    """Every moment of need of the labelled traces, in trace order (the teacher's KV cache reuses the log)."""
    return [
        Moment(source="labelled", trace_key=trace_key_of_events(lt.trace.events), index=i,
               history=list(lt.trace.events[: i + 1]), objects=lt.objects[i])
        for lt in traces for i, need in enumerate(lt.help_needed) if need
    ]  # fmt: skip


def row_moments(rows: Sequence[AnnotatedRow]) -> list[Moment]:
    """Every annotated event where help was needed and a candidate was accepted."""
    by_key = {(trace_key_of_events(r.history), len(r.history) - 1): r.history for r in rows}
    return [
        Moment(source="rows", trace_key=event.trace_key, index=event.index,
               history=list(by_key[(event.trace_key, event.index)]), task=event.task)
        for event in row_events(rows) if event.help_needed and event.task
    ]  # fmt: skip


def _conversation(messages: Sequence[Message], task: str) -> list[dict[str, str]]:
    """The writer's conversation with `task` as the assistant's answer, in the schema's JSON."""
    target = {"role": "assistant", "content": json.dumps({"task": task}, ensure_ascii=False)}
    return [{"role": m["role"], "content": m["content"]} for m in messages] + [target]


async def decide(moment: Moment, writer: OfferWriter | None, samples: int) -> Outcome:
    """The target of one moment (see the module docstring), or a dropped outcome with the reason."""
    observation = Observation(history=moment.history)
    messages = writer_messages(observation)
    outcome = Outcome(key=moment.key, source=moment.source, trace_key=moment.trace_key, task=None)
    if moment.source == "rows":
        task = " ".join((moment.task or "").split())
        reason = decline_reason(task, observation, prompt_shingles())
        outcome.why = reason or "the annotators' accepted candidate"
        if not reason:
            outcome.task, outcome.messages = task, _conversation(messages, task)
        return outcome
    if writer is None:
        raise UserError("labelled traces need a teacher model: pass --teacher, e.g. --teacher local/qwen2.5-coder-1.5b")
    for draw in range(samples + 1):  # draw 0 is greedy, then one seed per sample
        offer = await (writer.write(observation) if draw == 0 else
                       writer.write(observation, temperature=SAMPLE_TEMPERATURE, seed=draw))  # fmt: skip
        written = offer.task or offer.candidate
        if written:
            outcome.candidates.append(written)
        if offer.task and names_object(offer.task, moment.objects):
            outcome.task, outcome.why = offer.task, ("greedy" if draw == 0 else f"seed {draw}")
            outcome.messages = _conversation(messages, offer.task)
            return outcome
    outcome.why = f"none of {samples + 1} candidates passed the writer's checks and named a labelled object"
    return outcome


def check_settings(out: Path, teacher_spec: str | None, samples: int, sources: list[SourceRef]) -> dict[str, Any]:
    """This build's settings; refuses (one line) to resume a folder built with other inputs, teacher or samples."""
    settings = {"teacher": teacher_spec, "samples": samples, "sources": [s.model_dump() for s in sources]}
    path = out / SETTINGS_FILE
    if path.is_file() and json.loads(path.read_text(encoding="utf-8")) != settings:
        raise UserError(f"{out}: built with other inputs, teacher or --samples; use a new --out folder")
    return settings


def _parse(path: Path) -> Callable[[bytes, int], Outcome]:
    def parse(line: bytes, index: int) -> Outcome:
        try:
            return Outcome.model_validate_json(line)
        except ValueError:
            raise DataError(path, f"line {index + 1}", "", "not an outcome line; delete the line to redo it") from None

    return parse


def build_writer_data(
    out: Path,
    moments: Sequence[Moment],
    teacher: ChatModel | None,
    teacher_spec: str | None,
    samples: int,
    sources: list[SourceRef],
    excluded_test_rows: int,
    advance: Callable[[int], None] = lambda n: None,
) -> DatasetManifest:
    """Decide every moment (resuming from the work log), then write `sft.jsonl` and `manifest.json`."""
    settings = check_settings(out, teacher_spec, samples, sources)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
    log = DurableLog(out / WORK_FILE)
    done = {o.key: o for o in log.load(_parse(log.path))}
    advance(sum(m.key in done for m in moments))
    writer = OfferWriter(teacher) if teacher is not None else None
    for moment in moments:
        if moment.key in done:
            continue
        outcome = asyncio.run(decide(moment, writer, samples))
        log.append(outcome.model_dump_json())
        done[outcome.key] = outcome
        advance(1)
    kept = [done[m.key] for m in moments if done[m.key].task]
    write_atomic(out / SFT_FILE, "".join(json.dumps({"messages": o.messages}, ensure_ascii=False) + "\n" for o in kept))
    counts: dict[str, Any] = {"examples": len(kept)}
    for source in ("labelled", "rows"):
        mine = [done[m.key] for m in moments if m.source == source]
        counts[f"{source}_moments"] = len(mine)
        counts[f"{source}_kept"] = sum(o.task is not None for o in mine)
    counts["labelled_greedy"] = sum(o.why == "greedy" for o in kept)
    keys = sorted({o.trace_key for o in kept})
    manifest = DatasetManifest(
        kind="writer-sft", created=now_utc(), code_version=code_version(), sources=sources, counts=counts,
        trace_keys=keys, training_traces=keys, teacher=teacher_spec, token_budget=0,
        excluded_test_rows=excluded_test_rows,
    )  # fmt: skip
    save_dataset_manifest(out, manifest)
    return manifest


def labelled_source(folder: Path) -> SourceRef:
    from proactive.train.build import folder_sha256

    return SourceRef(kind="labelled-traces", path=str(folder), sha256=folder_sha256(sorted(folder.glob("*.json"))))


def rows_source(path: Path) -> SourceRef:
    return SourceRef(kind="reward-rows", path=str(path), sha256=file_sha256(path))
