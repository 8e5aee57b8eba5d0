"""`proactive bench run`: every test event through an agent (and a judge), resumable.

Each trace runs event by event on its own agent (built by `get_agent` with the trace's
identity), so a model-backed agent keeps one conversation and one KV cache per trace.
Traces run concurrently up to `concurrency`. Every finished event is appended to the
trace's record log and made durable before the next one starts, so a run killed at any
instant resumes where it stopped, without repeating or losing an event.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive import __version__
from proactive.agent.base import (
    AGENTS,
    AGENTS_NEEDING_MODEL,
    AGENTS_WITH_GATE,
    AgentConfig,
    AgentStep,
    Observation,
    get_agent,
)
from proactive.bench.store import EventRecord, RunFolder
from proactive.data.fetch import folder_hash
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import load_test_traces
from proactive.errors import UserError
from proactive.gate.choose import choose_gate
from proactive.judge.base import JUDGES, Judge, get_judge
from proactive.judge.per_trace import TraceJudges, judges_for_traces
from proactive.models.base import check_spec
from proactive.types import Trace

#: Settings that define what a run computes; a resumed run must match them exactly.
IDENTITY_FIELDS = ("agent", "model", "judge", "gate", "threshold", "split", "traces", "limit",
                   "max_tokens", "temperature", "allow_seen", "data_hash")  # fmt: skip


class RunSettings(BaseModel):
    """Everything `bench run` was asked to do."""

    agent: str = Field(description="Registered agent name.")
    model: str | None = Field(default=None, description="Chat model spec for model-backed agents.")
    judge: str | None = Field(default="human-labels", description="Judge name or artifact folder; None skips judging.")
    gate: str | None = Field(default=None, description="Gate name or artifact (gated agent).")
    threshold: float | None = Field(default=None, description="Gate threshold override.")
    split: str = Field(default="real_average", description="Split of test traces.")
    traces: list[str] | None = Field(default=None, description="Only these trace ids (file stems).")
    limit: int | None = Field(default=None, description="Only the first N events of each trace.")
    max_tokens: int = Field(default=320, description="Generation cap per answer.")
    temperature: float = Field(default=0.0, description="Sampling temperature.")
    allow_seen: bool = Field(default=False, description="Allow learned parts trained on the scored traces.")
    data: str = Field(default="", description="ProactiveBench folder.")
    data_hash: str = Field(default="", description="sha256 prefix of the data files.")
    concurrency: int = Field(default=1, description="Traces run at the same time.")
    event_delay: float = Field(default=0.0, description="Seconds to pause after each event (tests, demos).")

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run already in the folder."""
        return {name: getattr(self, name) for name in IDENTITY_FIELDS}


def select_traces(data: Path, split: str, only: list[str] | None, limit: int | None) -> list[Trace]:
    """Test traces of `split`, optionally only some ids and only the first `limit` events."""
    traces = load_test_traces(data, split)
    if only:
        known = {t.id for t in traces}
        unknown = sorted(set(only) - known)
        if unknown:
            raise UserError(f"--traces: {', '.join(unknown)} not in split '{split}'; choose from {sorted(known)}")
        traces = [t for t in traces if t.id in only]
    if limit is not None:
        if limit < 1:
            raise UserError("--limit: expected a positive number of events per trace")
        traces = [t.model_copy(update={"events": t.events[:limit], "candidates": t.candidates[:limit]}) for t in traces]
    return traces


def check_settings(settings: RunSettings) -> None:
    """Refuse a run that cannot start (unknown agent, bad model spec, missing gate folder)
    before anything is written: no model weights are loaded, only names and files checked."""
    AGENTS.factory(settings.agent)
    if settings.agent in AGENTS_NEEDING_MODEL and not settings.model:
        raise UserError(f"agent '{settings.agent}' needs a model: pass --model, e.g. --model local/qwen2.5-coder-1.5b")
    if settings.model:
        check_spec(settings.model)
    gate = settings.gate
    if gate and gate not in ("llm", "default"):
        from proactive.gate.artifact import check_gate_folder
        from proactive.gate.choose import gate_folder

        check_gate_folder(gate_folder(gate))


