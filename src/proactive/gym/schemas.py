"""Shapes of the gym's model answers, validated before they touch the episode state.

String lengths and list sizes are capped because the embedded 1.5B model writes about
25 tokens a second: a cap in the schema is also a cap on generation time (grammar-
constrained backends honour it), and keeps one rambling answer from stalling a scene.
Numbers that models like to write as text ("2 min") are read leniently.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from proactive.gym.state import parse_duration

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=220)]
Seconds = Annotated[int, BeforeValidator(parse_duration)]


class EntitySetup(BaseModel):
    """An entity as the world model first describes it."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
    status: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


class WorldSetup(BaseModel):
    """The expanded setting written once at the start of an episode."""

    overview: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    start_time: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = Field(
        description="Local start time, 'YYYY-MM-DD HH:MM'."
    )
    entities: list[EntitySetup] = Field(max_length=4)


class UserTurn(BaseModel):
    """The simulated user's first answer in a round: maybe a question, an activity, or done."""

    question: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = Field(
        description="A short question for the environment, or '' for none."
    )
    activity: Sentence
    finished: bool


class UserActivity(BaseModel):
    """The simulated user's activity after the environment answered a question."""

    activity: Sentence
    finished: bool


class UserContinuation(BaseModel):
    """The simulated user's activity after a premature "finished" was overruled.

    No `finished` field: the user was told to keep working, and a schema without the
    flag makes a second premature claim impossible to write, not merely ignored.
    """

    activity: Sentence


class EnvironmentAnswer(BaseModel):
    """The environment's factual answer to the user's question."""

    answer: Sentence


class GeneratedEvent(BaseModel):
    """One objective event and how long it took."""

    text: Sentence
    duration: Seconds = Field(description="Seconds the event took.")


class EntityUpdate(BaseModel):
    """A change of one entity's status caused by the events."""

    entity: Short
    status: Short


class EnvironmentEvents(BaseModel):
    """Events that an activity produced, in order, and the entity changes they caused."""

    events: list[GeneratedEvent] = Field(min_length=1, max_length=4)
    updates: list[EntityUpdate] = Field(max_length=3)


class UserVerdict(BaseModel):
    """The simulated user's reaction to a proposal."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=90)]
    accept: bool


class AgentMove(BaseModel):
    """The agent's next operation call while carrying out an accepted task."""

    operation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = Field(
        description="One call such as file_open('main.py'), or '' when done."
    )
    done: bool
