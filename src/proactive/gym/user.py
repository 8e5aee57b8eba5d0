"""The simulated user: picks the next activity (maybe after a question), judges proposals."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import cast

from proactive.gym.calls import CallFailed, ask
from proactive.gym.schemas import UserActivity, UserContinuation, UserTurn, UserVerdict
from proactive.gym.state import EpisodeState
from proactive.gym.world import WorldLimits, answer_question, context
from proactive.models.base import ChatModel
from proactive.types import Judgement, Proposal


@dataclass(frozen=True)
class UserLimits:
    """Generation caps for the simulated user's calls."""

    turn_tokens: int = 110
    refine_tokens: int = 80
    judge_tokens: int = 60
    recent_activities: int = 4
    #: Share of rounds in which the user may ask the environment a question first; the
    #: draw is seeded by scene and step so a resumed run asks the same.
    question_rate: float = 0.3


@dataclass
class UserDecision:
    """What the user does this round; `question`/`answer` are '' when none was asked."""

    activity: str
    finished: bool
    question: str = ""
    answer: str = ""
    note: str = ""


async def decide(
    model: ChatModel, state: EpisodeState, limits: UserLimits, world_limits: WorldLimits
) -> UserDecision:
    """Ask the user model for its next step; a question goes to the environment first.

    Raises CallFailed only when the first call fails; a failed answer or refinement keeps
    the first activity, with a note saying why.
    """
    user = state.user
    draw = random.Random(f"{state.scene_id}:{state.step + 1}:question")
    allow_question = draw.random() < limits.question_rate
    turn: UserTurn | UserActivity = await ask(
        model,
        "gym_user_turn.j2",
        cast(type[UserTurn | UserActivity], UserTurn if allow_question else UserActivity),
        limits.turn_tokens,
        activities=user.activities[-limits.recent_activities :],
        allow_question=allow_question,
        **context(state, world_limits),
    )
    decision = UserDecision(activity=turn.activity, finished=turn.finished)
    if turn.finished or not isinstance(turn, UserTurn) or not turn.question.strip():
        return decision
    decision.question = turn.question
    try:
        decision.answer = await answer_question(model, state, turn.question, world_limits)
        refined = await ask(
            model,
            "gym_user_refine.j2",
            UserActivity,
            limits.refine_tokens,
            question=turn.question,
            answer=decision.answer,
            **context(state, world_limits),
        )
    except CallFailed as exc:
        decision.note = f"kept the first activity ({exc})"
        return decision
    decision.activity, decision.finished = refined.activity, refined.finished
    return decision


async def keep_working(
    model: ChatModel, state: EpisodeState, needed: int, limits: UserLimits, world_limits: WorldLimits
) -> str:
    """The next activity of a user whose premature "finished" was overruled.

    The user is told how many steps the goal takes and how many it has done; the answer
    has no `finished` flag. Raises CallFailed when the answer is unusable.
    """
    user = state.user
    turn = await ask(
        model,
        "gym_user_continue.j2",
        UserContinuation,
        limits.refine_tokens,
        activities=user.activities[-limits.recent_activities :],
        needed=needed,
        done=state.activities_done,
        **context(state, world_limits),
    )
    return turn.activity


async def judge_proposal(
    model: ChatModel, state: EpisodeState, proposal: Proposal, limits: UserLimits, world_limits: WorldLimits
) -> Judgement:
    """The simulated user's verdict on a proposal (raises CallFailed when unusable)."""
    verdict = await ask(
        model,
        "gym_user_judge.j2",
        UserVerdict,
        limits.judge_tokens,
        task=proposal.task or "",
        **context(state, world_limits),
    )
    return Judgement(accepted=verdict.accept, reason=verdict.reason, score=1.0 if verdict.accept else 0.0)
