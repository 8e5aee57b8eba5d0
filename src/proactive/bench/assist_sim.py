"""`proactive assist simulate`: one person's day of test traces, with and without learning.

The test traces are played one after another (each shifted so it starts a few minutes
after the previous one ends) through the real `AssistLoop` (attention budget, repeat
filter, store, consent). The person is the annotators: a proposal is accepted when help
was needed and the task is nearer an accepted than a rejected candidate (the
`human-labels` judge), dismissed otherwise, and ignored with a seeded share that depends
only on (seed, trace, event), so both arms see the same person.

Learning on: the gate's per-user threshold moves with each answer as it arrives (the
learner only ever sees answers already given: the threshold used at event k is a function
of answers to events before k). Learning off: the threshold stays at the gate's base.

Agents: `gated` (trained LOTO gate + LLM writer, `--model`), or `candidates` (writer-free:
the same gate decides when; the task is the event's first released candidate, chosen
without looking at its label, so the judge scores it against the candidates directly).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from proactive.agent.base import Agent, AgentConfig, Observation, get_agent
from proactive.agent.gated import GatedAgent
from proactive.agent.writer import WrittenOffer
from proactive.assist.attention import Attention
from proactive.assist.loop import Answer, AssistLoop, StepResult, trace_moments
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.gate.choose import choose_gate
from proactive.gate.threshold import Outcome, UserThreshold
from proactive.judge.base import Judge
from proactive.models.base import Usage
from proactive.types import Proposal, Trace, silence_form

GAP_BETWEEN_TRACES = 300.0
HOUR = 3600.0


class FixedThreshold(UserThreshold):
    """Learning off: answers are received but the threshold never moves."""

    def record(self, outcome: Outcome) -> float:
        return self.effective


class CandidateWriter:
    """Writer-free stand-in for the offer writer: the event's first released candidate (label-blind).

    `GatedAgent` runs its own gate step in front of it, so the `candidates` agent decides *when*
    exactly as the deployed agent does."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    async def write(self, observation: Observation) -> WrittenOffer:
        index = len(observation.history) - 1
        options = self.trace.candidates[index] if index < len(self.trace.candidates) else []
        if not options:
            return WrittenOffer(task=None, declined="no released candidate at this event")
        return WrittenOffer(task=options[0])

    async def prefill(self, observation: Observation) -> Usage | None:
        return None


class SimulatedPerson:
    """Presenter that answers as the annotators would (see the module docstring)."""

    def __init__(self, judge: Judge, ignore_share: float, seed: int) -> None:
        self.judge = judge
        self.ignore_share = ignore_share
        self.seed = seed
        self.loop: AssistLoop | None = None
        self.trace_id = ""

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str = "") -> Answer:
        assert self.loop is not None
        index = len(self.loop.history) - 1
        if random.Random(f"{self.seed}|{self.trace_id}|{index}").random() < self.ignore_share:
            return "ignored"
        judgement = await self.judge(list(self.loop.history), Proposal(task=task))
        return "accepted" if judgement.accepted else "dismissed"


class SimulatedTools:
    """Accepted proposals are counted, never run: a simulation must not touch the desktop."""

    local_only = False  # plans as the live assistant does by default

    async def run(self, call: object) -> object:
        from proactive.assist.tools import ToolResult

        return ToolResult(ok=True, detail="simulation: not run", path=None)


class HourRow(BaseModel):
    """One simulated hour of one arm."""

    hour: int
    proposals: int = Field(description="Proposals shown (after the attention budget and the repeat filter).")
    accepted: int
    dismissed: int
    ignored: int
    asked: int = Field(description="Events the agent saw in this hour.")

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.proposals if self.proposals else None


class ArmResult(BaseModel):
    """One arm (learning on or off) over the whole day."""

    learning: Literal["on", "off"]
    hours: list[HourRow]
    steps: list[StepResult]
    final_threshold_offset: float

    def total(self, field: str) -> int:
        return sum(int(getattr(row, field)) for row in self.hours)

    @property
    def accepted_share(self) -> float | None:
        shown = self.total("proposals")
        return self.total("accepted") / shown if shown else None


class SimulationReport(BaseModel):
    """Both arms, with what was used, so the figures can be reproduced."""

    agent: str
    gate: str
    model: str | None
    traces: list[str]
    ignore_share: float
    seed: int
    max_per_hour: int
    arms: list[ArmResult]


def load_traces(folder: Path) -> list[Trace]:
    """Every trace file (*.json except splits.json) in `folder`, by name."""
    if not folder.is_dir():
        raise UserError(f"--traces {folder}: not a folder; pass ProactiveBench's test_data folder")
    files = sorted(p for p in folder.glob("*.json") if p.name != "splits.json")
    if not files:
        raise UserError(f"--traces {folder}: no trace files (*.json) in it")
    return [load_trace_file(p) for p in files]


def day_shifts(traces: Sequence[Trace]) -> list[float]:
    """Per trace, the seconds to add so the traces follow each other as one day."""
    shifts: list[float] = []
    clock: float | None = None
    for trace in traces:
        times = [t for t in (e.seconds for e in trace.events) if t is not None]
        if not times:
            raise UserError(f"trace {trace.id}: no event has unix seconds, so it cannot be placed in a day")
        shift = 0.0 if clock is None else clock + GAP_BETWEEN_TRACES - times[0]
        shifts.append(shift)
        clock = times[-1] + shift
    return shifts


