"""F1 chart of a report: timing F1 per split (with 95% intervals) and paper-protocol F1."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proactive.errors import missing_extra
from proactive.fileio import write_atomic_bytes

if TYPE_CHECKING:
    from proactive.bench.report import Report

COLOURS = ("#1f5fa8", "#8c8c8c", "#c7c7c7", "#e08a1e", "#4c9a2a")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise missing_extra("matplotlib", "report") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _f1(figures: dict[str, Any] | None) -> tuple[float, float, float] | None:
    if not figures:
        return None
    value = figures["f1"]
    return value, value - figures.get("f1_lo", value), figures.get("f1_hi", value) - value


def _timing_panel(axis: Any, report: Report) -> None:
    from proactive.bench.report import SPLITS

    rows = report.ours
    width = 0.8 / max(len(rows), 1)
    for offset, row in enumerate(rows):
        xs: list[float] = []
        ys: list[float] = []
        errs: list[list[float]] = [[], []]
        for position, split in enumerate(SPLITS):
            figures = row.metrics.get("splits", {}).get(split, {})
            point = _f1(figures.get("timing"))
            if point is None:
                continue
            xs.append(position + (offset - (len(rows) - 1) / 2) * width)
            ys.append(point[0])
            errs[0].append(point[1])
            errs[1].append(point[2])
        bars = axis.bar(xs, ys, width=width * 0.95, yerr=errs, capsize=3, label=row.name,
                        color=COLOURS[offset % len(COLOURS)], edgecolor="#444444", linewidth=0.5)  # fmt: skip
        axis.bar_label(bars, labels=[f"{y:.2f}" for y in ys], fontsize=7, padding=2)
    axis.set_xticks(range(len(SPLITS)), [s.replace("real_", "") for s in SPLITS])
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1")
    axis.set_title("When to speak: timing F1 vs human help_needed\n(no judge; 95% bootstrap over traces)", fontsize=10)
    axis.legend(fontsize=8, loc="upper left")
    axis.grid(axis="y", alpha=0.3)


def _paper_panel(axis: Any, report: Report, split: str = "real_average") -> None:
    entries: list[tuple[str, float, float, float, str]] = []
    for offset, row in enumerate([*report.ours, *report.published]):
        point = _f1(row.metrics.get("splits", {}).get(split, {}).get("paper"))
        if point is not None:
            colour = "#dddddd" if row.published else COLOURS[offset % len(COLOURS)]
            entries.append((row.name + (" *" if row.published else ""), *point, colour))
    entries.sort(key=lambda e: e[1])
    ys = list(range(len(entries)))
    bars = axis.barh(ys, [e[1] for e in entries], color=[e[4] for e in entries], edgecolor="#444444", linewidth=0.5)
    axis.bar_label(bars, labels=[f"{e[1]:.2f}" for e in entries], fontsize=6, padding=2)
    ours = [(y, e) for y, e in zip(ys, entries, strict=True) if e[2] or e[3]]
    if ours:  # published figures come without intervals
        spread = [[e[2] for _, e in ours], [e[3] for _, e in ours]]
        axis.errorbar([e[1] for _, e in ours], [y for y, _ in ours], xerr=spread, fmt="none", ecolor="black", capsize=2)
    axis.set_yticks(ys, [e[0] for e in entries], fontsize=7)
    axis.set_xlim(0, 1)
    axis.set_xlabel("F1")
    judge = report.main.judge
    title = f"Paper protocol F1 ({split})\ncoloured: judge {judge}; grey *: authors' reward model (not comparable)"
    axis.set_title(title, fontsize=10)
    axis.grid(axis="x", alpha=0.3)


def draw_f1_chart(report: Report, path: Path) -> Path:
    """Write the two-panel PNG to `path`."""
    plt = _pyplot()
    has_paper = any(r.metrics.get("splits", {}).get("real_average", {}).get("paper") for r in report.ours) or bool(
        report.published
    )
    figure, axes = plt.subplots(1, 2 if has_paper else 1, figsize=(13 if has_paper else 7, 5.5))
    panels = list(axes) if has_paper else [axes]
    _timing_panel(panels[0], report)
    if has_paper:
        _paper_panel(panels[1], report)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    write_atomic_bytes(path, image.getvalue())
    plt.close(figure)
    return path
