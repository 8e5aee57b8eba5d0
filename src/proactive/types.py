"""Small typed values that travel between the rooms of `proactive`.

Every room (sense, agent, judge, bench, gym, annotate, train) speaks in these types and
nothing else, so any source can feed any agent and any judge can score any agent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EventSource = Literal["user", "environment", "agent", "activitywatch", "trace"]
Category = Literal["MN", "CR", "CD", "FA"]

#: Whole answers that mean "no task" when a model writes them in place of a task (after
#: `silence_form`). Only whole answers: "None of the tests pass; fix them" is a task.
SILENCE_STRINGS = frozenset({
    "", "null", "none", "nil", "no", "n/a", "na", "nothing", "no task", "no task needed", "no action",
    "no action needed", "no help needed", "not needed",
})  # fmt: skip

#: Quotes, brackets, markdown emphasis and punctuation a model puts around a bare "None.".
_EDGE_CHARS = "\"'`()[]{}<>*_.,;:!?-"


def silence_form(task: str) -> str:
    """`task` lower-cased, spaces collapsed, edge quotes / brackets / punctuation removed."""
    return " ".join(task.split()).strip(_EDGE_CHARS + " ").lower()


def is_silence(task: str | None) -> bool:
    """True when `task` means silence: None, or a whole answer such as "", "null.", "None", "'N/A'".

    Models write these in the task slot instead of JSON null (the released metric script
    counted the string "null" as a proposal). Anything with more words is a task.
    """
    return task is None or silence_form(task) in SILENCE_STRINGS


_EPOCH_RE = re.compile(r"^\s*\d{9,11}(\.\d+)?\s*$")


def parse_time(text: str) -> float | None:
    """Unix seconds from an event time, or None when the text is a free-form clock.

    ProactiveBench writes unix seconds as strings ("1717377997.0"); some reward rows
    carry clocks such as "Day 1, 11:00 PM". The text is always kept; this only parses
    what can be parsed (unix seconds and ISO 8601).
    """
    if _EPOCH_RE.match(text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Event(BaseModel):
    """One thing that happened, told as one English sentence."""

    model_config = ConfigDict(frozen=True)

    time: str = Field(description="When it happened, as written by the source (unix seconds or a clock).")
    text: str = Field(description="One English sentence, e.g. 'The user opens main.py in VS Code.'")
    source: EventSource = Field(default="trace", description="Who produced the event.")

    @property
    def seconds(self) -> float | None:
        """Unix seconds when `time` can be parsed, else None."""
        return parse_time(self.time)


class Trace(BaseModel):
    """An ordered list of events from one working session (one ProactiveBench file)."""

    id: str = Field(description="Stable name, e.g. 'code_11' (file stem) or a hash of the first event.")
    events: list[Event] = Field(description="Events in the order they happened.")
    candidates: list[list[str]] = Field(
        default_factory=list,
        description="Per event, the candidate tasks shown to annotators (may be empty lists).",
    )
    task_status: list[bool | None] = Field(
        default_factory=list,
        description="Per event, the released `task_status` flag (undocumented; not ground truth).",
    )
    theme: str | None = Field(default=None, description="Setting such as 'code' or 'writing'.")


class Proposal(BaseModel):
    """What an agent returns after an event: a task to offer, or silence (task None)."""

    task: str | None = Field(default=None, description="The task offered to the person; None is silence.")
    purpose: str = Field(default="", description="What the agent believes the person is trying to do.")
    thoughts: str = Field(default="", description="The agent's reasoning before deciding.")
    message: str = Field(default="", description="The short message the person would see.")
    gate_probability: float | None = Field(
        default=None, description="Probability from a gate that help is needed now, if one ran."
    )
    repeats: int | None = Field(
        default=None,
        description="Event index of an earlier, still unanswered offer that this one repeats (it stands "
        "again); the live assistant never shows it twice.",
    )

    @property
    def is_silence(self) -> bool:
        """True when the proposal offers nothing."""
        return is_silence(self.task)


class Judgement(BaseModel):
    """A judge's verdict on one proposal (or on one silence)."""

    accepted: bool = Field(description="Whether the person would accept the proposal (or the silence).")
    reason: str = Field(default="", description="Why, in a sentence.")
    score: float = Field(default=0.5, ge=0.0, le=1.0, description="Probability of acceptance in [0, 1].")


