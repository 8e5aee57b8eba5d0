"""Typed state of one gym episode: the world, the simulated user, the trace so far.

Everything an episode needs to continue lives in `EpisodeState`, which the runner saves
after every completed step. Resuming a scene therefore never re-derives state from
model answers: it loads the last snapshot and cuts the trace file back to match it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from proactive.types import Event, EventSource, Judgement, Proposal

#: Where a simulated clock starts when the model's start time cannot be read.
DEFAULT_START = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
#: Durations are clamped to this range: a model that writes "0" or "3 days" must not
#: freeze the clock or jump it past the working session.
MIN_DURATION, MAX_DURATION = 1, 3600

EpisodeStatus = Literal["running", "finished", "capped", "failed"]
LineKind = Literal[
    "activity", "question", "answer", "event", "proposal", "action", "finish", "overruled", "skip"
]


class Entity(BaseModel):
    """One thing in the simulated world (an app, a file, a device, a person)."""

    name: str = Field(description="Short name, e.g. 'Visual Studio Code'.")
    description: str = Field(default="", description="What it is, in a phrase.")
    status: str = Field(default="idle", description="Its current state, e.g. 'open on main.py'.")
    properties: dict[str, str] = Field(default_factory=dict, description="Other facts, key -> value.")


class WorldState(BaseModel):
    """The environment: an expanded setting, updated by every event."""

    overview: str = Field(description="A paragraph describing the setting.")
    start: float = Field(description="Unix seconds when the episode starts.")
    clock: float = Field(description="Unix seconds now; moves by each event's duration.")
    entities: list[Entity] = Field(default_factory=list, description="Things in the world.")
    operations: list[str] = Field(default_factory=list, description="Operations the agent may call.")
    past_actions: list[str] = Field(default_factory=list, description="Operations the agent already ran.")
    examples: list[str] = Field(default_factory=list, description="Sample events showing the logger's style.")

    def advance(self, seconds: int) -> None:
        """Move the clock forward by a (clamped) duration."""
        self.clock += clamp_duration(seconds)

    def apply_update(self, name: str, status: str) -> bool:
        """Set an entity's status; matches names case-insensitively, adds unknown ones.

        Returns True when an existing entity changed, False when one was added.
        """
        wanted = name.strip().lower()
        for entity in self.entities:
            if entity.name.strip().lower() == wanted:
                entity.status = status.strip()
                return True
        self.entities.append(Entity(name=name.strip(), status=status.strip()))
        return False

    def clock_text(self) -> str:
        """The clock as 'YYYY-MM-DD HH:MM:SS' (UTC), the form prompts and traces show."""
        return format_clock(self.clock)


class UserState(BaseModel):
    """The simulated person: who they are, what they want, whether they are done."""

    profile: str = Field(description="Who the person is (from the scene).")
    goal: str = Field(description="What the person wants to get done.")
    finished: bool = Field(default=False, description="True once the person declares the goal done.")
    activities: list[str] = Field(default_factory=list, description="Activities chosen so far, in order.")


class EpisodeState(BaseModel):
    """Everything needed to continue an episode after its last completed step."""

    scene_id: str = Field(description="The scene this episode plays.")
    status: EpisodeStatus = Field(default="running", description="running, finished, capped or failed.")
    reason: str = Field(default="", description="Why the episode stopped (or the last skip).")
    step: int = Field(default=0, description="Completed steps (rounds of user activity).")
    activities_done: int = Field(default=0, description="Steps whose activity produced events (skips excluded).")
    overruled_finishes: int = Field(
        default=0, description="Times the user declared the goal finished before --min-steps activities."
    )
    lines_written: int = Field(default=0, description="Trace lines on disk after the last step.")
    failed_in_a_row: int = Field(default=0, description="Consecutive skipped steps.")
    world: WorldState = Field(description="The environment.")
    user: UserState = Field(description="The simulated person.")
    history: list[Event] = Field(default_factory=list, description="Events so far (what the agent sees).")
    proposals: list[Proposal] = Field(default_factory=list, description="Agent answers per consulted event.")
    feedback: list[Judgement | None] = Field(default_factory=list, description="Judgement per proposal.")


class TraceLine(BaseModel):
    """One line of a scene's JSONL trace."""

    scene_id: str = Field(description="Scene identifier.")
    step: int = Field(description="1-based step (round) the line belongs to; 0 for setup.")
    time: str = Field(description="Unix seconds as a string, like ProactiveBench event times.")
    clock: str = Field(description="The same instant, readable (UTC).")
    source: EventSource = Field(description="user, environment or agent.")
    kind: LineKind = Field(description="What the line records.")
    text: str = Field(description="One sentence.")
    duration: int | None = Field(default=None, description="Seconds the event took (events only).")
    judgement: Judgement | None = Field(default=None, description="The verdict on a proposal.")


def clamp_duration(seconds: float) -> int:
    """A duration in whole seconds within [MIN_DURATION, MAX_DURATION]."""
    return int(min(max(round(seconds), MIN_DURATION), MAX_DURATION))


_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(hours?|h|minutes?|mins?|m|seconds?|secs?|s)?", re.I)


def parse_duration(value: object, default: int = 30) -> int:
    """Seconds from 42, 42.5, "42", "2 min", "1m30s", "1 hour"; `default` when unreadable."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return clamp_duration(value)
    total = 0.0
    for number, unit in _DURATION_PART.findall(str(value)):
        key = (unit or "s").lower().rstrip("s") or "s"
        total += float(number) * _UNIT_SECONDS.get(key, _UNIT_SECONDS.get(key[:1], 1))
    return clamp_duration(total) if total > 0 else default


_CLOCK_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M",
    "%d/%m/%Y %H:%M",
    "%B %d, %Y %I:%M %p",
    "%A, %B %d, %Y %I:%M %p",
)
_TIME_OF_DAY = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.I)


def parse_clock(text: object, default: datetime = DEFAULT_START) -> tuple[float, bool]:
    """Unix seconds from whatever clock a model wrote, and whether it had to be repaired.

    Reads unix seconds, ISO 8601 and common date formats; a bare time of day ("9:30 AM",
    "Day 2, 11:00 PM", "14h") is put on the default date (plus the day offset). Anything
    else falls back to `default` with repaired=True, so a bad clock never stops a run.
    """
    raw = str(text).strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", raw):
        return float(raw), False
    for form in _CLOCK_FORMATS:
        try:
            return datetime.strptime(raw, form).replace(tzinfo=UTC).timestamp(), False
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp(), False
    except ValueError:
        pass
    return _time_of_day(raw, default)


def _time_of_day(raw: str, default: datetime) -> tuple[float, bool]:
    day = re.search(r"day\s*(\d+)", raw, re.I)
    offset = int(day.group(1)) - 1 if day else 0
    rest = raw[day.end() :] if day else raw
    match = _TIME_OF_DAY.search(rest)
    if not match:
        return default.timestamp(), True
    hour, minute, second = int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)
    meridiem = (match.group(4) or "").lower().replace(".", "")
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return default.timestamp(), True
    moment = default.replace(hour=hour, minute=minute, second=second) + timedelta(days=max(offset, 0))
    return moment.timestamp(), False


def format_clock(seconds: float) -> str:
    """'YYYY-MM-DD HH:MM:SS' in UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
