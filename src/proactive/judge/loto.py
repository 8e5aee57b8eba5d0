"""Leave-one-trace-out scoring: each scored row is judged by a model that never saw its trace.

Features are computed once for all rows (they depend on the row alone); only the fit
repeats per held-out trace, so a full run over the 1,629 training rows takes seconds
after the embeddings are cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from proactive.data.grouping import row_trace_keys, trace_order
from proactive.judge.evaluate import AgreementReport, agreement_report
from proactive.judge.features import FeatureBuilder
from proactive.judge.trained import TrainedSettings, fit_judge, rows_to_pairs
from proactive.types import AnnotatedRow

Progress = Callable[[int, int], None]


def _subset(feats: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in feats.items()}


def loto_probabilities(
    train_rows: Sequence[AnnotatedRow],
    score_rows: Sequence[AnnotatedRow],
    settings: TrainedSettings,
    builder: FeatureBuilder | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """P(accepted) for every score row, from a model fitted on train rows minus the row's trace."""
    builder = builder or FeatureBuilder()
    builder.warm(rows_to_pairs([*train_rows, *score_rows]))
    train_feats = builder.matrices(rows_to_pairs(train_rows))
    score_feats = train_feats if score_rows is train_rows else builder.matrices(rows_to_pairs(score_rows))
    return loto_from_features(train_rows, train_feats, score_rows, score_feats, settings, progress)


def loto_from_features(
    train_rows: Sequence[AnnotatedRow],
    train_feats: dict[str, np.ndarray],
    score_rows: Sequence[AnnotatedRow],
    score_feats: dict[str, np.ndarray],
    settings: TrainedSettings,
    progress: Progress | None = None,
) -> np.ndarray:
    """The leave-one-trace-out loop over precomputed feature matrices."""
    train_keys = np.asarray(row_trace_keys(train_rows), dtype=object)
    score_keys = np.asarray(row_trace_keys(score_rows), dtype=object)
    out = np.zeros(len(score_rows))
    traces = trace_order(score_keys.tolist())
    for done, key in enumerate(traces, start=1):
        keep = np.flatnonzero(train_keys != key)
        model = fit_judge([train_rows[int(i)] for i in keep], _subset(train_feats, keep), settings)
        rows_here = np.flatnonzero(score_keys == key)
        out[rows_here] = model.accept_probability(_subset(score_feats, rows_here))
        if progress is not None:
            progress(done, len(traces))
    return out


def loto_report(
    train_rows: Sequence[AnnotatedRow],
    score_rows: Sequence[AnnotatedRow],
    settings: TrainedSettings,
    builder: FeatureBuilder | None = None,
    progress: Progress | None = None,
    resamples: int = 1000,
) -> AgreementReport:
    """The agreement table of a leave-one-trace-out run (overlap is zero by construction)."""
    probs = loto_probabilities(train_rows, score_rows, settings, builder, progress)
    return agreement_report(
        [r.valid for r in score_rows],
        (probs >= settings.threshold).tolist(),
        [r.category for r in score_rows],
        overlap_rows=0,
        resamples=resamples,
        seed=settings.seed,
    )
