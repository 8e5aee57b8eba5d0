"""Agreement of a judge with people: the paper's table, bootstrap intervals, confusion matrix.

Positive = accepted. Agreement per category is the share of rows of that category whose
verdict equals the human label (MN and FA rows are rejections, CR and CD acceptances).
A held-back split with 30 rows per category measures the mean of the four per-category
agreements, reported here as `balanced_accuracy`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

CATEGORIES = ("MN", "CR", "CD", "FA")


class Interval(BaseModel):
    """A point estimate with its 95% bootstrap interval (None when undefined)."""

    value: float | None = Field(description="Estimate on the scored rows.")
    lo: float | None = Field(default=None, description="2.5th percentile over bootstrap resamples.")
    hi: float | None = Field(default=None, description="97.5th percentile over bootstrap resamples.")


class AgreementReport(BaseModel):
    """The judge-versus-people table for one scored file."""

    rows: int = Field(description="Rows scored.")
    overlap_rows: int = Field(description="Scored rows whose trace the judge was trained on (leaks).")
    accuracy: Interval
    precision: Interval
    recall: Interval
    f1: Interval
    balanced_accuracy: Interval = Field(description="Mean of the per-category agreements present.")
    categories: dict[str, Interval] = Field(description="Agreement per category MN, CR, CD, FA.")
    category_rows: dict[str, int] = Field(description="Rows per category.")
    confusion: dict[str, int] = Field(description="tp, fp, fn, tn with positive = accepted.")

    def flat(self) -> dict[str, object]:
        """The --json shape: headline numbers plus *_lo / *_hi keys."""
        out: dict[str, object] = {"rows": self.rows, "overlap_rows": self.overlap_rows}
        for name in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
            interval: Interval = getattr(self, name)
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = interval.value, interval.lo, interval.hi
        out["categories"] = {k: v.value for k, v in self.categories.items()}
        out["categories_ci"] = {k: [v.lo, v.hi] for k, v in self.categories.items()}
        out["category_rows"] = self.category_rows
        out["confusion"] = self.confusion
        return out


def _point_metrics(truth: np.ndarray, pred: np.ndarray, cats: np.ndarray) -> dict[str, float | None]:
    tp = float(np.sum(truth & pred))
    fp = float(np.sum(~truth & pred))
    fn = float(np.sum(truth & ~pred))
    n = len(truth)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    out: dict[str, float | None] = {
        "accuracy": float(np.mean(truth == pred)) if n else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    per_cat = []
    for cat in CATEGORIES:
        mask = cats == cat
        value = float(np.mean(truth[mask] == pred[mask])) if mask.any() else None
        out[cat] = value
        if value is not None:
            per_cat.append(value)
    out["balanced_accuracy"] = float(np.mean(per_cat)) if per_cat else None
    return out


def agreement_report(
    truth: Sequence[bool],
    predicted: Sequence[bool],
    categories: Sequence[str],
    overlap_rows: int = 0,
    resamples: int = 1000,
    seed: int = 0,
) -> AgreementReport:
    """Metrics with 95% bootstrap intervals (rows resampled with replacement, seeded)."""
    y = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    cats = np.asarray(categories, dtype=object)
    if not (len(y) == len(p) == len(cats)):
        raise ValueError("truth, predicted and categories must have the same length")
    point = _point_metrics(y, p, cats)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(resamples if len(y) else 0):
        idx = rng.integers(0, len(y), len(y))
        for key, value in _point_metrics(y[idx], p[idx], cats[idx]).items():
            if value is not None:
                samples[key].append(value)

    def interval(key: str) -> Interval:
        values = samples[key]
        if point[key] is None or not values:
            return Interval(value=point[key])
        lo, hi = np.percentile(values, [2.5, 97.5])
        return Interval(value=point[key], lo=float(lo), hi=float(hi))

    return AgreementReport(
        rows=len(y),
        overlap_rows=overlap_rows,
        accuracy=interval("accuracy"),
        precision=interval("precision"),
        recall=interval("recall"),
        f1=interval("f1"),
        balanced_accuracy=interval("balanced_accuracy"),
        categories={c: interval(c) for c in CATEGORIES},
        category_rows={c: int(np.sum(cats == c)) for c in CATEGORIES},
        confusion={
            "tp": int(np.sum(y & p)),
            "fp": int(np.sum(~y & p)),
            "fn": int(np.sum(y & ~p)),
            "tn": int(np.sum(~y & ~p)),
        },
    )


def _fmt(interval: Interval) -> str:
    if interval.value is None:
        return "n/a"
    if interval.lo is None or interval.hi is None:
        return f"{interval.value:.3f}"
    return f"{interval.value:.3f} [{interval.lo:.3f}, {interval.hi:.3f}]"


def report_markdown(report: AgreementReport, title: str = "") -> str:
    """The paper's table as Markdown, then the confusion matrix."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | value [95% CI] | rows |", "| --- | --- | --- |"]
    for cat in CATEGORIES:
        lines.append(f"| agreement {cat} | {_fmt(report.categories[cat])} | {report.category_rows[cat]} |")
    for name in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        lines.append(f"| {name} | {_fmt(getattr(report, name))} | {report.rows} |")
    c = report.confusion
    lines += [
        "",
        "| | judged accepted | judged rejected |",
        "| --- | --- | --- |",
        f"| people accepted | {c['tp']} | {c['fn']} |",
        f"| people rejected | {c['fp']} | {c['tn']} |",
    ]
    return "\n".join(lines)