CATEGORY_NAMES: dict[str, Category] = {
    "Missed-Need (MN)": "MN",
    "Correct-Rejection (CR)": "CR",
    "Correct-Detection (CD)": "CD",
    "False-Alarm (FA)": "FA",
    "MN": "MN",
    "CR": "CR",
    "CD": "CD",
    "FA": "FA",
}


class AnnotatedRow(BaseModel):
    """One human-annotated judgement from ProactiveBench's reward data."""

    history: list[Event] = Field(description="The events up to and including the judged moment.")
    task: str | None = Field(description="The proposed task, or None for silence.")
    valid: bool = Field(description="The label: did the annotators (majority) accept the proposal or silence.")
    help_needed: bool = Field(description="Whether annotators said the person needed help at this moment.")
    annotations: list[bool] = Field(description="Each annotator's verdict (two or three booleans).")
    category: Category = Field(
        description="MN missed-need, CR correct-rejection, CD correct-detection, FA false-alarm."
    )

    @property
    def trace_key(self) -> str:
        """Trace identity: rows whose histories start with the same first event share a trace."""
        first = self.history[0]
        return f"{first.time}|{first.text}"


class SceneEnvironment(BaseModel):
    """The world a simulated user works in."""

    theme: str = Field(description="Short title, e.g. 'Data Analysis in Financial Services'.")
    description: str = Field(description="A paragraph setting the scene.")
    entities: list[str] = Field(description="Things in the world the user and agent can touch.")
    agent_ops: list[str] = Field(description="Operations the assistant may call, with arguments.")
    events_example: list[str] = Field(description="Sample events in the style the environment writes.")


class SceneUser(BaseModel):
    """The simulated person of a scene."""

    goal: str = Field(description="What the person wants to get done.")
    description: str = Field(description="Who the person is: role, skills, habits.")


class Scene(BaseModel):
    """A setting for the gym: an environment and a user with a goal."""

    id: str = Field(default="", description="Stable identifier (index or hash).")
    environment: SceneEnvironment = Field(description="The simulated world.")
    user: SceneUser = Field(description="The simulated person.")


class SeedSetting(BaseModel):
    """Seed tasks and sample events for one setting (coding, writing, daily life)."""

    name: str = Field(description="Setting key in seedtask.yaml, e.g. 'codingassistant'.")
    tasks: list[str] = Field(description="Seed tasks a user in this setting might pursue.")
    sample_events: list[str] = Field(description="Real events showing the expected style.")


class EventLabel(BaseModel):
    """Human labels for one ProactiveBench test event, gathered from the reward rows."""

    trace_id: str = Field(description="Test trace file stem, e.g. 'code_11'.")
    index: int = Field(description="0-based position of the event in its trace.")
    help_needed: bool = Field(description="Majority of annotated rows at this event say help was needed.")
    accepted_tasks: list[str] = Field(default_factory=list, description="Tasks the annotators accepted here.")
    rejected_tasks: list[str] = Field(default_factory=list, description="Tasks the annotators rejected here.")


class Observation(BaseModel):
    """Everything an agent may look at when deciding after the latest event."""

    history: list[Event] = Field(description="Events so far, the latest last.")
    previous: list[Proposal] = Field(
        default_factory=list, description="The agent's own proposals after each earlier event."
    )
    feedback: list[Judgement | None] = Field(
        default_factory=list,
        description="Per earlier proposal, how it was received (None when nobody judged it).",
    )


class AgentConfig(BaseModel):
    """Options shared by agent factories; each agent reads what it needs."""

    model: str | None = Field(default=None, description="Chat model spec, e.g. 'local/qwen2.5-coder-1.5b'.")
    gate: str | None = Field(
        default=None, description="Gate: 'default', 'llm' or a gate folder (gated agent; None means 'default')."
    )
    threshold: float | None = Field(default=None, description="Gate threshold override.")
    max_tokens: int = Field(default=320, description="Generation cap per answer.")
    temperature: float = Field(default=0.0, description="Sampling temperature.")

