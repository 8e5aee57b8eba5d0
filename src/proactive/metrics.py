"""Generic metrics and the one bootstrap every room uses (bench, judge, gate).

Counts come in one order everywhere: (TP, FP, TN, FN), positive = "propose" (bench,
gate) or "accepted" (judge). Rates whose denominator is zero are *undefined*:
`classification_metrics` returns None for them, and callers that report sklearn's
`zero_division=0` convention ask for `zero_undefined`.

Intervals resample whole groups (traces), never single rows: rows of one trace share
their events and mostly their label, so they are not independent, and a row bootstrap
gives intervals that are too narrow. `bootstrap_groups` takes one row of *additive*
counts per group, so any statistic that is a function of summed counts (rates, F1,
per-category agreement) gets its interval from the same code with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0

Statistic = Callable[[np.ndarray], Mapping[str, float | None]]


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is 0 (undefined)."""
    return float(numerator / denominator) if denominator else None


def safe_div(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (sklearn's zero_division=0)."""
    return float(numerator / denominator) if denominator else 0.0


def confusion_counts(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(TP, FP, TN, FN) of boolean predictions against boolean truth."""
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    return np.array([np.sum(p & t), np.sum(p & ~t), np.sum(~p & ~t), np.sum(~p & t)], dtype=float)


def classification_metrics(counts: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """Precision, recall, specificity, F1, accuracy and balanced accuracy from (TP, FP, TN, FN).

    F1 is 2TP / (2TP + FP + FN), the harmonic mean of precision and recall where both
    are defined, and 0 when TP = 0 but there were errors. Balanced accuracy averages the
    recall and specificity that are defined.
    """
    tp, fp, tn, fn = (float(c) for c in counts)
    recall = ratio(tp, tp + fn)
    specificity = ratio(tn, tn + fp)
    defined = [r for r in (recall, specificity) if r is not None]
    return {
        "precision": ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": ratio(tp + tn, tp + fp + tn + fn),
        "balanced_accuracy": sum(defined) / len(defined) if defined else None,
    }


def zero_undefined(figures: Mapping[str, float | None]) -> dict[str, float]:
    """The same figures with undefined ones as 0.0 (sklearn's zero_division=0)."""
    return {key: 0.0 if value is None else value for key, value in figures.items()}


def f1_at(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """F1 of 'positive when probability >= threshold' (0 when undefined)."""
    f1 = classification_metrics(confusion_counts(np.asarray(probabilities) >= threshold, labels))["f1"]
    return 0.0 if f1 is None else f1


def auc(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half; 0.5 when one class is missing)."""
    scores = np.asarray(probabilities, dtype=float)
    truth = np.asarray(labels, dtype=bool)
    positives, negatives = scores[truth], scores[~truth]
    if len(positives) == 0 or len(negatives) == 0:
        return 0.5
    greater = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * ties)


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its percentile interval (None where undefined)."""

    value: float | None
    lo: float | None = None
    hi: float | None = None


def group_counts(rows: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Sum per-row count vectors into one row per group (groups in first-seen order)."""
    order = list(dict.fromkeys(groups))
    index = {key: i for i, key in enumerate(order)}
    table = np.zeros((len(order), rows.shape[1]))
    np.add.at(table, [index[key] for key in groups], rows)
    return table


def bootstrap_groups(
    per_group: np.ndarray,
    statistic: Statistic,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Estimate]:
    """`statistic` of the summed counts, with percentile intervals from resampling groups.

    `per_group` holds one row of additive counts per group (trace). Each resample draws
    as many groups as there are, with replacement, and sums their rows. A resample where
    a figure is undefined (None) is left out of that figure's interval; a figure with no
    defined resample, or no resamples at all, gets no interval.
    """
    table = np.asarray(per_group, dtype=float)
    point = dict(statistic(table.sum(axis=0)))
    draws: dict[str, list[float]] = {key: [] for key in point}
    if len(table) and samples > 0:
        picks = np.random.default_rng(seed).integers(0, len(table), size=(samples, len(table)))
        for summed in table[picks].sum(axis=1):
            for key, value in statistic(summed).items():
                if value is not None and key in draws:
                    draws[key].append(value)
    tail = (1 - confidence) / 2 * 100
    result: dict[str, Estimate] = {}
    for key, value in point.items():
        if value is None or not draws[key]:
            result[key] = Estimate(value)
            continue
        lo, hi = np.percentile(draws[key], [tail, 100 - tail])
        result[key] = Estimate(value, float(lo), float(hi))
    return result