def build_agent(
    name: str, config: AgentConfig, trace_key: str | None, allow_seen: bool = False, data: Path | None = None
) -> Any:
    """The agent for one trace. The trace's identity stays here: an agent built around a gate
    is handed the gate fitted without that trace (one that saw it is refused unless
    `allow_seen`); `trace_key` None (a trace no learned part knows) gets a LOTO set's `full` member."""
    if name not in AGENTS_WITH_GATE:
        return get_agent(name, config)
    gate = choose_gate(config.gate, config.model, config.threshold, trace_key, allow_seen, data)
    return get_agent(name, config, gate=gate)


def code_version() -> str:
    """Package version plus the git commit of the checkout (and '+dirty' with local edits)."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{commit}{'-dirty' if dirty else ''}"


def build_judge(name: str, data: Path) -> Judge:
    """The judge by name; factories that accept a `data` folder get the run's folder."""
    factory = JUDGES.factory(name) if not Path(name).is_dir() else None
    if factory is not None and "data" in inspect.signature(factory).parameters:
        return get_judge(name, data=data)
    return get_judge(name)


def plan_judges(settings: RunSettings, data: Path, traces: list[Trace]) -> TraceJudges | None:
    """The judge of every trace, checked before the run folder is touched.

    A trained judge (or LOTO set) that saw a scored trace is refused here, in one line,
    unless `settings.allow_seen`; a LOTO set gives each trace the judge fitted without it.
    """
    name = settings.judge
    if not name:
        return None
    keys = [(t.id, trace_key_of_events(t.events)) for t in traces]
    return judges_for_traces(name, keys, settings.allow_seen, lambda: build_judge(name, data))


def plan_model(settings: RunSettings, traces: list[Trace]) -> dict[str, Any] | None:
    """The fine-tuned model's provenance, checked before the run folder is touched.

    A model whose training data touched a scored trace is refused in one line unless
    `settings.allow_seen`; then run.json and the report say which traces it saw.
    """
    record, seen = traces_seen_by_model(settings.model, traces)
    if record is None:
        return None
    if seen and not settings.allow_seen:
        raise UserError(
            f"--model {settings.model}: fine-tuned on data from the scored trace(s) {', '.join(seen)} "
            f"({record.manifests[0]}); build its data without them (`proactive train build` leaves the test traces "
            "out by default) or pass --allow-seen to accept the leak"
        )
    return {"summary": record.summary, "saw_traces": seen}


def traces_seen_by_model(model: str | None, traces: Sequence[Trace]) -> tuple[Any, list[str]]:
    """The fine-tuned model's training record (None for a model nobody here tuned) and the ids of
    the `traces` its data touched."""
    if not model:
        return None, []
    from proactive.models.training_manifest import trained_on

    record = trained_on(model)
    if record is None:
        return None, []
    seen_keys = set(record.training_traces)
    return record, [t.id for t in traces if trace_key_of_events(t.events) in seen_keys]


def totals(records: list[EventRecord]) -> dict[str, float]:
    """Token counts and seconds summed over records; cached and invalid answers are counted apart."""
    fresh = [r for r in records if r.usage is not None and not r.cached]
    out: dict[str, float] = {
        "events": len(records),
        "cached_answers": sum(r.cached for r in records),
        "invalid_answers": sum(r.invalid for r in records),
        "prompt_tokens": sum(r.usage.prompt_tokens for r in fresh if r.usage),
        "new_prompt_tokens": sum(r.usage.new_prompt_tokens for r in fresh if r.usage),
        "completion_tokens": sum(r.usage.completion_tokens for r in fresh if r.usage),
        "agent_seconds": sum(r.agent_seconds for r in records),
        "judge_seconds": sum(r.judge_seconds for r in records),
    }
    return out


