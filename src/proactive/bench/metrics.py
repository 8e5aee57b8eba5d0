"""ProactiveBench metrics: the paper protocol, human-grounded timing, and content.

All three work on `EventOutcome`s (one per scored test event) and come with 95%
bootstrap intervals that resample whole traces, because events of one trace are not
independent (adjacent steps share their label most of the time).

1. Paper protocol (needs a judge): each prediction is TP (proposal accepted), FP
   (proposal rejected), TN (silence accepted) or FN (silence rejected). Unlike the
   authors' script, the string "null" (any case, "", "none") is silence, not a task.
   With these definitions false-alarm = FP / (TP + FP) = 1 - precision.
2. Timing (no judge): speaking when the annotators said help was needed is a hit.
3. Content (no judge): a proposal at a help-needed event counts when its nearest
   annotated candidate (MiniLM cosine) is one the annotators accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from proactive.metrics import (
    BOOTSTRAP_SAMPLES,
    SEED,
    bootstrap_groups,
    classification_metrics,
    safe_div,
    zero_undefined,
)


@dataclass(frozen=True)
class EventOutcome:
    """What happened at one test event, ready for counting."""

    trace: str
    proposed: bool
    help_needed: bool | None = None
    #: Per prediction at this event: (is a proposal, accepted by the judge).
    judged: tuple[tuple[bool, bool], ...] = ()
    #: For a proposal at a help-needed event with annotated candidates:
    #: (nearest candidate was accepted, cosine to the nearest accepted candidate).
    content: tuple[bool, float] | None = None


@dataclass
class Counts:
    """Additive counts for one trace (or a sum of traces)."""

    paper: np.ndarray = field(default_factory=lambda: np.zeros(4))  # TP FP TN FN
    timing: np.ndarray = field(default_factory=lambda: np.zeros(4))  # TP FP TN FN
    content: np.ndarray = field(default_factory=lambda: np.zeros(3))  # n, hits, similarity sum
    judged_events: int = 0


def paper_metrics(counts: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Recall, precision, accuracy, false-alarm and F1 from (TP, FP, TN, FN) of judged predictions."""
    tp, fp, tn, fn = (float(c) for c in counts)
    figures = zero_undefined(classification_metrics(counts))
    return {
        "recall": figures["recall"],
        "precision": figures["precision"],
        "accuracy": figures["accuracy"],
        "false_alarm": safe_div(fp, tp + fp),
        "f1": figures["f1"],
        "predictions": tp + fp + tn + fn,
    }


def timing_metrics(counts: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Precision, recall, F1, accuracy, balanced accuracy and propose rate against help_needed."""
    tp, fp, tn, fn = (float(c) for c in counts)
    total = tp + fp + tn + fn
    figures = zero_undefined(classification_metrics(counts))
    return {
        "precision": figures["precision"],
        "recall": figures["recall"],
        "f1": figures["f1"],
        "accuracy": figures["accuracy"],
        "balanced_accuracy": figures["balanced_accuracy"],
        "propose_rate": safe_div(tp + fp, total),
        "events": total,
    }


def content_metrics(counts: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Share of scored proposals nearest to an accepted candidate, and their mean similarity."""
    n, hits, similarity = (float(c) for c in counts)
    return {"share": safe_div(hits, n), "mean_similarity": safe_div(similarity, n), "proposals": n}


def paper_counts(outcome: EventOutcome) -> np.ndarray:
    """(TP, FP, TN, FN) contributed by one event's judged predictions."""
    counts = np.zeros(4)
    for is_proposal, accepted in outcome.judged:
        counts[(0 if accepted else 1) if is_proposal else (2 if accepted else 3)] += 1
    return counts


def timing_counts(outcome: EventOutcome) -> np.ndarray:
    """(TP, FP, TN, FN) of one labelled event: proposed vs help_needed."""
    counts = np.zeros(4)
    if outcome.help_needed is None:
        return counts
    if outcome.proposed:
        counts[0 if outcome.help_needed else 1] += 1
    else:
        counts[3 if outcome.help_needed else 2] += 1
    return counts


def content_counts(outcome: EventOutcome) -> np.ndarray:
    """(n, hits, similarity) of one event's content verdict."""
    if outcome.content is None:
        return np.zeros(3)
    hit, similarity = outcome.content
    return np.array([1.0, float(hit), similarity])


def counts_by_trace(outcomes: Iterable[EventOutcome]) -> dict[str, Counts]:
    """Per trace, the summed counts of its events (the unit the bootstrap resamples)."""
    table: dict[str, Counts] = {}
    for outcome in outcomes:
        counts = table.setdefault(outcome.trace, Counts())
        counts.paper = counts.paper + paper_counts(outcome)
        counts.timing = counts.timing + timing_counts(outcome)
        counts.content = counts.content + content_counts(outcome)
        counts.judged_events += bool(outcome.judged)
    return table


def bootstrap(
    per_trace: np.ndarray,
    metric: Callable[[np.ndarray], dict[str, float]],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
) -> dict[str, float]:
    """Metric on the summed counts, with `_lo` / `_hi` 95% intervals from resampling traces.

    `per_trace` has one row of additive counts per trace (`proactive.metrics.bootstrap_groups`).
    Count-like keys (events, predictions, proposals) get no interval: they describe the
    data, not the agent; nor does anything when there is no trace to resample.
    """
    estimates = bootstrap_groups(per_trace, metric, samples=samples, seed=seed)
    result: dict[str, float] = {}
    for key, estimate in estimates.items():
        value = float(estimate.value or 0.0)
        result[key] = value
        spread = key not in COUNT_KEYS and estimate.lo is not None and estimate.hi is not None
        result[f"{key}_lo"] = float(estimate.lo) if spread and estimate.lo is not None else value
        result[f"{key}_hi"] = float(estimate.hi) if spread and estimate.hi is not None else value
    return result


COUNT_KEYS = frozenset({"events", "predictions", "proposals"})


def summarize(outcomes: Sequence[EventOutcome], samples: int = BOOTSTRAP_SAMPLES) -> dict[str, object]:
    """The three metric groups for one split; `paper` is None when nothing was judged."""
    table = counts_by_trace(outcomes)
    traces = list(table.values())
    paper_rows = np.array([c.paper for c in traces]).reshape(-1, 4)
    timing_rows = np.array([c.timing for c in traces]).reshape(-1, 4)
    content_rows = np.array([c.content for c in traces]).reshape(-1, 3)
    judged = sum(c.judged_events for c in traces)
    return {
        "timing": bootstrap(timing_rows, timing_metrics, samples),
        "paper": bootstrap(paper_rows, paper_metrics, samples) if judged else None,
        "content": bootstrap(content_rows, content_metrics, samples),
        "traces": len(traces),
        "events_scored": len(outcomes),
        "events_unlabelled": sum(o.help_needed is None for o in outcomes),
        "events_judged": judged,
    }
