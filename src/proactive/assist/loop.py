"""The assistant loop: event -> agent -> attention -> store -> consent -> presenter -> answer.

One `AssistLoop.step` per new event. The agent sees one Observation with the whole history,
its own earlier proposals and how each was received (a dismissal is a rejected Judgement),
so it can try another way. A proposal reaches the person only when the attention budget
allows it and it is not a repeat of something they dismissed in the last 30 minutes; only
an Accept for that exact offer runs a tool (through `Consent`, the only door to tools).
Every answer goes to the store (training data) and to the per-person learner (saved in the
store), or, without one, to the per-user threshold.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import typer
from pydantic import BaseModel, Field

from proactive.agent.base import Agent
from proactive.assist.attention import Attention
from proactive.assist.context import offer_kind, situation_of
from proactive.assist.learner import DEFAULT_PERSON, GATE_FLOOR, Offer, PersonalLearner, save_learner
from proactive.assist.store import Answer
from proactive.errors import DataError, UserError
from proactive.fileio import read_text
from proactive.gate.threshold import UserThreshold
from proactive.sense.redact import redact
from proactive.types import Event, Judgement, Observation, Proposal, silence_form

ANSWER_WORDS: dict[str, Answer] = {
    "accept": "accepted", "accepted": "accepted", "a": "accepted", "y": "accepted", "yes": "accepted",
    "dismiss": "dismissed", "dismissed": "dismissed", "d": "dismissed", "n": "dismissed", "no": "dismissed",
    "ignore": "ignored", "ignored": "ignored", "i": "ignored", "": "ignored",
}  # fmt: skip

#: What the agent hears after an answer (the KTO export rebuilds the same log from the store).
ACCEPTED_FEEDBACK = Judgement(accepted=True, reason="the person accepted", score=1.0)
DISMISSED_FEEDBACK = Judgement(accepted=False, reason="the person dismissed it; try another way", score=0.0)

#: Base threshold for agents without a gate: it is kept (and logged) but opens nothing.
UNGATED_BASE = 0.5


class Moment(BaseModel):
    """One new event with the person's state when it happened."""

    event: Event
    now: float = Field(description="Unix seconds of the event (the loop's clock).")
    afk: bool = Field(default=False, description="The person is away from the computer.")
    active_app: str | None = Field(default=None, description="The app in front, if known.")


class Presenter(Protocol):
    """Shows one offer and returns how the person answered (timeouts are 'ignored')."""

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str) -> Answer:
        """`action`: what Accept runs, tool and argument (`tools.describe`), shown as it will run."""
        ...


class StepResult(BaseModel):
    """What happened after one event (printed by replay, summed by simulate and the bench)."""

    index: int
    now: float
    task: str | None = None
    gate_probability: float | None = None
    threshold: float = Field(description="The user's effective threshold when the agent was asked.")
    shown: bool = False
    blocked: str = Field(default="", description="Why a proposal was not shown ('' when shown or silent).")
    proposal_id: int | None = None
    tool: str | None = None
    answer: Answer | None = None
    tool_ok: bool | None = None
    tool_detail: str = ""
    tool_dry_run: bool = False
    latency_s: float | None = Field(default=None, description="Event arrival to presentation, seconds.")


def reason_of(proposal: Proposal) -> str:
    """The one-line reason shown under the task."""
    text = proposal.message or proposal.purpose
    if not text and proposal.gate_probability is not None:
        text = f"help looks likely now (gate {proposal.gate_probability:.2f})"
    return redact(" ".join((text or "you may want help here").split()))[:200]


