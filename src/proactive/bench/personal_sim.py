"""`proactive assist simulate --user personas`: the per-person learner against no learning.

Each persona (`proactive.bench.personas`) lives through the 12 test traces as one day,
in time order. At every event that has a released candidate task (the writer-free agent's
offer, taken without looking at its label), the trace's gate (the LOTO member fitted
without that trace) gives a probability. Learning **off**: the offer is shown when the
probability reaches the gate's base threshold. Learning **on**: the gate lets offers
through from `GATE_FLOOR` below its base, and a `PersonalLearner` decides (Thompson
draw), and learns from each answer as it arrives, so the decision at an event depends
only on answers to earlier events. Both arms meet the same person: the answer to an
offer at a given event is the same draw in both.

Figures pool the seeds within each (persona, trace) cell; intervals are 95% percentile
bootstraps over the cells (persona × trace), resampling whole cells.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from proactive.assist.context import offer_kind, situation_of
from proactive.assist.learner import GATE_FLOOR, LearnerState, Offer, PersonalLearner, describe, logit
from proactive.bench.personas import PERSONAS, Persona
from proactive.data.labels import trace_key_of_events
from proactive.judge.base import Judge
from proactive.metrics import bootstrap_groups
from proactive.types import Observation, Proposal, Trace

ARMS = ("off", "on", "on, ignored = weak no")
WEAK_NO = 0.3
BOOTSTRAP = 2000
#: logit P(liked probe) − logit P(disliked probe) at which a preference counts as learned (odds x2.7).
#: In log-odds, not probability: a learner that has learned to avoid a whole situation puts both
#: probes near 0 there, and a probability gap would read that as "not learned".
GAP = 1.0


class OfferMoment(BaseModel):
    """One event with an offer, as both arms see it."""

    trace: str
    index: int
    now: float
    gate_probability: float
    base: float = Field(description="The base threshold of the trace's gate.")
    situation: str
    kind: str
    annotators_accept: bool
    hours: float = Field(description="Length of the event's trace in hours (for offers per hour).")


class Cell(BaseModel):
    """One persona, one trace, one arm, summed over seeds."""

    persona: str
    trace: str
    arm: str
    shown: int = 0
    accepted: int = 0
    dismissed: int = 0
    ignored: int = 0
    unwanted: int = Field(default=0, description="Shown offers of a kind or situation the person minds.")
    hours: float = 0.0


class Profile(BaseModel):
    persona: str
    arm: str
    words: list[str]
    answers_to_learn: list[int | None] = Field(description="Per seed: answers until the preference held for good.")


class PersonalReport(BaseModel):
    traces: list[str]
    seeds: list[int]
    cells: list[Cell]
    profiles: list[Profile]


async def offer_moments(traces: Sequence[Trace], judge: Judge, gate: str, data: Path | None) -> list[OfferMoment]:
    """The day's offers with gate probabilities and the annotators' verdicts (the `human-labels` judge)."""
    from proactive.bench.assist_sim import day_shifts
    from proactive.gate.choose import choose_gate

    moments = []
    for trace, shift in zip(traces, day_shifts(traces), strict=True):
        chosen = choose_gate(gate, None, None, trace_key_of_events(trace.events), allow_seen=False, data=data)
        base = float(getattr(chosen, "threshold", 0.5))
        times = [t for t in (e.seconds for e in trace.events) if t is not None]
        hours = max(60.0, times[-1] - times[0]) / 3600.0
        for index, event in enumerate(trace.events):
            options = trace.candidates[index] if index < len(trace.candidates) else []
            if not options or event.seconds is None:
                continue
            history = list(trace.events[: index + 1])
            probability = await chosen(Observation(history=history))
            verdict = await judge(history, Proposal(task=options[0]))
            moments.append(OfferMoment(
                trace=trace.id, index=index, now=event.seconds + shift, gate_probability=probability, base=base,
                situation=situation_of(history), kind=offer_kind(options[0]), hours=hours,
                annotators_accept=verdict.accepted,
            ))  # fmt: skip
    return moments


def _gap(learner: PersonalLearner, persona: Persona, now: float) -> float:
    (s1, k1), (s2, k2) = persona.probes
    base = learner.state.base
    liked = learner.probability(Offer(gate_probability=base, situation=s1, kind=k1, now=now))
    return logit(liked) - logit(learner.probability(Offer(gate_probability=base, situation=s2, kind=k2, now=now)))


def replay(moments: Sequence[OfferMoment], persona: Persona, seed: int, arm: str
           ) -> tuple[dict[str, Cell], LearnerState | None, int | None]:  # fmt: skip
    """One persona's day in one arm: cells per trace, the learner's final state, answers it took."""
    learner = None
    if arm != "off":
        learner = PersonalLearner.fresh(moments[0].base, ignored_weight=WEAK_NO if "weak" in arm else 0.0,
                                        seed=f"{persona.name}|{seed}")  # fmt: skip
    cells: dict[str, Cell] = {}
    learned_at: int | None = None
    for m in moments:
        cell = cells.setdefault(m.trace, Cell(persona=persona.name, trace=m.trace, arm=arm, hours=m.hours))
        offer = Offer(gate_probability=m.gate_probability, situation=m.situation, kind=m.kind, now=m.now)
        if learner is None:
            show = m.gate_probability >= m.base
        else:
            learner.state.base = m.base  # the gate of this trace
            show = m.gate_probability >= m.base - GATE_FLOOR and learner.decide(offer)
        if not show:
            continue
        answer = persona.answer(seed, m.trace, m.index, m.situation, m.kind, m.annotators_accept)
        cell.shown += 1
        cell.unwanted += persona.unwanted(m.situation, m.kind)
        setattr(cell, answer, getattr(cell, answer) + 1)
        if learner is not None:
            learner.record(offer, answer)
            holds = _gap(learner, persona, m.now) >= GAP
            learned_at = (learned_at or learner.state.answers) if holds else None
    return cells, (learner.state if learner else None), learned_at


def run_personas(
    moments: Sequence[OfferMoment], seeds: Sequence[int],
    personas: Sequence[Persona] = PERSONAS, arms: Sequence[str] = ARMS,
) -> PersonalReport:  # fmt: skip
    """Every persona × seed × arm over the day."""
    merged: dict[tuple[str, str, str], Cell] = {}
    profiles = []
    for persona in personas:
        for arm in arms:
            took: list[int | None] = []
            words: list[str] = []
            for seed in seeds:
                cells, state, learned_at = replay(moments, persona, seed, arm)
                took.append(learned_at)
                if state is not None and not words:
                    words = describe(state)
                for cell in cells.values():
                    total = merged.setdefault((persona.name, cell.trace, arm),
                                              Cell(persona=persona.name, trace=cell.trace, arm=arm))  # fmt: skip
                    for field in ("shown", "accepted", "dismissed", "ignored", "unwanted", "hours"):
                        setattr(total, field, getattr(total, field) + getattr(cell, field))
            if arm != "off":
                profiles.append(Profile(persona=persona.name, arm=arm, words=words, answers_to_learn=took))
    traces = list(dict.fromkeys(m.trace for m in moments))
    return PersonalReport(traces=traces, seeds=list(seeds), cells=list(merged.values()), profiles=profiles)


def _ratios(summed: np.ndarray) -> dict[str, float | None]:
    """From summed [accepted on, shown on, accepted off, shown off]: the two ratios (arm / off)."""
    accepted_on, shown_on, accepted_off, shown_off = summed
    share_off = accepted_off / max(1, shown_off)
    return {
        "accepted share ×": accepted_on / max(1, shown_on) / share_off if share_off else None,
        "offers per hour ×": shown_on / max(1, shown_off),
    }


def compare(report: PersonalReport, arm: str, persona: str | None = None) -> dict[str, tuple[float, float, float]]:
    """Accepted-share ratio and offers-per-hour ratio (arm / off), each with a 95% interval resampling cells."""
    keys = sorted({(c.persona, c.trace) for c in report.cells if persona in (None, c.persona)})
    by = {(c.persona, c.trace, c.arm): c for c in report.cells}
    cells = np.array([[by[(p, t, arm)].accepted, by[(p, t, arm)].shown, by[(p, t, "off")].accepted,
                       by[(p, t, "off")].shown] for p, t in keys], dtype=float).reshape(-1, 4)  # fmt: skip
    estimates = bootstrap_groups(cells, _ratios, samples=BOOTSTRAP, seed=0)
    nan = float("nan")
    return {
        name: tuple(nan if v is None else v for v in (e.value, e.lo, e.hi))  # type: ignore[misc]
        for name, e in estimates.items()
    }


def arm_totals(report: PersonalReport, arm: str, persona: str | None = None) -> tuple[float, float, int]:
    """Accepted share, offers per hour, offers shown."""
    cells = [c for c in report.cells if c.arm == arm and persona in (None, c.persona)]
    shown = sum(c.shown for c in cells)
    return sum(c.accepted for c in cells) / max(1, shown), shown / max(1e-9, sum(c.hours for c in cells)), shown


def unwanted_share(report: PersonalReport, arm: str, persona: str | None = None) -> float:
    """Share of shown offers that were of a kind or situation the person minds."""
    cells = [c for c in report.cells if c.arm == arm and persona in (None, c.persona)]
    return sum(c.unwanted for c in cells) / max(1, sum(c.shown for c in cells))


def format_personal(report: PersonalReport) -> str:
    """The per-person table (off vs on), the pooled ratios, and each learned profile in words."""
    lines = [f"{len(report.traces)} traces, seeds {report.seeds}, personas {', '.join(p.name for p in PERSONAS)}",
             "| person | arm | accepted share | offers/h | shown | unwanted kind | accepted share × [95%] "
             "| offers/h × [95%] |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for persona in [*(p.name for p in PERSONAS), None]:
        for arm in ARMS:
            share, rate, shown = arm_totals(report, arm, persona)
            ratio = ["", ""] if arm == "off" else [
                f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" for v in compare(report, arm, persona).values()]  # fmt: skip
            unwanted = unwanted_share(report, arm, persona)
            cells = f"{share:.1%} | {rate:.1f} | {shown} | {unwanted:.0%} | {ratio[0]} | {ratio[1]}"
            lines.append(f"| {persona or 'all'} | {arm} | {cells} |")
    for profile in report.profiles:
        took = ", ".join("never" if n is None else str(n) for n in profile.answers_to_learn)
        lines.append(f"\n{profile.persona} ({profile.arm}), answers until the preference held, per seed: {took}")
        lines += [f"  {line}" for line in profile.words]
    return "\n".join(lines)


def simulate_personas(traces: Sequence[Trace], gate: str, data: Path | None, seeds: Sequence[int]) -> PersonalReport:
    """Gate probabilities and verdicts once, then every persona, seed and arm."""
    from proactive.judge.base import get_judge

    moments = asyncio.run(offer_moments(traces, get_judge("human-labels", data=data), gate, data))
    return run_personas(moments, seeds)
