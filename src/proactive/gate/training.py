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
from proactive.gate.features import Encoder, WordVectorizer, featurize
from proactive.metrics import auc, f1_at
from proactive.types import AnnotatedRow, Event

#: Candidate block sets the inner grouped CV chooses among by default: the latest event's
#: words alone, words with the hand-made flags, and the hand-made flags alone.
HAND_BLOCKS = ("keywords", "recency", "apps", "timing", "position")
DEFAULT_BLOCK_SETS = (("words",), ("words", *HAND_BLOCKS), HAND_BLOCKS)


@dataclass(frozen=True)
class GateExample:
    """One distinct annotated history with its majority help-needed label."""

    history: tuple[Event, ...]
    label: bool
    trace_key: str


class TrainSpec(BaseModel):
    """What to try when training a gate; the inner grouped CV picks among the candidates."""

    block_sets: list[list[str]] = Field(
        default_factory=lambda: [list(b) for b in DEFAULT_BLOCK_SETS], description="Candidate feature block sets."
    )
    regularizations: list[float] = Field(
        default_factory=lambda: [0.03, 0.3, 1.0], description="Candidate inverse L2 strengths C."
    )


def examples_from_rows(rows: Sequence[AnnotatedRow]) -> list[GateExample]:
    """One example per distinct history (same trace, same events), labelled by majority."""
    votes: dict[tuple[str, tuple[tuple[str, str], ...]], list[bool]] = defaultdict(list)
    first: dict[tuple[str, tuple[tuple[str, str], ...]], AnnotatedRow] = {}
    for row in rows:
        key = (row_trace_key(row), tuple(event_key(e) for e in row.history))
        votes[key].append(row.help_needed)
        first.setdefault(key, row)
    return [GateExample(tuple(first[key].history), sum(v) * 2 > len(v), key[0]) for key, v in votes.items()]


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, regularization: float, standardise: int | None = None
) -> dict[str, np.ndarray]:
    """Fit an L2 logistic regression (balanced classes); return plain arrays.

    The first `standardise` columns (all when None) are standardised; the rest (TF-IDF,
    already on a common scale and mostly zero) are left as they are.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    count = features.shape[1] if standardise is None else standardise
    mean = np.zeros(features.shape[1], dtype=np.float64)
    scale = np.ones(features.shape[1], dtype=np.float64)
    mean[:count] = features[:, :count].mean(axis=0)
    scale[:count] = features[:, :count].std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=3000)
    # One BLAS thread: the machine's two cores are shared (MEASURED.md).
    with threadpool_limits(1):
        model.fit((features - mean) / scale, labels)
    return {
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
        "coef": model.coef_[0].astype(np.float32),
        "intercept": model.intercept_.astype(np.float32),
    }


def gate_matrix(
    histories: Sequence[Sequence[Event]], base: np.ndarray, blocks: Sequence[str], words: WordVectorizer | None
) -> np.ndarray:
    """Stateless features `base` plus, with the ``words`` block, the TF-IDF columns."""
    if "words" not in blocks or words is None:
        return base
    return np.hstack([base, words.transform(histories)])


def fit_gate_arrays(
    histories: Sequence[Sequence[Event]],
    base: np.ndarray,
    labels: np.ndarray,
    blocks: Sequence[str],
    regularization: float,
) -> dict[str, np.ndarray]:
    """Fit vocabulary (if ``words``) and logistic weights on these histories only."""
    words = WordVectorizer().fit(histories) if "words" in blocks else None
    arrays = fit_logistic(gate_matrix(histories, base, blocks, words), labels, regularization, base.shape[1])
    if words is not None:
        arrays.update(words.arrays())
    return arrays


def words_of(arrays: dict[str, np.ndarray]) -> WordVectorizer | None:
    """The fitted vocabulary stored in a gate's arrays, if it has one."""
    if "vocabulary" not in arrays:
        return None
    return WordVectorizer(arrays["vocabulary"], arrays["idf"])


def predict_logistic(arrays: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Probabilities from the arrays of `fit_logistic` (pure numpy, fast at serving time)."""
    logits = ((features - arrays["mean"]) / arrays["scale"]) @ arrays["coef"] + arrays["intercept"][0]
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def best_threshold(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1; ties go to the higher threshold (fewer interruptions)."""
    candidates = np.unique(probabilities)
    best = (0.0, f1_at(probabilities, labels, 0.0))
    for threshold in candidates:
        score = f1_at(probabilities, labels, float(threshold))
        if score >= best[1]:
            best = (float(threshold), score)
    return best


def out_of_fold(
    histories: Sequence[Sequence[Event]],
    base: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str],
    blocks: Sequence[str],
    regularization: float,
) -> np.ndarray:
    """Out-of-fold probabilities, holding out one training trace at a time (vocabulary refitted per fold)."""
    result = np.zeros(len(labels))
    for _, train, held in leave_one_trace_out(groups):
        if len(set(labels[train].tolist())) < 2:
            result[held] = labels[train].mean()
            continue
        train_histories = [histories[i] for i in train]
        arrays = fit_gate_arrays(train_histories, base[train], labels[train], blocks, regularization)
        held_histories = [histories[i] for i in held]
        result[held] = predict_logistic(arrays, gate_matrix(held_histories, base[held], blocks, words_of(arrays)))
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
        base = featurize(histories, blocks, encode)
        for regularization in spec.regularizations:
            oof = out_of_fold(histories, base, labels, groups, blocks, regularization)
            _, score = best_threshold(oof, labels)
            if best is None or score > best[0]:
                best = (score, list(blocks), regularization, oof)
    assert best is not None
    score, blocks, regularization, oof = best
    threshold, _ = best_threshold(oof, labels)
    arrays = fit_gate_arrays(histories, featurize(histories, blocks, encode), labels, blocks, regularization)
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
