"""Labels -> reward rows in the ProactiveBench format, by the rule the released data follows.

Checked against `reward_data/train_data.jsonl` (1,629 rows, 313 events; docs/annotate.md):

- one row per candidate: `annotation[i]` = annotator i ticked it; `valid` = at least 2 of 3
  ticked it (all 1,387 task rows agree); category CD when valid, else FA;
- `help_needed` (the same on every row of the event) = some candidate was ticked by all
  annotators (305 of 313 events agree; "by a majority" would agree on only 203);
- one silence row (`pred_task` null) per event: `annotation[i]` = annotator i chose "reject
  all" (194 of the 197 three-annotator events that have a silence row agree); `valid` = not
  help_needed (all 242 silence rows agree), category CR when valid, else MN. The released data
  has no silence row for 71 of its 313 events; we always write one.

Annotator i is the same person on every row of one item (labels in the order first given).
Only items with all three labels are exported; the rest are counted. Extra fields `trace_id`,
`step` and `setting` ride along: the loaders ignore them, `annotate agreement` reads `setting`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.annotate.store import REQUIRED_LABELS, Item, Label, Store
from proactive.errors import UserError
from proactive.fileio import write_atomic

MAJORITY = 2
CATEGORY_LABELS = {
    "CD": "Correct-Detection (CD)",
    "FA": "False-Alarm (FA)",
    "CR": "Correct-Rejection (CR)",
    "MN": "Missed-Need (MN)",
}


class ExportResult(BaseModel):
    """Rows built from the labels and the items left out."""

    rows: list[dict[str, Any]] = Field(description="Reward rows in ProactiveBench format.")
    items: int = Field(description="Items exported (each with three labels).")
    incomplete: int = Field(description="Items with fewer than three labels (left out).")


def item_rows(item: Item, labels: list[Label]) -> list[dict[str, Any]]:
    """The reward rows of one fully labelled item: one per candidate, then the silence row."""
    if len(labels) != REQUIRED_LABELS:
        raise ValueError(f"item {item.id} has {len(labels)} labels; export needs {REQUIRED_LABELS}")
    ticks = [[index in label.accepted for label in labels] for index in range(len(item.candidates))]
    help_needed = any(all(votes) for votes in ticks)
    obs = [{"time": event.time, "event": event.text} for event in item.history]
    extra = {"trace_id": item.trace_id, "step": item.step, "setting": item.setting}
    rows = []
    for task, votes in zip(item.candidates, ticks, strict=True):
        valid = sum(votes) >= MAJORITY
        rows.append({"obs": obs, "pred_task": task, "valid": valid, "help_needed": help_needed,
                     "annotation": votes, "category": CATEGORY_LABELS["CD" if valid else "FA"], **extra})  # fmt: skip
    silence_votes = [not label.accepted for label in labels]
    rows.append({"obs": obs, "pred_task": None, "valid": not help_needed, "help_needed": help_needed,
                 "annotation": silence_votes, "category": CATEGORY_LABELS["MN" if help_needed else "CR"],
                 **extra})  # fmt: skip
    return rows


def build_rows(entries: list[tuple[Item, list[Label]]]) -> ExportResult:
    """Rows of every item with three labels; the others are counted as incomplete."""
    rows: list[dict[str, Any]] = []
    done = incomplete = 0
    for item, labels in entries:
        if len(labels) < REQUIRED_LABELS:
            incomplete += 1
            continue
        rows.extend(item_rows(item, labels))
        done += 1
    return ExportResult(rows=rows, items=done, incomplete=incomplete)


def export_rows(store: Store, out: Path) -> ExportResult:
    """Write the reward rows of `store` to `out` (JSONL, atomically); returns what was written.

    With no item fully labelled there is nothing to write, and `out` is left as it is (an earlier
    export must not be emptied by one run against the wrong or a fresh database).
    """
    result = build_rows(store.all_labels())
    if not result.rows:
        kept = f"; {out} is left as it is" if out.exists() else ""
        raise UserError(f"{store.path}: no item has all {REQUIRED_LABELS} labels yet ({result.incomplete} items "
                        f"still need labels), so there is nothing to export{kept}")  # fmt: skip
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in result.rows)
    write_atomic(out, text)
    return result