@dataclass
class RunState:
    """What the runner knows while running: records per trace and the manifest."""

    folder: RunFolder
    settings: RunSettings
    traces: list[Trace]
    records: dict[str, list[EventRecord]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    session: int = 0

    @property
    def total_events(self) -> int:
        return sum(len(t.events) for t in self.traces)

    @property
    def done_events(self) -> int:
        return sum(len(r) for r in self.records.values())


def _close_sessions(manifest: dict[str, Any], records: dict[str, list[EventRecord]]) -> None:
    """A session killed without a goodbye ends at its last written record."""
    for index, session in enumerate(manifest.get("sessions", [])):
        if session.get("ended") is None:
            stamps = [r.at for rs in records.values() for r in rs if r.session == index]
            session["ended"] = max(stamps, default=session["started"])
            session["killed"] = True


def open_run(out: Path, settings: RunSettings, traces: list[Trace]) -> RunState:
    """Create the run folder, or reopen it after checking it holds the same run."""
    folder = RunFolder(out)
    manifest = folder.read_manifest()
    if manifest is not None and manifest.get("identity") != settings.identity():
        theirs = manifest.get("identity", {})
        diff = [k for k in IDENTITY_FIELDS if theirs.get(k) != getattr(settings, k)]
        raise UserError(
            f"{folder.manifest_path}: holds a different run ({', '.join(diff)} differ); "
            "pass another --out or delete the folder"
        )
    state = RunState(folder=folder, settings=settings, traces=traces)
    for trace in traces:
        records = folder.log(trace.id).load()
        if len(records) > len(trace.events):
            raise UserError(f"{folder.log(trace.id).path}: more records than events; delete the run folder")
        state.records[trace.id] = records
        if records:  # predictions are derived: make them match the records after any kill
            folder.write_predictions(trace, records)
    manifest = manifest or {"identity": settings.identity(), "sessions": []}
    _close_sessions(manifest, state.records)
    state.session = len(manifest["sessions"])
    manifest["sessions"].append({"started": time.time(), "ended": None, "events_before": state.done_events})
    state.manifest = manifest
    write_manifest(state, status="running")
    return state


def write_manifest(
    state: RunState, status: str, judges: TraceJudges | None = None, agent_note: str | None = None
) -> None:
    """run.json: what ran, on which data and code, how long it took and how many tokens."""
    settings = state.settings
    all_records = [r for rs in state.records.values() for r in rs]
    sessions = state.manifest["sessions"]
    wall = sum((s["ended"] or time.time()) - s["started"] for s in sessions)
    state.manifest.update({
        "status": status,
        "agent": settings.agent,
        "model": settings.model,
        "judge": settings.judge,
        "data": settings.data,
        "data_hash": settings.data_hash,
        "code_version": code_version(),
        "settings": settings.model_dump(),
        "traces": {t.id: {"events": len(t.events), "done": len(state.records.get(t.id, []))} for t in state.traces},
        "events_total": state.total_events,
        "events_done": state.done_events,
        "wall_seconds": wall,
        "tokens": totals(all_records),
    })  # fmt: skip
    if judges is not None:
        state.manifest["judge_provenance"] = judges.summary
        state.manifest["judge_per_trace"] = judges.per_trace
        state.manifest["judge_saw_traces"] = judges.seen
    if agent_note is not None:
        state.manifest["agent_provenance"] = agent_note
    state.folder.write_manifest(state.manifest)


Advance = Callable[[int], None]


async def run_trace(state: RunState, trace: Trace, judge: Judge | None, advance: Advance) -> str | None:
    """Run the unfinished events of one trace in order; returns the agent's provenance note."""
    settings = state.settings
    records = state.records[trace.id]
    if len(records) == len(trace.events):
        return None
    config = AgentConfig(
        model=settings.model, gate=settings.gate, threshold=settings.threshold, max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )  # fmt: skip
    data = Path(settings.data) if settings.data else None
    agent = build_agent(settings.agent, config, trace_key_of_events(trace.events), settings.allow_seen, data)
    log = state.folder.log(trace.id)
    try:
        for index in range(len(records), len(trace.events)):
            record = await run_event(agent, judge, trace, index, records, state.session)
            log.append(record)
            records.append(record)
            state.folder.write_predictions(trace, records)
            advance(1)
            if settings.event_delay:
                await asyncio.sleep(settings.event_delay)
    finally:
        close = getattr(agent, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result
    note = getattr(agent, "provenance", None)
    return str(note) if note is not None else None


async def run_event(
    agent: Any, judge: Judge | None, trace: Trace, index: int, records: list[EventRecord], session: int
) -> EventRecord:
    """One event: the agent's proposal, the judge's verdict, timings and tokens."""
    history = trace.events[: index + 1]
    observation = Observation(
        history=history, previous=[r.proposal for r in records], feedback=[None] * len(records)
    )
    started = time.perf_counter()
    step: AgentStep = await agent(observation)
    proposal = step.proposal
    agent_seconds = time.perf_counter() - started
    judgement = None
    started = time.perf_counter()
    if judge is not None:
        judgement = await judge(history, proposal)
    event = trace.events[index]
    return EventRecord(
        index=index, time=event.time, event=event.text, proposal=proposal, judgement=judgement,
        usage=step.usage, cached=step.cached, invalid=step.invalid, invalid_reason=step.problem,
        agent_seconds=agent_seconds,
        judge_seconds=time.perf_counter() - started, session=session, at=time.time(),
    )  # fmt: skip


async def run_all(state: RunState, judges: TraceJudges | None, advance: Advance) -> list[str]:
    """All traces, at most `concurrency` at a time; returns the agents' provenance notes."""
    gate = asyncio.Semaphore(max(1, state.settings.concurrency))

    async def one(trace: Trace) -> str | None:
        async with gate:
            judge = judges.judges.get(trace.id) if judges is not None else None
            return await run_trace(state, trace, judge, advance)

    notes = await asyncio.gather(*(one(t) for t in state.traces))
    return sorted({n for n in notes if n})


def run_bench(settings: RunSettings, out: Path, data: Path, progress: Any | None = None) -> RunState:
    """Run (or resume) a benchmark into `out`; `progress` is a rich Progress (or None)."""
    check_settings(settings)
    settings = settings.model_copy(update={"data": str(data), "data_hash": folder_hash(data)})
    traces = select_traces(data, settings.split, settings.traces, settings.limit)
    if settings.agent in AGENTS_WITH_GATE:
        # Before anything is written: the default set is built on first use, and a gate
        # that saw a scored trace is refused.
        for trace in traces:
            choose_gate(settings.gate, settings.model, settings.threshold, trace_key_of_events(trace.events),
                        settings.allow_seen, data)  # fmt: skip
    judges = plan_judges(settings, data, traces)  # may refuse: before run.json exists
    model_record = plan_model(settings, traces)  # may refuse too
    state = open_run(out, settings, traces)
    if model_record is not None:
        state.manifest["model_provenance"] = model_record["summary"]
        state.manifest["model_saw_traces"] = model_record["saw_traces"]
    task_id = None
    if progress is not None:
        task_id = progress.add_task(f"{settings.agent}", total=state.total_events, completed=state.done_events)

    def advance(count: int) -> None:
        if progress is not None and task_id is not None:
            progress.advance(task_id, count)

    status = "killed"
    notes: list[str] = []
    try:
        notes = asyncio.run(run_all(state, judges, advance))
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        state.manifest["sessions"][-1]["ended"] = time.time()
        write_manifest(state, status, judges, "; ".join(notes) if notes else None)
    return state
