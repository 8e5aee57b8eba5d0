"""Agreement of a judge with people: the paper's table, bootstrap intervals, confusion matrix.

Positive = accepted. Agreement per category is the share of rows of that category whose
verdict equals the human label (MN and FA rows are rejections, CR and CD acceptances).
A held-back split with 30 rows per category measures the mean of the four per-category
agreements, reported here as `balanced_accuracy`. Intervals resample whole traces
(`proactive.metrics.bootstrap_groups`): rows of one trace are not independent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from proactive.metrics import SEED, bootstrap_groups, classification_metrics, group_counts, ratio

CATEGORIES = ("MN", "CR", "CD", "FA")


class Interval(BaseModel):
    """A point estimate with its 95% bootstrap interval (None when undefined)."""

    value: float | None = Field(description="Estimate on the scored rows.")
    lo: float | None = Field(default=None, description="2.5th percentile over trace-bootstrap resamples.")
    hi: float | None = Field(default=None, description="97.5th percentile over trace-bootstrap resamples.")


class AgreementReport(BaseModel):
    """The judge-versus-people table for one scored file."""

    rows: int = Field(description="Rows scored.")
    traces: int = Field(default=0, description="Traces the rows come from (the unit the intervals resample).")
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
        out: dict[str, object] = {"rows": self.rows, "traces": self.traces, "overlap_rows": self.overlap_rows}
        for name in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
            interval: Interval = getattr(self, name)
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = interval.value, interval.lo, interval.hi
        out["categories"] = {k: v.value for k, v in self.categories.items()}
        out["categories_ci"] = {k: [v.lo, v.hi] for k, v in self.categories.items()}
        out["category_rows"] = self.category_rows
        out["confusion"] = self.confusion
        return out


def _row_counts(truth: np.ndarray, pred: np.ndarray, cats: np.ndarray) -> np.ndarray:
    """One row of additive counts per scored row: TP FP TN FN, then (rows, agreements) per category."""
    columns = [truth & pred, ~truth & pred, ~truth & ~pred, truth & ~pred]
    for cat in CATEGORIES:
        mask = cats == cat
        columns += [mask, mask & (truth == pred)]
    return np.stack(columns, axis=1).astype(float) if len(truth) else np.zeros((0, 4 + 2 * len(CATEGORIES)))


def _figures(counts: np.ndarray) -> dict[str, float | None]:
    """Agreement figures from summed `_row_counts` (None where undefined)."""
    confusion = classification_metrics(counts[:4])
    out = {name: confusion[name] for name in ("accuracy", "precision", "recall", "f1")}
    for i, cat in enumerate(CATEGORIES):
        out[cat] = ratio(counts[4 + 2 * i + 1], counts[4 + 2 * i])
    present = [v for v in (out[cat] for cat in CATEGORIES) if v is not None]
    out["balanced_accuracy"] = float(np.mean(present)) if present else None
    return out


def agreement_report(
    truth: Sequence[bool],
    predicted: Sequence[bool],
    categories: Sequence[str],
    *,
    groups: Sequence[str],
    overlap_rows: int = 0,
    resamples: int = 1000,
    seed: int = SEED,
) -> AgreementReport:
    """Metrics with 95% bootstrap intervals that resample whole groups (seeded).

    `groups` is each row's trace key (`proactive.data.grouping.row_trace_keys`): rows of
    one trace are not independent, so the bootstrap draws traces, never single rows.
    """
    y = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    cats = np.asarray(categories, dtype=object)
    if not (len(y) == len(p) == len(cats) == len(groups)):
        raise ValueError("truth, predicted, categories and groups must have the same length")
    per_trace = group_counts(_row_counts(y, p, cats), list(groups))
    estimates = bootstrap_groups(per_trace, _figures, samples=resamples, seed=seed)

    def interval(key: str) -> Interval:
        estimate = estimates[key]
        return Interval(value=estimate.value, lo=estimate.lo, hi=estimate.hi)

    return AgreementReport(
        rows=len(y),
        traces=len(per_trace),
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
        f"Intervals: 95% bootstrap over the {report.traces} traces the rows come from (traces resampled, not rows).",
        "",
        "| | judged accepted | judged rejected |",
        "| --- | --- | --- |",
        f"| people accepted | {c['tp']} | {c['fn']} |",
        f"| people rejected | {c['fp']} | {c['tn']} |",
    ]
    return "\n".join(lines)
