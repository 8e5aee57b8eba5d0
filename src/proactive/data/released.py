"""The one reader of the authors' released prediction format, for `bench score` and `judge agree`.

A prediction file is a JSON list of steps, one per event of a trace:

    {"observation": {"time": "1717377997.0", "event": "The user opens main.py."},
     "agent_response": [<prediction>, ...],      # optional; missing means silence
     "judgement": [true, ...]}                   # optional; one verdict per prediction

Files written by other systems are messy, so a prediction may be:

- null, "", or a whole-answer silence string ("null", "None.", "N/A"): silence;
- a task string;
- an operation object, as the paper's own fine-tuned agent writes at some events:
  {"Operation": "browser.search", "Arguments": ["asyncio"]} is a proposal whose task is
  its rendered call, "browser.search(asyncio)";
- an object with "task" or "pred_task" (reward-data style).

`agent_response` itself may also be a bare prediction instead of a list, an empty list
(silence), or the test-data object {"candidate_task": [...]} (candidates shown to the
annotators, no prediction: silence).

An entry that fits none of these is *unreadable*: it is listed with its 0-based index
and the reason, and reading goes on. Its event still joins the history when its
observation is readable, so later events keep their context. A file that is not a
JSON list is unreadable as a whole (index None). Nothing here raises on bad content.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.errors import UserError
from proactive.types import Event, is_silence

#: The run-folder layout of bench/store.py: predictions live in this sub-folder, beside
#: files that are not predictions.
PREDICTIONS_DIR = "predictions"
NOT_PREDICTIONS = frozenset({"splits.json", "run.json", "metrics.json"})
TASK_KEYS = ("task", "pred_task")
OPERATION_KEYS = ("operation",)
ARGUMENT_KEYS = ("arguments", "args")


class Unreadable(Exception):
    """Why one prediction or step cannot be read (caught inside this module)."""


class ReleasedStep(BaseModel):
    """One readable step: its event, its predictions and the verdicts stored with them."""

    index: int = Field(description="0-based position of the step in its file.")
    event_index: int = Field(description="Position of its event in ReleasedFile.events (the history ends there).")
    tasks: list[str | None] = Field(description="One entry per prediction; None is silence; never empty.")
    judgement: list[bool] | None = Field(default=None, description="Stored verdicts, one per prediction, if any.")

    @property
    def proposed(self) -> list[str]:
        """The predictions that are tasks."""
        return [t for t in self.tasks if t is not None]


class UnreadableEntry(BaseModel):
    """A step (or, with index None, a whole file) that could not be read, and why."""

    index: int | None = Field(description="0-based step index; None when the whole file is unreadable.")
    reason: str = Field(description="Field and problem, e.g. 'agent_response: expected ...'.")


class ReleasedFile(BaseModel):
    """Everything readable in one prediction file, and what was not."""

    path: Path
    events: list[Event] = Field(default_factory=list, description="Every readable observation, in order.")
    steps: list[ReleasedStep] = Field(default_factory=list, description="Readable steps, in order.")
    unreadable: list[UnreadableEntry] = Field(default_factory=list, description="Entries that were skipped.")

    def history(self, step: ReleasedStep) -> list[Event]:
        """The events up to and including `step`'s event."""
        return self.events[: step.event_index + 1]

    def note(self) -> str | None:
        """One line for a report, e.g. 'code_11.json: entries 3, 7 unreadable (judgement: ...)'."""
        return describe_unreadable(self.path.name, self.unreadable)


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


def _key(item: dict[str, Any], names: Sequence[str]) -> str | None:
    """The first key of `item` that equals one of `names`, ignoring case."""
    for key in item:
        if isinstance(key, str) and key.lower() in names:
            return key
    return None


def render_operation(item: dict[str, Any]) -> str | None:
    """'name(arg1, arg2)' for an operation object, None when `item` has no operation key."""
    op_key = _key(item, OPERATION_KEYS)
    if op_key is None:
        return None
    name = item[op_key]
    if not isinstance(name, str) or not name.strip():
        raise Unreadable(f"{op_key}: expected an operation name, got {json.dumps(name)[:40]}")
    arg_key = _key(item, ARGUMENT_KEYS)
    arguments = item.get(arg_key) if arg_key else None
    if arguments is None:
        parts: list[str] = []
    elif isinstance(arguments, list):
        parts = [_render_value(a) for a in arguments]
    elif isinstance(arguments, dict):
        parts = [f"{k}={_render_value(v)}" for k, v in arguments.items()]
    else:
        parts = [_render_value(arguments)]
    return f"{name.strip()}({', '.join(parts)})"


