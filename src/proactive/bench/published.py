"""The authors' released per-split metrics of published agents (published_results/*.csv).

Those figures were judged by the authors' reward model, a different judge from ours,
and computed by a script that counts the string "null" as a proposal; they are shown
beside ours for orientation, never as a like-for-like comparison.
"""

from __future__ import annotations

import csv
from pathlib import Path

from proactive.errors import DataError

PUBLISHED_DIR = "published_results"
#: CSV column -> our metric key (the paper-protocol group).
COLUMNS = {
    "Recall": "recall",
    "Precision": "precision",
    "Accuracy": "accuracy",
    "False-Alarm": "false_alarm",
    "F1-Score": "f1",
    "Total Events": "predictions",
}


def load_published(data: Path) -> dict[str, dict[str, dict[str, float]]]:
    """agent -> split -> paper-protocol metrics, from every CSV in published_results/."""
    folder = data / PUBLISHED_DIR
    if not folder.is_dir():
        return {}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                split = row.get("Category")
                if not split:
                    raise DataError(path, f"line {number}", "Category", "missing; expected a split name")
                try:
                    values = {key: float(row[column]) for column, key in COLUMNS.items()}
                except (KeyError, TypeError, ValueError):
                    raise DataError(path, f"line {number}", "", f"expected numeric columns {list(COLUMNS)}") from None
                table.setdefault(path.stem, {})[split] = values
    return table
