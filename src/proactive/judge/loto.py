"""Leave-one-trace-out scoring: each scored row is judged by a model that never saw its trace.

Features are computed once for all rows (they depend on the row alone); only the fit
repeats per held-out trace, so a full run over the 1,629 training rows takes seconds
after the embeddings are cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from proactive.data.grouping import row_trace_keys, trace_order
from proactive.judge.evaluate import AgreementReport, agreement_report
from proactive.judge.features import FeatureBuilder
from proactive.judge.trained import TrainedSettings, fit_judge, rows_to_pairs
from proactive.types import AnnotatedRow

Progress = Callable[[int, int], None]


def _subset(feats: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in feats.items()}


@dataclass
class LotoScores:
    """Per score row, P(accepted) and whether the model that scored it had seen its trace."""

    probabilities: np.ndarray
    #: Score rows whose trace key is among the training rows of the model that scored them.
    overlap_rows: int


def loto_probabilities(
    train_rows: Sequence[AnnotatedRow],
    score_rows: Sequence[AnnotatedRow],
    settings: TrainedSettings,
    builder: FeatureBuilder | None = None,
    progress: Progress | None = None,
    leave_out: bool = True,
) -> LotoScores:
    """P(accepted) for every score row, from a model fitted on train rows minus the row's trace."""
    builder = builder or FeatureBuilder()
    builder.warm(rows_to_pairs([*train_rows, *score_rows]))
    train_feats = builder.matrices(rows_to_pairs(train_rows))
    score_feats = train_feats if score_rows is train_rows else builder.matrices(rows_to_pairs(score_rows))
    return loto_scores(train_rows, train_feats, score_rows, score_feats, settings, progress, leave_out)


def loto_scores(
    train_rows: Sequence[AnnotatedRow],
    train_feats: dict[str, np.ndarray],
    score_rows: Sequence[AnnotatedRow],
    score_feats: dict[str, np.ndarray],
    settings: TrainedSettings,
    progress: Progress | None = None,
    leave_out: bool = True,
) -> LotoScores:
    """The leave-one-trace-out loop over precomputed feature matrices.

    `leave_out=False` fits every model on all train rows (a deliberate leak, for checks
    and comparisons); the overlap is counted from the rows each model was actually
    fitted on either way, so a leak shows in `overlap_rows` instead of being assumed away.
    """
    train_keys = np.asarray(row_trace_keys(train_rows), dtype=object)
    score_keys = np.asarray(row_trace_keys(score_rows), dtype=object)
    out = np.zeros(len(score_rows))
    overlap = 0
    traces = trace_order(score_keys.tolist())
    for done, key in enumerate(traces, start=1):
        keep = np.flatnonzero(train_keys != key) if leave_out else np.arange(len(train_rows))
        model = fit_judge([train_rows[int(i)] for i in keep], _subset(train_feats, keep), settings)
        rows_here = np.flatnonzero(score_keys == key)
        out[rows_here] = model.accept_probability(_subset(score_feats, rows_here))
        seen = set(train_keys[keep].tolist())
        overlap += int(sum(score_keys[i] in seen for i in rows_here))
        if progress is not None:
            progress(done, len(traces))
    return LotoScores(probabilities=out, overlap_rows=overlap)


def loto_from_features(
    train_rows: Sequence[AnnotatedRow],
    train_feats: dict[str, np.ndarray],
    score_rows: Sequence[AnnotatedRow],
    score_feats: dict[str, np.ndarray],
    settings: TrainedSettings,
    progress: Progress | None = None,
) -> np.ndarray:
    """Only the probabilities of `loto_scores` (for sweeps that need nothing else)."""
    return loto_scores(train_rows, train_feats, score_rows, score_feats, settings, progress).probabilities


def loto_report(
    train_rows: Sequence[AnnotatedRow],
    score_rows: Sequence[AnnotatedRow],
    settings: TrainedSettings,
    builder: FeatureBuilder | None = None,
    progress: Progress | None = None,
    resamples: int = 1000,
    leave_out: bool = True,
) -> AgreementReport:
    """The agreement table of a leave-one-trace-out run, with the overlap it actually had."""
    scores = loto_probabilities(train_rows, score_rows, settings, builder, progress, leave_out)
    return agreement_report(
        [r.valid for r in score_rows],
        (scores.probabilities >= settings.threshold).tolist(),
        [r.category for r in score_rows],
        groups=row_trace_keys(score_rows),
        overlap_rows=scores.overlap_rows,
        resamples=resamples,
        seed=settings.seed,
    )
