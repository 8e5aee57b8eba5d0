"""What the annotation page shows: the event history with readable clocks and gaps, and the form parsing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from proactive.types import Event

_INDEX = re.compile(r"-?[0-9]{1,6}")
#: An item id in a URL: ASCII digits, at most 18 of them (SQLite integers are 64-bit).
_ITEM_ID = re.compile(r"[0-9]{1,18}")


class HistoryRow(BaseModel):
    """One event as the annotator reads it."""

    clock: str
    gap: str
    text: str
    current: bool


class LabelForm(BaseModel):
    """A label submit after validation: the accepted candidate indexes ([] = reject all)."""

    accepted: list[int]


class FormProblem(ValueError):
    """A malformed label form; the message says what is wrong and how to fix it."""


def _clock(seconds: float | None, raw: str) -> str:
    if seconds is None:
        return raw
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _gap(seconds: float | None, previous: float | None) -> str:
    """'+4 s', '+2 min 5 s', '+1 h 3 min' after the previous event; '' for the first or unknown times."""
    if seconds is None or previous is None:
        return ""
    gap = max(0, round(seconds - previous))
    if gap < 60:
        return f"+{gap} s"
    if gap < 3600:
        return f"+{gap // 60} min {gap % 60} s"
    return f"+{gap // 3600} h {gap % 3600 // 60} min"


def history_rows(history: Sequence[Event]) -> list[HistoryRow]:
    """The events up to the labelled step, the latest marked current."""
    rows: list[HistoryRow] = []
    previous: float | None = None
    for index, event in enumerate(history):
        seconds = event.seconds
        rows.append(
            HistoryRow(
                clock=_clock(seconds, event.time),
                gap=_gap(seconds, previous),
                text=event.text,
                current=index == len(history) - 1,
            )
        )
        previous = seconds if seconds is not None else previous
    return rows


def parse_label_form(action: object, ticks: Sequence[object], n_candidates: int) -> LabelForm:
    """Validate the submit button and ticked boxes; raises FormProblem with a one-line message."""
    if action not in ("submit", "reject"):
        raise FormProblem("field 'action' must be 'submit' or 'reject': press Submit or Reject all")
    accepted: set[int] = set()
    for tick in ticks:
        # ASCII digits only: str.isdigit() and int() also take '٣' or '²', which no checkbox sends.
        if not isinstance(tick, str) or not _INDEX.fullmatch(tick.strip()):
            raise FormProblem(f"field 'accept' must hold candidate numbers, got {str(tick)[:40]!r}: reload the page")
        index = int(tick)
        if not 0 <= index < n_candidates:
            raise FormProblem(f"field 'accept': candidate {index} does not exist (0..{n_candidates - 1}): reload")
        if index in accepted:
            raise FormProblem(f"field 'accept': candidate {index} ticked twice: reload the page")
        accepted.add(index)
    if action == "reject" and accepted:
        raise FormProblem("Reject all and ticked candidates at once: untick them or press Submit")
    if action == "submit" and not accepted:
        raise FormProblem("nothing ticked: tick the tasks you would accept, or press Reject all")
    return LabelForm(accepted=sorted(accepted))


def item_number(text: str) -> int | None:
    """The item id in `/item/{text}`, or None when it cannot be one (so the page is a 404, not an error)."""
    return int(text) if _ITEM_ID.fullmatch(text) else None
