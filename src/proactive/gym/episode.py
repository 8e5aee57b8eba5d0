"""One gym episode as a state machine over `EpisodeState`, one step (round) at a time.

A step: the simulated user picks an activity (or declares the goal finished, maybe
after asking the environment a question); a "finished" before `min_steps` activities is
overruled (an `overruled` line, counted in the state) and the user is asked for its
next activity instead, because an episode that ends before it starts yields no data;
the environment model writes a few
objective events for it, each moving the clock by its duration; after each event the
agent proposes or stays silent; a proposal is judged (simulated user or a registered
judge) and an accepted one is carried out through the scene's operations, each call
becoming events with the agent as source. Entity updates apply after the user's events.

Every line goes to a `LineSink` the moment it exists; the runner checkpoints the state
after each step. A model answer that is unusable even after the model layer's repair
retry skips the step with a logged reason; too many skipped steps in a row fail the
episode, and the runner moves on to other scenes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from proactive.agent.base import Agent, Observation
from proactive.gym import user as simulated_user
from proactive.gym.calls import CallFailed, ask
from proactive.gym.schemas import AgentMove
from proactive.gym.state import EpisodeState, LineKind, TraceLine, format_clock
from proactive.gym.world import WorldLimits, context, twist_for, write_events
from proactive.judge.base import Judge
from proactive.models.base import ChatModel
from proactive.models.structured import ModelOutputError
from proactive.types import Event, EventSource, Judgement, Proposal, Scene

log = logging.getLogger("proactive.gym")


class LineSink(Protocol):
    """Where trace lines go (the runner's fsync'ed JSONL file, or a list in tests)."""

    def write(self, line: TraceLine) -> None: ...


@dataclass(frozen=True)
class GymConfig:
    """How long episodes run and how much each round may produce."""

    max_steps: int = 6
    #: Activities the user must have done before a "goal finished" is accepted.
    min_steps: int = 3
    events_per_activity: tuple[int, ...] = (2, 3, 3, 4)
    events_per_agent_call: tuple[int, ...] = (1, 2)
    max_agent_calls: int = 1
    max_failures_in_a_row: int = 3
    act_tokens: int = 70
    world: WorldLimits = field(default_factory=WorldLimits)
    user: simulated_user.UserLimits = field(default_factory=simulated_user.UserLimits)


def operation_name(call: str) -> str:
    """'file_open' from "file_open('a.py')" or 'file_open(file_path)'."""
    return call.split("(", 1)[0].strip().lower()


class Episode:
    """Plays one scene; `state` is the only thing that must survive between steps."""

    def __init__(
        self,
        scene: Scene,
        state: EpisodeState,
        model: ChatModel,
        agent: Agent,
        sink: LineSink,
        config: GymConfig,
        judge: Judge | None = None,
    ) -> None:
        self.scene, self.state, self.model, self.agent = scene, state, model, agent
        self.sink, self.config, self.judge = sink, config, judge

    async def run(self, after_step: Callable[[EpisodeState], Awaitable[None] | None] | None = None) -> None:
        """Steps until the goal is finished, the episode fails, or max_steps is reached."""
        while self.state.status == "running":
            if self.state.step >= self.config.max_steps:
                self.state.status, self.state.reason = "capped", f"reached max steps ({self.config.max_steps})"
                break
            await self.step()
            if after_step is not None:
                outcome = after_step(self.state)
                if outcome is not None:
                    await outcome

    # -- one round -------------------------------------------------------------------------

    async def step(self) -> None:
        """Play one round and advance `state.step` (also when the round is skipped)."""
        number = self.state.step + 1
        try:
            decision = await simulated_user.decide(self.model, self.state, self.config.user, self.config.world)
        except CallFailed as exc:
            self._skip_step(number, f"user turn unusable: {exc}")
            return
        if decision.question:
            self._write(number, "user", "question", decision.question)
        if decision.answer:
            self._write(number, "environment", "answer", decision.answer)
        if decision.note:
            log.info("%s step %d: %s", self.state.scene_id, number, decision.note)
        if decision.finished and self.state.activities_done < self.config.min_steps:
            decision = await self._overrule(number, decision)
        if decision.finished:
            self._write(number, "user", "finish", "The user declares the goal finished.")
            self.state.user.finished = True
            self.state.status, self.state.reason = "finished", "goal finished"
            self.state.step = number
            return
        self._write(number, "user", "activity", decision.activity)
        self.state.user.activities.append(decision.activity)
        problem = await self._events(number, decision.activity, by_agent=False, round_index=0)
        if problem:
            self._skip_step(number, problem)
            return
        self.state.step, self.state.failed_in_a_row = number, 0
        self.state.activities_done += 1

    async def _overrule(self, number: int, claim: simulated_user.UserDecision) -> simulated_user.UserDecision:
        """Refuse a premature "finished" on the record, then ask the user to keep working."""
        done, needed = self.state.activities_done, self.config.min_steps
        self.state.overruled_finishes += 1
        self._write(
            number, "user", "overruled",
            f"The user declared the goal finished after {done} of at least {needed} activities; "
            "the claim is overruled and the user keeps working.",
        )  # fmt: skip
        try:
            activity = await simulated_user.keep_working(
                self.model, self.state, needed, self.config.user, self.config.world
            )
        except CallFailed as exc:
            # The claim came with an activity sentence (the schema requires one): play that.
            log.info("%s step %d: kept the activity of the overruled answer (%s)", self.state.scene_id, number, exc)
            activity = claim.activity
        return simulated_user.UserDecision(activity=activity, finished=False)

    def _skip_step(self, number: int, reason: str) -> None:
        self._skip(number, reason)
        state = self.state
        state.step, state.reason = number, reason
        state.failed_in_a_row += 1
        if state.failed_in_a_row >= self.config.max_failures_in_a_row:
            state.status = "failed"
            state.reason = f"{state.failed_in_a_row} steps in a row skipped; last: {reason}"

    # -- events ----------------------------------------------------------------------------

    async def _events(self, number: int, activity: str, by_agent: bool, round_index: int) -> str:
        """Write the events of one activity; '' on success, else why nothing was written."""
        draw = random.Random(f"{self.state.scene_id}:{number}:{round_index}:count")
        choices = self.config.events_per_agent_call if by_agent else self.config.events_per_activity
        count = draw.choice(choices)
        twist = "" if by_agent else twist_for(self.state.scene_id, number, round_index)
        try:
            produced = await write_events(
                self.model, self.state, activity, by_agent, count, twist, self.config.world
            )
        except CallFailed as exc:
            return f"environment events unusable: {exc}"
        source: EventSource = "agent" if by_agent else "environment"
        events = produced.events[: max(choices)]
        if not by_agent:
            # Small models copy agent-style examples into the user's events; the agent's
            # events come only from its own accepted actions.
            events = [e for e in events if not e.text.lower().startswith(("the agent", "the assistant"))]
            if not events:
                return "environment events unusable: every event was written for the agent"
        for generated in events:
            self._event(number, generated.text, generated.duration, source)
            if not by_agent:
                await self._consult_agent(number)
        for update in produced.updates:
            self.state.world.apply_update(update.entity, update.status)
        return ""

    def _event(self, number: int, text: str, duration: int, source: EventSource) -> None:
        world = self.state.world
        event = Event(time=f"{world.clock:.1f}", text=text, source=source)
        self.state.history.append(event)
        self._write(number, source, "event", text, duration=duration)
        world.advance(duration)

    # -- the agent ---------------------------------------------------------------------------

    async def _consult_agent(self, number: int) -> None:
        state = self.state
        observation = Observation(
            history=list(state.history), previous=list(state.proposals), feedback=list(state.feedback)
        )
        try:
            proposal = (await self.agent(observation)).proposal
        except (CallFailed, ModelOutputError) as exc:
            self._skip(number, f"agent answer unusable, counted as silence: {exc}")
            proposal = Proposal()
        judgement = None if proposal.is_silence else await self._judge(number, proposal)
        state.proposals.append(proposal)
        state.feedback.append(judgement)
        if proposal.is_silence:
            return
        self._write(number, "agent", "proposal", proposal.task or "", judgement=judgement)
        if judgement is not None and judgement.accepted:
            await self._carry_out(number, proposal.task or "")

    async def _judge(self, number: int, proposal: Proposal) -> Judgement | None:
        try:
            if self.judge is not None:
                return await self.judge(list(self.state.history), proposal)
            return await simulated_user.judge_proposal(
                self.model, self.state, proposal, self.config.user, self.config.world
            )
        except (CallFailed, ModelOutputError) as exc:
            self._skip(number, f"judgement unusable, proposal left unjudged: {exc}")
            return None

    async def _carry_out(self, number: int, task: str) -> None:
        """The agent calls operations for an accepted task until done (or the call cap)."""
        world = self.state.world
        known = {operation_name(op) for op in world.operations}
        example = f"{operation_name(world.operations[0])}('...')" if world.operations else "file_open('notes.txt')"
        calls: list[str] = []
        for index in range(self.config.max_agent_calls):
            try:
                move = await ask(
                    self.model,
                    "gym_agent_act.j2",
                    AgentMove,
                    self.config.act_tokens,
                    task=task,
                    done=calls,
                    example=example,
                    **context(self.state, self.config.world),
                )
            except CallFailed as exc:
                self._skip(number, f"agent action unusable: {exc}")
                return
            call = move.operation.strip().rstrip(".")
            if not call:
                return
            if known and operation_name(call) not in known:
                self._skip(number, f"agent called unknown operation {call!r}; task abandoned")
                return
            self._write(number, "agent", "action", f"The agent calls {call}.")
            world.past_actions.append(call)
            calls.append(call)
            problem = await self._events(number, f"calls {call} for the task: {task}", True, index + 1)
            if problem:
                self._skip(number, problem)
                return
            if move.done:  # small models often name the call and mark it the last one at once
                return

    # -- lines -------------------------------------------------------------------------------

    def _skip(self, number: int, reason: str) -> None:
        log.warning("%s step %d skipped: %s", self.state.scene_id, number, reason)
        self._write(number, "environment", "skip", reason[:500])

    def _write(
        self,
        number: int,
        source: EventSource,
        kind: LineKind,
        text: str,
        duration: int | None = None,
        judgement: Judgement | None = None,
    ) -> None:
        clock = self.state.world.clock
        line = TraceLine(
            scene_id=self.state.scene_id,
            step=number,
            time=f"{clock:.1f}",
            clock=format_clock(clock),
            source=source,
            kind=kind,
            text=text,
            duration=duration,
            judgement=judgement,
        )
        self.sink.write(line)

