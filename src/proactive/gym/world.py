"""The environment model: expands a scene into a world, answers questions, writes events.

The world never trusts the model blindly: the start clock is parsed leniently (the
reference gym crashed on malformed clocks), durations are clamped, entity updates are
matched by name, and a failed setup falls back to a plain world built from the scene.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from proactive.gym.calls import CallFailed, ask
from proactive.gym.schemas import EnvironmentAnswer, EnvironmentEvents, WorldSetup
from proactive.gym.state import DEFAULT_START, Entity, EpisodeState, WorldState, format_clock, parse_clock
from proactive.models.base import ChatModel
from proactive.types import Scene

#: Asked of some rounds (picked by a seeded draw, so a resumed run asks the same), because
#: real activity logs hold failures and idle moves and a small model rarely writes them unasked.
TWISTS = (
    "Make one of the events a failure: an error message, a crash, a failed build or a useless search.",
    "Make one of the events a meaningless action: switching windows without doing anything, idle scrolling.",
)
TWIST_RATE = 0.35


@dataclass(frozen=True)
class WorldLimits:
    """Generation caps for the environment model's calls."""

    max_entities: int = 4
    setup_tokens: int = 240
    events_tokens: int = 300
    answer_tokens: int = 90
    history_events: int = 30
    examples: int = 4


def user_examples(scene: Scene, count: int) -> list[str]:
    """Sample events of the user (agent-made ones are left out: small models copy them)."""
    examples = scene.environment.events_example
    own = [e for e in examples if not e.lower().startswith(("the agent", "the assistant"))]
    return (own or examples)[:count]


def fallback_world(scene: Scene, limits: WorldLimits) -> WorldState:
    """A world straight from the scene, used when the model's setup is unusable."""
    start = DEFAULT_START.timestamp()
    names = scene.environment.entities[: limits.max_entities]
    entities = [Entity(name=name, status="available") for name in names]
    return WorldState(
        overview=scene.environment.description,
        start=start,
        clock=start,
        entities=entities,
        operations=list(scene.environment.agent_ops),
        examples=user_examples(scene, limits.examples),
    )


async def setup_world(model: ChatModel, scene: Scene, limits: WorldLimits) -> tuple[WorldState, str]:
    """The expanded world, and a note ('' or why a fallback or repair was needed)."""
    try:
        setup = await ask(
            model,
            "gym_world.j2",
            WorldSetup,
            limits.setup_tokens,
            theme=scene.environment.theme,
            description=scene.environment.description,
            person=scene.user.description,
            entities=scene.environment.entities,
            max_entities=limits.max_entities,
        )
    except CallFailed as exc:
        return fallback_world(scene, limits), f"world setup unusable, using the scene as is ({exc.reason})"
    start, repaired = parse_clock(setup.start_time)
    entities = [Entity(name=e.name, description=e.description, status=e.status) for e in setup.entities]
    if not entities:
        entities = fallback_world(scene, limits).entities
    world = WorldState(
        overview=setup.overview,
        start=start,
        clock=start,
        entities=entities,
        operations=list(scene.environment.agent_ops),
        examples=user_examples(scene, limits.examples),
    )
    note = f"unreadable start time {setup.start_time!r}, clock starts at the default" if repaired else ""
    return world, note


def context(state: EpisodeState, limits: WorldLimits) -> dict[str, Any]:
    """Template variables of gym_common.j2, the prefix every gym prompt shares.

    The prefix only grows (events are appended, never shifted, until the window of
    `history_events` fills), so a llama.cpp backend re-evaluates just the new tail of
    each prompt instead of the whole scene.
    """
    world = state.world
    history = [
        {"clock": format_clock(event.seconds or world.clock)[11:], "text": event.text}
        for event in state.history[-limits.history_events :]
    ]
    return {
        "profile": state.user.profile,
        "goal": state.user.goal,
        "overview": world.overview,
        "operations": world.operations,
        "examples": world.examples,
        "history": history,
        "entities": world.entities,
        "clock": world.clock_text()[:16],
    }


async def answer_question(
    model: ChatModel, state: EpisodeState, question: str, limits: WorldLimits
) -> str:
    """The environment's factual answer to the simulated user's question."""
    reply = await ask(
        model,
        "gym_env_answer.j2",
        EnvironmentAnswer,
        limits.answer_tokens,
        question=question,
        **context(state, limits),
    )
    return reply.answer


def twist_for(scene_id: str, step: int, round_index: int) -> str:
    """A seeded twist (failure or meaningless action) for some rounds, else ''."""
    draw = random.Random(f"{scene_id}:{step}:{round_index}")
    return draw.choice(TWISTS) if draw.random() < TWIST_RATE else ""


async def write_events(
    model: ChatModel,
    state: EpisodeState,
    activity: str,
    by_agent: bool,
    count: int,
    twist: str,
    limits: WorldLimits,
) -> EnvironmentEvents:
    """Objective events produced by an activity of the user (or an operation of the agent)."""
    return await ask(
        model,
        "gym_env_events.j2",
        EnvironmentEvents,
        limits.events_tokens,
        actor="The assistant" if by_agent else "The person",
        subject="The agent" if by_agent else "The user",
        activity=activity,
        count=count,
        twist=twist,
        **context(state, limits),
    )