def parse_prediction(item: Any) -> str | None:
    """One prediction as a task, or None for silence; raises Unreadable."""
    if item is None:
        return None
    if isinstance(item, str):
        return None if is_silence(item) else item.strip()
    if isinstance(item, dict):
        operation = render_operation(item)
        if operation is not None:
            return operation
        key = _key(item, TASK_KEYS)
        if key is not None:
            return parse_prediction(item[key])
    raise Unreadable(f"expected a task string, null or an Operation object, got {json.dumps(item)[:60]}")


def parse_response(response: Any) -> list[str | None]:
    """The predictions of one step's `agent_response` (never empty); raises Unreadable."""
    if isinstance(response, dict) and set(response) <= {"candidate_task"}:
        return [None]  # a test-data step: candidates for annotators, no prediction
    items = response if isinstance(response, list) else [response]
    tasks: list[str | None] = []
    for position, item in enumerate(items):
        try:
            tasks.append(parse_prediction(item))
        except Unreadable as exc:
            where = "agent_response" if items is not response else f"agent_response[{position}]"
            raise Unreadable(f"{where}: {exc}") from None
    return tasks or [None]


def parse_judgement(verdicts: Any) -> list[bool] | None:
    """The stored verdicts, or None when the step has none; raises Unreadable."""
    if verdicts is None:
        return None
    if not isinstance(verdicts, list) or not all(isinstance(v, bool) for v in verdicts):
        raise Unreadable(f"judgement: expected a list of true/false, got {json.dumps(verdicts)[:40]}")
    return verdicts


def parse_event(step: dict[str, Any]) -> Event:
    """The step's observation as an Event; raises Unreadable."""
    observation = step.get("observation")
    if not isinstance(observation, dict) or not isinstance(observation.get("event"), str):
        raise Unreadable("observation: expected {time, event} with an event sentence")
    return Event(time=str(observation.get("time", "")), text=observation["event"])


def _file_steps(path: Path) -> list[Any] | UnreadableEntry:
    try:
        steps = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return UnreadableEntry(index=None, reason=f"cannot read the file ({exc.__class__.__name__})")
    except json.JSONDecodeError as exc:
        return UnreadableEntry(index=None, reason=f"invalid JSON at line {exc.lineno} ({exc.msg})")
    if not isinstance(steps, list):
        return UnreadableEntry(index=None, reason="expected a JSON list of steps (released trace format)")
    return steps


def read_released(path: Path) -> ReleasedFile:
    """Every readable step of one file, and every unreadable entry with its reason."""
    result = ReleasedFile(path=path)
    steps = _file_steps(path)
    if isinstance(steps, UnreadableEntry):
        result.unreadable.append(steps)
        return result
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            result.unreadable.append(UnreadableEntry(index=index, reason="expected an object with an observation"))
            continue
        try:
            event = parse_event(step)
        except Unreadable as exc:
            result.unreadable.append(UnreadableEntry(index=index, reason=str(exc)))
            continue
        result.events.append(event)
        try:
            tasks = parse_response(step.get("agent_response"))
            judgement = parse_judgement(step.get("judgement"))
        except Unreadable as exc:
            result.unreadable.append(UnreadableEntry(index=index, reason=str(exc)))
            continue
        position = len(result.events) - 1
        result.steps.append(ReleasedStep(index=index, event_index=position, tasks=tasks, judgement=judgement))
    return result


def describe_unreadable(name: str, entries: Sequence[UnreadableEntry]) -> str | None:
    """'name: entries 3, 7 unreadable (reason); entry 9 unreadable (reason)', or None when all was read."""
    if not entries:
        return None
    by_reason: dict[str, list[int | None]] = {}
    for entry in entries:
        by_reason.setdefault(entry.reason, []).append(entry.index)
    parts = []
    for reason, indexes in by_reason.items():
        if indexes == [None]:
            parts.append(f"whole file unreadable ({reason})")
            continue
        numbers = ", ".join(str(i) for i in indexes)
        parts.append(f"{'entries' if len(indexes) > 1 else 'entry'} {numbers} unreadable ({reason})")
    return f"{name}: " + "; ".join(parts)


def released_files(source: Path) -> list[Path]:
    """Prediction files of a run folder (its predictions/) or of a plain folder of released files."""
    folder = source / PREDICTIONS_DIR if (source / PREDICTIONS_DIR).is_dir() else source
    if not folder.is_dir():
        raise UserError(f"{source}: not a folder; pass a run folder or a folder of released-format trace files")
    files = sorted(p for p in folder.glob("*.json") if p.name not in NOT_PREDICTIONS)
    if not files:
        raise UserError(f"{folder}: no prediction files (*.json); run `proactive bench run` first")
    return files