class AssistLoop:
    """The live/replay loop; all collaborators are passed in (see the module docstring)."""

    def __init__(
        self,
        agent: Agent,
        store: Any,
        consent: Any,
        toolbox: Any,
        presenter: Presenter,
        attention: Attention | None = None,
        threshold: UserThreshold | None = None,
        session: str | None = None,
        repeat_minutes: float = 30.0,
        max_history: int = 200,
        learner: PersonalLearner | None = None,
        person: str = DEFAULT_PERSON,
    ) -> None:
        self.agent = agent
        self.store = store
        self.consent = consent
        self.toolbox = toolbox
        self.presenter = presenter
        self.attention = attention or Attention()
        # The gated agent reads its own UserThreshold; other agents have no gate, so the
        # threshold is kept and logged but changes nothing they do (see docs/assist.md).
        gated = getattr(agent, "user_threshold", None)
        self.threshold: UserThreshold = (
            gated if isinstance(gated, UserThreshold) else (threshold or UserThreshold(base=UNGATED_BASE))
        )
        if threshold is not None and isinstance(gated, UserThreshold):
            agent.user_threshold = threshold  # type: ignore[attr-defined]
            self.threshold = threshold
        # With a per-person learner, the gate opens from GATE_FLOOR below its base and stays
        # there; the learner decides what is shown (docs/assist.md, "Learning each person").
        self.learner, self.person = learner, person
        if learner is not None:
            self.threshold.offset = -GATE_FLOOR
            self.threshold.limit = max(self.threshold.limit, GATE_FLOOR)
        self.session = session or uuid.uuid4().hex[:12]
        self.repeat_seconds = repeat_minutes * 60.0
        # A live session runs for days: the agent sees the latest events only, so each step costs the same.
        self.max_history = max_history
        self.history: list[Event] = []
        self.previous: list[Proposal] = []
        self.feedback: list[Judgement | None] = []
        self.shown_times: list[float] = []
        self.dismissed: dict[str, float] = {}
        self.steps: list[StepResult] = []

    def _snooze(self) -> float | None:
        stored = self.store.snooze_until()
        own = self.attention.snooze_until
        values = [v for v in (stored, own) if v is not None]
        return max(values) if values else None

    def _repeat(self, task: str, now: float) -> bool:
        when = self.dismissed.get(silence_form(task))
        return when is not None and now - when < self.repeat_seconds

    async def step(self, moment: Moment) -> StepResult:
        """Handle one new event end to end."""
        started = time.perf_counter()
        self.history.append(moment.event)
        if len(self.history) > self.max_history:
            drop = len(self.history) - self.max_history
            del self.history[:drop], self.previous[:drop], self.feedback[:drop]
        observation = Observation(
            history=list(self.history), previous=list(self.previous), feedback=list(self.feedback)
        )
        threshold = self.threshold.effective
        proposal = (await self.agent(observation)).proposal
        self.previous.append(proposal)
        self.feedback.append(None)
        result = StepResult(
            index=len(self.history) - 1,
            now=moment.now,
            task=None if proposal.is_silence else proposal.task,
            gate_probability=proposal.gate_probability,
            threshold=threshold,
        )
        self.steps.append(result)
        if result.task is None:
            return result
        if proposal.repeats is not None:
            # The agent says an unanswered offer again while it stands; here it was shown and
            # its answer (or its timeout) is in, so the person never sees it twice.
            result.blocked = "repeats an offer already shown"
            return result
        # The snooze may be set from another process (`proactive assist snooze`): read it each time.
        attention = self.attention.model_copy(update={"snooze_until": self._snooze()})
        allowed, why = attention.allows(moment.now, moment.afk, moment.active_app, self.shown_times)
        if not allowed:
            result.blocked = why
        elif self._repeat(result.task, moment.now):
            result.blocked = f"dismissed less than {self.repeat_seconds / 60:.0f} min ago"
        if result.blocked:
            return result
        offer = self._learner_offer(result, proposal, moment)
        if offer is not None and self.learner is not None and not self.learner.decide(offer):
            result.blocked = "learned: this person is unlikely to want this now"
            return result
        await self._offer(result, proposal, moment, started, offer)
        return result

    def _learner_offer(self, result: StepResult, proposal: Proposal, moment: Moment) -> Offer | None:
        if self.learner is None:
            return None
        probability = proposal.gate_probability
        return Offer(
            gate_probability=self.threshold.base if probability is None else probability,
            situation=situation_of(self.history),
            kind=offer_kind(result.task or ""),
            now=moment.now,
        )

    async def _offer(
        self, result: StepResult, proposal: Proposal, moment: Moment, started: float, offer: Offer | None = None
    ) -> None:
        from proactive.assist.tools import describe, plan_tool

        task = redact(result.task or "")
        reason = reason_of(proposal)
        proposal_id = self.store.add_proposal(
            session=self.session, history=list(self.history), proposal=proposal, reason=reason
        )
        # Planned from the text the person reads, and shown with its argument: Accept runs what was shown.
        call = plan_tool(proposal.model_copy(update={"task": task}), local_only=self.toolbox.local_only)
        token = self.consent.offer(proposal_id, call)
        self.shown_times.append(moment.now)
        result.shown, result.proposal_id, result.tool = True, proposal_id, call.tool
        result.latency_s = time.perf_counter() - started
        answer = await self.presenter.show(proposal_id, task, reason, token, describe(call))
        result.answer = answer
        self.store.record_answer(proposal_id, answer, at=moment.now)
        if self.learner is not None and offer is not None:
            self.learner.record(offer, answer)
            save_learner(self.store, self.person, self.learner)
        else:
            self.threshold.record("rejected" if answer == "dismissed" else answer)
        if answer == "accepted":
            outcome = await self.consent.accept(token, self.toolbox)
            ok = bool(outcome is not None and outcome.ok)
            detail = outcome.detail if outcome is not None else "consent refused the token; nothing ran"
            self.store.record_tool_run(proposal_id, call.tool, ok, detail)
            result.tool_ok, result.tool_detail = ok, detail
            result.tool_dry_run = outcome is not None and outcome.dry_run
            self.feedback[-1] = ACCEPTED_FEEDBACK
        elif answer == "dismissed":
            self.consent.dismiss(token)
            self.dismissed[silence_form(result.task or "")] = moment.now
            self.feedback[-1] = DISMISSED_FEEDBACK
        else:
            self.consent.expire(token)

    async def run(self, moments: AsyncIterator[Moment]) -> list[StepResult]:
        """Step through every moment; returns the results of this run."""
        start = len(self.steps)
        async for moment in moments:
            await self.step(moment)
        return self.steps[start:]


