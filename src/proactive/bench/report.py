"""The benchmark report: terminal tables, metrics.json / metrics.csv, and an F1 chart.

Rows: the scored agent, the always / never baselines (same data, same judge), and the
published agents from the authors' CSVs, marked as judged by a different judge. The
notes always say which judge, which data, and whether a judge or gate saw these traces.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from proactive.fileio import write_atomic

SPLITS = ("real_average", "real_coding", "real_writing")
GROUPS = ("timing", "paper", "content")
DIFFERENT_JUDGE = "authors' reward model (different judge)"


@dataclass
class ReportRow:
    """One agent's figures: metrics {"splits": {...}} as written by `score`."""

    name: str
    judge: str
    metrics: dict[str, Any]
    published: bool = False


@dataclass
class Report:
    """Everything the report shows."""

    main: ReportRow
    baselines: list[ReportRow] = field(default_factory=list)
    published: list[ReportRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    about: dict[str, Any] = field(default_factory=dict)
    #: Printed before the tables: which judge scored each trace, and whether it saw it.
    header: list[str] = field(default_factory=list)

    @property
    def ours(self) -> list[ReportRow]:
        return [self.main, *self.baselines]


def _figure(group: Mapping[str, Any] | None, key: str, interval: bool = False) -> str:
    if not group or key not in group or group[key] is None or math.isnan(group[key]):
        return "-"
    if not interval:
        return f"{group[key]:.2f}"
    text = f"{group[key]:.3f}"
    if f"{key}_lo" in group:
        low, high = (f"{group[f'{key}{end}']:.2f}".removeprefix("0") for end in ("_lo", "_hi"))
        text += f" [{low}-{high}]"
    return text


def split_table(report: Report, split: str) -> Table:
    """Our agents on one split: timing, paper protocol (our judge) and content."""
    table = Table(title=f"{split}: judge {report.main.judge}", title_justify="left")
    for header in ("agent", "timing F1 [CI]", "P", "R", "bacc", "speaks",
                   "paper F1 [CI]", "P", "R", "content", "sim"):  # fmt: skip
        if header == "agent":
            table.add_column(header, min_width=10, overflow="fold")
        else:
            table.add_column(header, justify="right", no_wrap=True)
    for row in report.ours:
        figures = row.metrics.get("splits", {}).get(split)
        if figures is None:
            continue
        timing, paper, content = figures.get("timing"), figures.get("paper"), figures.get("content")
        if content and not content.get("proposals"):
            content = None  # no proposal to judge: "-" rather than a misleading 0
        table.add_row(
            row.name,
            _figure(timing, "f1", True), _figure(timing, "precision"), _figure(timing, "recall"),
            _figure(timing, "balanced_accuracy"), _figure(timing, "propose_rate"),
            _figure(paper, "f1", True), _figure(paper, "precision"), _figure(paper, "recall"),
            _figure(content, "share"), _figure(content, "mean_similarity"),
            style="bold" if row is report.main else None,
        )  # fmt: skip
    return table


def published_table(report: Report) -> Table:
    """Published agents, paper protocol as the authors computed it (different judge)."""
    table = Table(title=f"published agents: paper protocol, {DIFFERENT_JUDGE}", title_justify="left")
    for header in ("agent", *(f"F1 {s.removeprefix('real_')}" for s in SPLITS), "P avg", "R avg", "acc avg"):
        table.add_column(header, justify="left" if header == "agent" else "right")
    for row in sorted(report.published, key=lambda r: -_value(r, "real_average", "f1")):
        splits = row.metrics.get("splits", {})
        average = (splits.get("real_average") or {}).get("paper")
        table.add_row(
            row.name, *(_figure((splits.get(s) or {}).get("paper"), "f1") for s in SPLITS),
            _figure(average, "precision"), _figure(average, "recall"), _figure(average, "accuracy"),
        )  # fmt: skip
    return table


def _value(row: ReportRow, split: str, key: str) -> float:
    paper = (row.metrics.get("splits", {}).get(split) or {}).get("paper") or {}
    return float(paper.get(key, 0.0))


def print_report(report: Report, console: Console) -> None:
    """The judge header, the tables, then the notes that say what the figures mean."""
    for line in report.header:
        console.print(line, highlight=False, soft_wrap=True, style="bold red" if "SCORED TRACE" in line else None)
    for split in SPLITS:
        if any(split in row.metrics.get("splits", {}) for row in report.ours):
            console.print(split_table(report, split))
    if report.published:
        console.print(published_table(report))
    console.print("[CI] = 95% bootstrap interval over traces; bacc = balanced accuracy; "
                  "speaks = share of events where the agent proposed; content = share of its proposals at "
                  "help-needed events nearest to an accepted candidate; sim = mean cosine to it",
                  highlight=False)  # fmt: skip
    for note in report.notes:
        console.print(f"- {note}", highlight=False)


def metrics_document(report: Report) -> dict[str, Any]:
    """metrics.json: the scored agent's splits at the top, the rest beside them."""
    return {
        "splits": report.main.metrics.get("splits", {}),
        "agent": report.main.name,
        "judge": report.main.judge,
        "about": report.about,
        "header": report.header,
        "notes": report.notes,
        "baselines": {row.name: row.metrics.get("splits", {}) for row in report.baselines},
        "published": {row.name: row.metrics.get("splits", {}) for row in report.published},
        "unlabelled_events": report.main.metrics.get("unlabelled_events", {}),
        "unmatched_files": report.main.metrics.get("unmatched_files", []),
        "unreadable_entries": report.main.metrics.get("unreadable_entries", {}),
        "answers": report.main.metrics.get("answers"),
    }


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """Long format: one row per agent, split, group and metric, with its interval."""
    rows = []
    for row in [*report.ours, *report.published]:
        for split, figures in row.metrics.get("splits", {}).items():
            for group in GROUPS:
                values = figures.get(group) or {}
                for key, value in values.items():
                    if key.endswith(("_lo", "_hi")):
                        continue
                    rows.append({
                        "agent": row.name, "judge": row.judge, "split": split, "group": group, "metric": key,
                        "value": value, "lo": values.get(f"{key}_lo", ""), "hi": values.get(f"{key}_hi", ""),
                    })  # fmt: skip
    return rows


def write_report_files(report: Report, folder: Path) -> dict[str, Path]:
    """metrics.json, metrics.csv and f1.png in `folder` (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "metrics.json", "csv": folder / "metrics.csv", "chart": folder / "f1.png"}
    write_atomic(paths["json"], json.dumps(metrics_document(report), indent=2) + "\n")
    rows = csv_rows(report)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=["agent", "judge", "split", "group", "metric", "value", "lo", "hi"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(paths["csv"], buffer.getvalue())
    from proactive.bench.chart import draw_f1_chart

    draw_f1_chart(report, paths["chart"])
    return paths
