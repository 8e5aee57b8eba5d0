"""The activity log that the LLM gate and the offer writer both read, as one shared prompt prefix.

[system][user: "Recent activity:" + one line per event, earlier offers with the person's
answers under their event] then a question appended to the same user turn: the gate's
yes/no (`offer_gate.j2`) or the writer's request (`offer_write.j2`). Lines are only ever
appended, and the window's start moves in steps of `WINDOW_STEP` events, so consecutive
calls (gate, then writer, then the next event's gate) share every token up to the
question and llama.cpp evaluates only the new lines and the question.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proactive.models.base import Message
from proactive.prompts import render
from proactive.types import Event, Judgement, Observation

SYSTEM_TEMPLATE = "offer_system.j2"
ACTIVITY_TEMPLATE = "offer_activity.j2"
GATE_TEMPLATE = "offer_gate.j2"
#: At most this many events are shown; the window start moves in steps, so prefixes are reused.
WINDOW = 16
WINDOW_STEP = 8


def _clock(event: Event) -> str:
    seconds = event.seconds
    if seconds is None:
        return event.time.strip()[:24]
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%H:%M:%S")


def _answer_word(judgement: Judgement) -> str:
    return "they accepted it" if judgement.accepted else "they dismissed it"


def window_start(count: int) -> int:
    """First event shown when `count` events exist (moves in steps of `WINDOW_STEP`)."""
    if count <= WINDOW:
        return 0
    return ((count - WINDOW) // WINDOW_STEP + 1) * WINDOW_STEP


def activity_lines(observation: Observation, start: int | None = None) -> list[str]:
    """The activity log the writer and the LLM gate read: events, with earlier offers under them.

    `start` (default: this moment's window) lets a prefill read the window the *next* event
    will use, so that a window move costs a closed event's time, never an offer's.
    """
    history = observation.history
    start = window_start(len(history)) if start is None else start
    lines: list[str] = []
    for index in range(start, len(history)):
        lines.append(f"[{_clock(history[index])}] {' '.join(history[index].text.split())}")
        if index < len(observation.previous) and index < len(history) - 1:
            earlier = observation.previous[index]
            feedback = observation.feedback[index] if index < len(observation.feedback) else None
            # A standing repeat is the offer of an earlier line again: listed once. An offer
            # nobody answered is left out: the writer copied it onto later moments instead of
            # reading the new event (new traces' dev set: see docs/agent.md).
            if not earlier.is_silence and earlier.repeats is None and feedback is not None:
                lines.append(f'    you offered: "{earlier.task}" ({_answer_word(feedback)})')
    return lines


def shared_prefix(observation: Observation, start: int | None = None) -> list[Message]:
    """System prompt and the activity log: the part the gate and the writer share."""
    activity = render(ACTIVITY_TEMPLATE, lines=activity_lines(observation, start)).rstrip("\n")
    return [
        {"role": "system", "content": render(SYSTEM_TEMPLATE).strip()},
        {"role": "user", "content": activity},
    ]


def with_question(prefix: list[Message], template: str, **variables: Any) -> list[Message]:
    """The shared prefix with a question appended to the activity (same tokens up to the question)."""
    last = prefix[-1]
    question = render(template, **variables).strip()
    return [*prefix[:-1], {"role": "user", "content": f"{last['content']}\n\n{question}"}]
