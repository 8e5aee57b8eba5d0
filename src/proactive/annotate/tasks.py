"""Items to annotate from trace files: ProactiveBench test traces or the output of `annotate candidates`.

Both are the released test-trace format (a JSON list of steps, each with `observation {time,
event}` and `agent_response.candidate_task`), so one loader serves both. Each step with
candidates becomes one item: the history up to and including that step and its candidate list.
A step without candidates is skipped and counted ("reject all" is the annotator's own answer,
never an item by itself).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from proactive.annotate.store import NewItem
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError

#: Trace file-name prefix -> setting shown in agreement reports.
SETTINGS = {"code": "coding", "coding": "coding", "writing": "writing", "write": "writing", "daily": "daily",
            "life": "daily"}  # fmt: skip
#: JSON files in a tasks folder that are not traces.
NOT_TRACES = frozenset({"splits.json", "run.json"})


class TaskSet(BaseModel):
    """The items read from a tasks folder, and what was left out."""

    items: list[NewItem] = Field(description="One item per step that has candidates.")
    files: int = Field(description="Trace files read.")
    skipped_steps: int = Field(description="Steps without any candidate task (not annotated).")


def setting_of(trace_id: str) -> str:
    """'coding' for 'code_11', 'writing' for 'writing_3'; else the stem's prefix (or 'other')."""
    prefix = trace_id.split("_")[0].lower() if "_" in trace_id else ""
    return SETTINGS.get(prefix, prefix or "other")


def trace_files(source: Path) -> list[Path]:
    """The trace files of a folder (sorted), or the one file given."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise UserError(f"{source}: --tasks must be a trace folder or a trace .json file")
    files = sorted(p for p in source.glob("*.json") if p.name not in NOT_TRACES)
    if not files:
        raise UserError(
            f"{source}: no trace .json files; pass ProactiveBench test_data or `annotate candidates` output"
        )
    return files


def load_task_set(source: Path) -> TaskSet:
    """Items of every trace under `source` (malformed files fail with one line naming file and field)."""
    items: list[NewItem] = []
    skipped = 0
    files = trace_files(source)
    for path in files:
        trace = load_trace_file(path)
        setting = setting_of(trace.id)
        for step, candidates in enumerate(trace.candidates):
            if not candidates:
                skipped += 1
                continue
            items.append(
                NewItem(trace_id=trace.id, step=step, setting=setting, history=trace.events[: step + 1],
                        candidates=candidates)
            )  # fmt: skip
    return TaskSet(items=items, files=len(files), skipped_steps=skipped)


def load_tasks(source: Path) -> list[NewItem]:
    """The items of `source` (see `load_task_set` for the counts)."""
    return load_task_set(source).items