async def trace_moments(events: Iterable[Event], shift: float = 0.0, step: float = 60.0) -> AsyncIterator[Moment]:
    """Moments from recorded events; events without unix times follow the previous one by `step` seconds."""
    clock: float | None = None
    for event in events:
        seconds = event.seconds
        clock = (seconds + shift) if seconds is not None else ((clock or shift) + step)
        yield Moment(event=event, now=clock)


async def activitywatch_moments(url: str, interval: float, config: Any = None) -> AsyncIterator[Moment]:
    """Poll ActivityWatch every `interval` seconds; yield each new event with the AFK state and app in front."""
    from proactive.sense.events import make_events
    from proactive.sense.reader import by_type, read_events

    seen = time.time()
    polled = False
    failing = False
    while True:
        try:
            raw = await asyncio.to_thread(read_events, url, max(interval * 4, 600.0) / 60.0)
        except UserError as exc:
            if not polled:
                raise  # down or empty at start: the one line says how to start ActivityWatch
            # Once running, a restarting server or watcher must not end the assistant: say so
            # once per outage and keep polling.
            if not failing:
                typer.echo(f"warning: {exc}; retrying every {interval:g} s", err=True)
            failing = True
            await asyncio.sleep(interval)
            continue
        if failing:
            typer.echo("ActivityWatch is back", err=True)
        polled, failing = True, False
        grouped = by_type(raw)
        afk_rows, windows = grouped["afkstatus"], grouped["currentwindow"]
        afk = bool(afk_rows) and afk_rows[-1].data.get("status") == "afk"
        app = str(windows[-1].data.get("app", "")) if windows else None
        for event in make_events(raw, config):
            seconds = event.seconds
            if seconds is not None and seconds > seen:
                seen = seconds
                yield Moment(event=event, now=time.time(), afk=afk, active_app=app)
        await asyncio.sleep(interval)


# --- presenters -------------------------------------------------------------------------


def parse_answer(word: str) -> Answer | None:
    """'accept' / 'dismiss' / 'ignore' (and short forms) -> the answer; None when not one."""
    return ANSWER_WORDS.get(word.strip().lower())


def read_answers(path: Path) -> list[Answer]:
    """An answers file: one answer per line; blank lines and '#' comments are skipped."""
    try:
        lines = read_text(path).splitlines()  # one line naming the byte when it is not UTF-8
    except OSError as exc:
        raise DataError(path, "", "", f"a readable answers file ({exc.strerror})") from exc
    answers: list[Answer] = []
    for number, line in enumerate(lines, 1):
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        answer = parse_answer(word)
        if answer is None:
            raise DataError(path, f"line {number}", "answer", f"'accept', 'dismiss' or 'ignore', not '{word}'")
        answers.append(answer)
    return answers


class TerminalPresenter:
    """Prints each offer; answers come from a list (an --answers file) or the keyboard."""

    def __init__(self, answers: Sequence[str] | None = None, echo: Any = typer.echo) -> None:
        self.answers: list[Answer] | None = None
        if answers is not None:
            parsed = [parse_answer(a) for a in answers]
            if None in parsed:
                raise UserError(f"answers {answers}: each must be accept, dismiss or ignore")
            self.answers = [a for a in parsed if a is not None]
        self.echo = echo
        self.shown = 0

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str) -> Answer:
        self.shown += 1
        self.echo(f"[proposal {proposal_id}] {task}\n    on Accept: {action}\n    why: {reason}")
        if self.answers is None:
            answer = await asyncio.to_thread(self._ask)
        elif self.answers:
            answer = self.answers.pop(0)
        else:
            self.echo("    (answers file used up: counted as ignored)")
            answer = "ignored"
        self.echo(f"    -> {answer}")
        return answer

    def _ask(self) -> Answer:
        while True:
            word = typer.prompt("    accept / dismiss / ignore", default="ignore")
            answer = parse_answer(word)
            if answer is not None:
                return answer
            self.echo("    please type accept, dismiss or ignore")