def hour_rows(steps: Sequence[StepResult], start: float) -> list[HourRow]:
    """Per simulated hour since `start`: events, proposals shown and their answers."""
    last = max((int((s.now - start) // HOUR) for s in steps), default=-1)
    rows = [HourRow(hour=h, proposals=0, accepted=0, dismissed=0, ignored=0, asked=0) for h in range(last + 1)]
    for step in steps:
        row = rows[int((step.now - start) // HOUR)]
        row.asked += 1
        if step.shown:
            row.proposals += 1
            if step.answer is not None:
                setattr(row, step.answer, getattr(row, step.answer) + 1)
    return rows


def _agent_for(trace: Trace, agent: str, gate: str, model: str | None) -> Agent:
    config = AgentConfig(gate=gate, model=model)
    # Evaluation code: the trace's gate is the one fitted without it (the agent never sees the key).
    chosen = choose_gate(gate, model, None, trace_key_of_events(trace.events), allow_seen=False)
    if agent == "candidates":
        return GatedAgent(chosen, config, prefill=False, writer=CandidateWriter(trace), name="candidates")
    if agent == "gated":
        if not model:
            raise UserError("simulate --agent gated needs --model (e.g. local/qwen2.5-coder-0.5b)")
        return get_agent("gated", config, gate=chosen)
    raise UserError(f"simulate --agent {agent}: expected 'candidates' or 'gated'")


async def run_arm(
    traces: Sequence[Trace],
    judge: Judge,
    learning: Literal["on", "off"],
    *,
    agent: str,
    gate: str,
    model: str | None,
    ignore_share: float,
    seed: int,
    attention: Attention,
) -> ArmResult:
    """Play the day once with learning on or off."""
    from proactive.assist.consent import Consent
    from proactive.assist.store import AssistStore

    person = SimulatedPerson(judge, ignore_share, seed)
    shifts = day_shifts(traces)
    steps: list[StepResult] = []
    offset = 0.0
    with tempfile.TemporaryDirectory(prefix="assist-sim-") as tmp:
        store = AssistStore(Path(tmp) / "assist.sqlite3")
        try:
            for trace, shift in zip(traces, shifts, strict=True):
                built = _agent_for(trace, agent, gate, model)
                base = float(built.user_threshold.base)  # type: ignore[attr-defined]
                kind = UserThreshold if learning == "on" else FixedThreshold
                threshold = kind(base=base, offset=offset if learning == "on" else 0.0)
                loop = AssistLoop(
                    built,
                    store,
                    Consent(),
                    SimulatedTools(),
                    person,  # type: ignore[arg-type]
                    attention=attention.model_copy(deep=True),
                    threshold=threshold,
                    session=f"sim-{trace.id}",
                )
                loop.shown_times = [s.now for s in steps if s.shown]  # the hourly cap spans traces
                loop.dismissed = _dismissed_so_far(steps)
                person.loop, person.trace_id = loop, trace.id
                steps.extend(await loop.run(trace_moments(trace.events, shift)))
                offset = loop.threshold.offset
                close = getattr(built, "close", None)
                if callable(close):
                    close()
        finally:
            store.close()
    start = min(s.now for s in steps) if steps else 0.0
    return ArmResult(learning=learning, hours=hour_rows(steps, start), steps=steps, final_threshold_offset=offset)


def _dismissed_so_far(steps: Sequence[StepResult]) -> dict[str, float]:
    return {silence_form(s.task or ""): s.now for s in steps if s.answer == "dismissed"}


def format_report(report: SimulationReport) -> str:
    """A plain-text table: per hour, proposals and accepted share for each arm, then totals."""
    arms = {arm.learning: arm for arm in report.arms}
    lines = [
        f"agent {report.agent}, gate {report.gate}, model {report.model or '-'}, "
        f"{len(report.traces)} traces, ignore share {report.ignore_share}, seed {report.seed}, "
        f"cap {report.max_per_hour}/h",
        "hour  " + "  ".join(f"{name:>24}" for name in (f"learning {k}" for k in arms)),
    ]
    hours = max(len(arm.hours) for arm in report.arms)
    for hour in range(hours):
        cells = []
        for arm in arms.values():
            row = arm.hours[hour] if hour < len(arm.hours) else None
            share = row.accepted_share if row else None
            text = f"{row.proposals if row else 0} shown, " + ("-" if share is None else f"{share:.0%} acc")
            cells.append(f"{text:>24}")
        lines.append(f"{hour:>4}  " + "  ".join(cells))
    for arm in arms.values():
        share = arm.accepted_share
        lines.append(
            f"learning {arm.learning}: {arm.total('proposals')} shown "
            f"({arm.total('proposals') / max(1, len(arm.hours)):.2f}/h), accepted {arm.total('accepted')}, "
            f"dismissed {arm.total('dismissed')}, ignored {arm.total('ignored')}, "
            f"accepted share {'-' if share is None else f'{share:.1%}'}, final offset {arm.final_threshold_offset:+.3f}"
        )
    return "\n".join(lines)
