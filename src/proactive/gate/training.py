"""Training the feature gate: examples from annotated rows, logistic regression, a CV threshold.

Labels: `help_needed` of each distinct annotated history (several rows share a history:
their majority). Model choice (regularisation, and optionally the feature blocks) and the
threshold come from grouped cross-validation over the *training* traces only: each
training trace is held out in turn, the out-of-fold probabilities pick the candidate with
the best out-of-fold F1, and the threshold that maximises F1 on them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from proactive.data.grouping import leave_one_trace_out
from proactive.data.labels import event_key, row_trace_key
from proactive.gate.artifact import GateManifest
from proactive.gate.features import Encoder, featurize
from proactive.types import AnnotatedRow, Event

#: The blocks used unless told otherwise (all cheap ones plus the latest event's vector).
DEFAULT_BLOCKS = ("keywords", "recency", "apps", "timing", "position", "similarity", "embed_last")


@dataclass(frozen=True)
class GateExample:
    """One distinct annotated history with its majority help-needed label."""

    history: tuple[Event, ...]
    label: bool
    trace_key: str


class TrainSpec(BaseModel):
    """What to try when training a gate; the inner grouped CV picks among the candidates."""

    block_sets: list[list[str]] = Field(
        default_factory=lambda: [list(DEFAULT_BLOCKS)], description="Candidate feature block sets."
    )
    regularizations: list[float] = Field(
        default_factory=lambda: [0.01, 0.03, 0.1, 0.3], description="Candidate inverse L2 strengths C."
    )


def examples_from_rows(rows: Sequence[AnnotatedRow]) -> list[GateExample]:
    """One example per distinct history (same trace, same events), labelled by majority."""
    votes: dict[tuple[str, tuple[tuple[str, str], ...]], list[bool]] = defaultdict(list)
    first: dict[tuple[str, tuple[tuple[str, str], ...]], AnnotatedRow] = {}
    for row in rows:
        key = (row_trace_key(row), tuple(event_key(e) for e in row.history))
        votes[key].append(row.help_needed)
        first.setdefault(key, row)
    return [
        GateExample(tuple(first[key].history), sum(v) * 2 > len(v), key[0]) for key, v in votes.items()
    ]


def fit_logistic(features: np.ndarray, labels: np.ndarray, regularization: float) -> dict[str, np.ndarray]:
    """Standardise, fit an L2 logistic regression (balanced classes); return plain arrays."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=2000)
    model.fit((features - mean) / scale, labels)
    return {
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
        "coef": model.coef_[0].astype(np.float32),
        "intercept": model.intercept_.astype(np.float32),
    }


def predict_logistic(arrays: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Probabilities from the arrays of `fit_logistic` (pure numpy, fast at serving time)."""
    logits = ((features - arrays["mean"]) / arrays["scale"]) @ arrays["coef"] + arrays["intercept"][0]
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def f1_at(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Timing F1 of 'propose when probability >= threshold'."""
    predicted = probabilities >= threshold
    tp = float(np.sum(predicted & labels))
    fp = float(np.sum(predicted & ~labels))
    fn = float(np.sum(~predicted & labels))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def best_threshold(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1; ties go to the higher threshold (fewer interruptions)."""
    candidates = np.unique(probabilities)
    best = (0.0, f1_at(probabilities, labels, 0.0))
    for threshold in candidates:
        score = f1_at(probabilities, labels, float(threshold))
        if score >= best[1]:
            best = (float(threshold), score)
    return best


def auc(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (0.5 when one class is missing)."""
    positives, negatives = probabilities[labels], probabilities[~labels]
    if len(positives) == 0 or len(negatives) == 0:
        return 0.5
    greater = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * ties)


def out_of_fold(
    features: np.ndarray, labels: np.ndarray, groups: Sequence[str], regularization: float
) -> np.ndarray:
    """Out-of-fold probabilities, holding out one training trace at a time."""
    result = np.zeros(len(labels))
    for _, train, held in leave_one_trace_out(groups):
        if len(set(labels[train].tolist())) < 2:
            result[held] = labels[train].mean()
            continue
        arrays = fit_logistic(features[train], labels[train], regularization)
        result[held] = predict_logistic(arrays, features[held])
    return result


def train_gate(
    examples: Sequence[GateExample], spec: TrainSpec, encode: Encoder
) -> tuple[GateManifest, dict[str, np.ndarray]]:
    """Pick blocks and C by grouped CV over the examples' traces, then fit on all of them."""
    if len({e.trace_key for e in examples}) < 2:
        from proactive.errors import UserError

        raise UserError("gate training needs annotated rows from at least two traces (grouped CV)")
    labels = np.array([e.label for e in examples])
    groups = [e.trace_key for e in examples]
    histories = [e.history for e in examples]
    best: tuple[float, list[str], float, np.ndarray] | None = None
    for blocks in spec.block_sets:
        features = featurize(histories, blocks, encode)
        for regularization in spec.regularizations:
            oof = out_of_fold(features, labels, groups, regularization)
            _, score = best_threshold(oof, labels)
            if best is None or score > best[0]:
                best = (score, list(blocks), regularization, oof)
    assert best is not None
    score, blocks, regularization, oof = best
    threshold, _ = best_threshold(oof, labels)
    arrays = fit_logistic(featurize(histories, blocks, encode), labels, regularization)
    manifest = GateManifest(
        blocks=blocks,
        regularization=regularization,
        threshold=threshold,
        training_traces=sorted(set(groups)),
        examples=len(examples),
        positives=int(labels.sum()),
        inner_cv={"f1": score, "auc": auc(oof, labels), "always_f1": f1_at(oof, labels, -1.0)},
    )
    return manifest, arrays


def default_encoder() -> Callable[[Sequence[str]], np.ndarray]:
    """The shared MiniLM encoder with its SQLite cache (loaded lazily)."""
    from proactive.models.embeddings import embed

    return embed
