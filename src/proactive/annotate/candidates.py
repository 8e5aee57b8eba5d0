"""Candidate tasks for annotation: several models propose at every event; the most diverse are kept.

Each model runs as the `llm` agent's writer (`must_propose=True`), so it proposes a task after
every event of a trace, in one growing conversation. With `samples > 1` each model is asked again
at `temperature > 0`: sample k is the same loaded model asked under seed k (a per-call seed, part
of the response-cache key, so a sample is a new answer, not a cache hit, and a rerun the same
one). Per event the proposals are de-duplicated (case, spaces and edge punctuation ignored) and
`per_event` are kept by greedy farthest-point selection on MiniLM sentence embeddings: start from
the first proposal, then add the one farthest (in cosine distance) from everything kept so far.
"No task" is not a candidate: it is the annotator's "reject all".

Output: one file per trace in the test-trace format (`agent_response.candidate_task`, plus
`candidate_models`, who proposed each) and `run.json` (the settings and per-trace counts). A
trace whose file exists is skipped, so a stopped run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from proactive.agent.llm_agent import LLMAgent, create
from proactive.annotate.tasks import trace_files
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.fileio import write_atomic
from proactive.models.structured import ModelOutputError
from proactive.types import AgentConfig, Observation, Proposal, Trace, is_silence, silence_form

RUN_FILE = "run.json"


class CandidateConfig(BaseModel):
    """What a candidates run asks for (kept in run.json; a resume must ask for the same)."""

    models: list[str] = Field(min_length=1, description="Model specs, e.g. ['local/qwen2.5-coder-1.5b', ...].")
    per_event: int = Field(default=5, ge=1, description="Candidates kept per event.")
    samples: int = Field(default=1, ge=1, description="Answers asked of each model per event.")
    temperature: float = Field(default=0.0, ge=0.0, description="Sampling temperature (> 0 when samples > 1).")
    max_tokens: int = Field(default=320, ge=16, description="Generation cap per answer.")


class Proposed(BaseModel):
    """One de-duplicated proposal at one event and the runs (model#sample) that wrote it."""

    task: str
    models: list[str]


def dedup(proposals: list[tuple[str, str]]) -> list[Proposed]:
    """(task, run) pairs -> unique tasks in first-seen order, each with every run that wrote it."""
    merged: dict[str, Proposed] = {}
    for task, run in proposals:
        if is_silence(task):  # "no task" is the annotator's "reject all", never a candidate
            continue
        key = silence_form(task)
        seen = merged.setdefault(key, Proposed(task=task.strip(), models=[]))
        if run not in seen.models:
            seen.models.append(run)
    return list(merged.values())


def farthest_point(vectors: np.ndarray, keep: int) -> list[int]:
    """Indexes of `keep` rows chosen greedily, each the farthest (cosine) from those already chosen."""
    count = len(vectors)
    if count <= keep:
        return list(range(count))
    chosen = [0]
    # Nearest similarity of every row to the chosen set; unit vectors, so dot = cosine.
    nearest = vectors @ vectors[0]
    while len(chosen) < keep:
        masked = np.where(np.isin(np.arange(count), chosen), np.inf, nearest)
        pick = int(np.argmin(masked))  # ties go to the earlier proposal
        chosen.append(pick)
        nearest = np.maximum(nearest, vectors @ vectors[pick])
    return sorted(chosen)


def select(proposed: list[Proposed], keep: int, embed: Callable[[list[str]], np.ndarray]) -> list[Proposed]:
    """The `keep` most diverse proposals, in first-seen order."""
    if len(proposed) <= keep:
        return proposed
    vectors = embed([p.task for p in proposed])
    return [proposed[i] for i in farthest_point(vectors, keep)]


class CandidateRun:
    """Runs the models over traces; models stay loaded across traces."""

    def __init__(self, config: CandidateConfig) -> None:
        if config.samples > 1 and config.temperature <= 0:
            raise UserError(f"--samples {config.samples}: repeated answers need --temperature above 0")
        self.config = config
        self.failures = 0

    def _agent(self, spec: str, sample: int) -> LLMAgent:
        agent_config = AgentConfig(model=spec, temperature=self.config.temperature, max_tokens=self.config.max_tokens)
        # Every sample borrows the one model of its spec (the `llm` agents' idle pool; `close`
        # hands it back), so N samples load the weights once, not N times. A single sample
        # keeps the model's own seed, and with it the cache keys of earlier runs.
        seed = sample if self.config.samples > 1 else None
        return create(agent_config, must_propose=True, seed=seed)

    async def _proposals(self, trace: Trace, spec: str, sample: int, tick: Callable[[], None]) -> list[str | None]:
        agent = self._agent(spec, sample)
        previous: list[Proposal] = []
        try:
            for index in range(len(trace.events)):
                observation = Observation(history=trace.events[: index + 1], previous=previous)
                try:
                    proposal = (await agent(observation)).proposal
                except ModelOutputError:
                    # Counted in run.json; the conversation goes on as if the model kept silent.
                    self.failures += 1
                    proposal = Proposal(task=None)
                previous.append(proposal)
                tick()
        finally:
            agent.close()
        return [p.task for p in previous]

    def trace_steps(
        self, trace: Trace, embed: Callable[[list[str]], np.ndarray], tick: Callable[[], None]
    ) -> list[list[Proposed]]:
        """Per event, the kept candidates of one trace."""
        per_event: list[list[tuple[str, str]]] = [[] for _ in trace.events]
        for spec in self.config.models:
            for sample in range(self.config.samples):
                run = spec if self.config.samples == 1 else f"{spec}#{sample}"
                tasks = asyncio.run(self._proposals(trace, spec, sample, tick))
                for index, task in enumerate(tasks):
                    if task is not None:
                        per_event[index].append((task, run))
        return [select(dedup(found), self.config.per_event, embed) for found in per_event]


def trace_json(trace: Trace, kept: list[list[Proposed]]) -> list[dict[str, Any]]:
    """The trace in the released test-trace format with the kept candidates."""
    steps = []
    for index, event in enumerate(trace.events):
        step: dict[str, Any] = {
            "observation": {"time": event.time, "event": event.text},
            "agent_response": {"candidate_task": [p.task for p in kept[index]],
                               "candidate_models": [p.models for p in kept[index]]},
        }  # fmt: skip
        status = trace.task_status[index] if index < len(trace.task_status) else None
        if status is not None:
            step["task_status"] = status
        steps.append(step)
    return steps


def _run_record(out: Path, config: CandidateConfig) -> dict[str, Any]:
    path = out / RUN_FILE
    if not path.is_file():
        return {"config": config.model_dump(), "traces": {}}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        earlier = CandidateConfig.model_validate(record["config"])
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a candidates run record ({error}); pass another --out") from None
    if earlier != config:
        raise UserError(f"{path}: this --out was made with other settings ({earlier.model_dump()}); pass another --out")
    return dict(record)


def run_candidates(
    traces: Path,
    out: Path,
    config: CandidateConfig,
    embed: Callable[[list[str]], np.ndarray],
    progress: Callable[[str, int], Callable[[], None]],
) -> dict[str, Any]:
    """Write one candidates file per trace under `out` (existing ones are kept) and run.json; returns the record.

    `progress(description, total)` returns the tick called after each model answer.
    """
    files = trace_files(traces)
    loaded = [load_trace_file(path) for path in files]  # every file checked before any model loads
    out.mkdir(parents=True, exist_ok=True)
    record = _run_record(out, config)
    write_atomic(out / RUN_FILE, json.dumps(record, indent=2))
    runner = CandidateRun(config)
    for path, trace in zip(files, loaded, strict=True):
        target = out / path.name
        if target.is_file():
            continue
        runs = len(config.models) * config.samples
        tick = progress(trace.id, runs * len(trace.events))
        runner.failures = 0
        kept = runner.trace_steps(trace, embed, tick)
        write_atomic(target, json.dumps(trace_json(trace, kept), indent=1, ensure_ascii=False))
        record["traces"][trace.id] = {"events": len(trace.events), "candidates": sum(len(k) for k in kept),
                                      "failed_answers": runner.failures}  # fmt: skip
        write_atomic(out / RUN_FILE, json.dumps(record, indent=2))
    return record
