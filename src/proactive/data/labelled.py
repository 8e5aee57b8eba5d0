"""Our own labelled traces: activity written unlike the released traces, labelled by hand.

A folder of JSON files (the repo's `data/new_traces/`, see its README), one trace each:

    {"id": "...", "setting": "coding|writing|daily", "description": "...",
     "events": [{"time": "2026-11-30T09:12:05Z", "event": "...", "help_needed": false},
                {"time": "...", "event": "...", "help_needed": true, "objects": ["Lisbon", "TAP"], "why": "..."}]}

`help_needed` is the label of *when* to speak; `objects` (on help-needed events) are
alternative words one of which a specific offer names (the file, the error, the query,
the place). No learned part is fitted on `data/new_traces`: those are for choosing and
checking, so a figure on them is a figure on activity nobody trained on. Another set in
the same format, `proactive/gate/train_traces`, is for fitting: `rows_of_labelled` turns
it into annotated rows the shipped gate is fitted on with ProactiveBench's reward rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.errors import DataError, UserError
from proactive.types import AnnotatedRow, Event, Trace

SETTINGS = ("coding", "writing", "daily")


class LabelledTrace(BaseModel):
    """One hand-labelled trace: the events, and per event the need and its objects."""

    trace: Trace = Field(description="The events (Trace.id is the file's `id`).")
    setting: str = Field(description="coding, writing or daily.")
    help_needed: list[bool] = Field(description="Per event: would help be welcome right after it.")
    objects: list[list[str]] = Field(description="Per event: words a specific offer names (empty when no need).")
    part: str = Field(default="", description="Name of the folder it came from (e.g. dev, held).")

    @property
    def need_count(self) -> int:
        return sum(self.help_needed)


def _fail(path: Path, where: str, field: str, expected: str) -> DataError:
    return DataError(path, where, field, expected)


def _string(obj: dict[str, Any], key: str, path: Path, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, key, "missing or empty; expected a non-empty string")
    return value.strip()


def load_labelled_trace(path: Path) -> LabelledTrace:
    """One labelled trace file, checked field by field (one-line `DataError` naming the fix)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "", "", "not UTF-8 text; save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _fail(path, f"line {exc.lineno}", "", f"invalid JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise _fail(path, "", "", "expected one JSON object with id, setting and events")
    trace_id = _string(document, "id", path, "")
    setting = _string(document, "setting", path, "")
    if setting not in SETTINGS:
        raise _fail(path, "", "setting", f"'{setting}' unknown; expected one of {', '.join(SETTINGS)}")
    raw_events = document.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise _fail(path, "", "events", "missing or empty; expected a list of {time, event, help_needed}")
    events: list[Event] = []
    needs: list[bool] = []
    objects: list[list[str]] = []
    for index, raw in enumerate(raw_events):
        where = f"events[{index}]"
        if not isinstance(raw, dict):
            raise _fail(path, where, "", "expected an object with time, event and help_needed")
        need = raw.get("help_needed")
        if not isinstance(need, bool):
            raise _fail(path, where, "help_needed", "missing; expected true or false")
        words = raw.get("objects", [])
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise _fail(path, where, "objects", "expected a list of non-empty strings")
        if need and not words:
            raise _fail(path, where, "objects", "a help-needed event names at least one object word")
        events.append(Event(time=_string(raw, "time", path, where), text=_string(raw, "event", path, where)))
        needs.append(need)
        objects.append([w.strip() for w in words])
    trace = Trace(id=trace_id, events=events, theme=setting)
    return LabelledTrace(trace=trace, setting=setting, help_needed=needs, objects=objects, part=path.parent.name)


def load_labelled_traces(folder: Path) -> list[LabelledTrace]:
    """Every `*.json` trace of `folder`, sorted by file name; ids must be unique."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of labelled traces (see data/new_traces/README.md)")
    traces = [load_labelled_trace(path) for path in sorted(folder.glob("*.json"))]
    if not traces:
        raise UserError(f"{folder}: no *.json labelled traces in this folder")
    seen: dict[str, str] = {}
    for path, labelled in zip(sorted(folder.glob("*.json")), traces, strict=True):
        if labelled.trace.id in seen:
            raise _fail(path, "", "id", f"'{labelled.trace.id}' also used by {seen[labelled.trace.id]}; ids are unique")
        seen[labelled.trace.id] = path.name
    return traces


def names_object(task: str, objects: list[str]) -> bool:
    """True when the task names one of the event's objects (case-insensitive substring)."""
    lowered = task.lower()
    return any(word.lower() in lowered for word in objects)


def rows_of_labelled(traces: list[LabelledTrace]) -> list[AnnotatedRow]:
    """One silence row per event (its history up to the event, one annotator: the label), for the gate.

    The gate reads only each history's `help_needed`; the rest says what a silence there
    would have been worth (valid when no help was needed), as a reward row does. The rows'
    trace key is the trace's first event, so a gate's manifest lists these traces too.
    """
    rows = []
    for labelled in traces:
        events = labelled.trace.events
        for index, need in enumerate(labelled.help_needed):
            rows.append(
                AnnotatedRow(
                    history=list(events[: index + 1]),
                    task=None,
                    valid=not need,
                    help_needed=need,
                    annotations=[not need],
                    category="MN" if need else "CR",
                )
            )
    return rows
