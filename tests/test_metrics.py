"""The shared metrics against sklearn's, and the group bootstrap against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from proactive.metrics import (
    auc,
    bootstrap_groups,
    classification_metrics,
    confusion_counts,
    f1_at,
    group_counts,
    zero_undefined,
)


def _random_case(seed: int, size: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(size) < 0.35
    # Scores that carry some signal, rounded so that ties occur.
    scores = np.round(0.5 * truth + rng.random(size), 1)
    return truth, scores, scores >= 0.8


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_equal_sklearn(seed: int) -> None:
    truth, scores, predicted = _random_case(seed)
    figures = classification_metrics(confusion_counts(predicted, truth))
    assert figures["precision"] == pytest.approx(sk.precision_score(truth, predicted))
    assert figures["recall"] == pytest.approx(sk.recall_score(truth, predicted))
    assert figures["f1"] == pytest.approx(sk.f1_score(truth, predicted))
    assert figures["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert figures["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(truth, predicted))
    assert auc(scores, truth) == pytest.approx(sk.roc_auc_score(truth, scores))
    assert f1_at(scores, truth, 0.8) == pytest.approx(sk.f1_score(truth, predicted))


def test_undefined_rates_are_none_and_zero_on_request() -> None:
    # Nothing predicted positive, no positive truth: precision, recall and F1 undefined.
    figures = classification_metrics(confusion_counts(np.zeros(4, bool), np.zeros(4, bool)))
    assert figures["precision"] is None and figures["recall"] is None and figures["f1"] is None
    assert figures["accuracy"] == 1.0 and figures["balanced_accuracy"] == 1.0  # specificity alone
    assert zero_undefined(figures)["f1"] == 0.0
    truth = np.zeros(4, bool)
    predicted = np.array([True, False, False, False])
    assert classification_metrics(confusion_counts(predicted, truth))["f1"] == sk.f1_score(
        truth, predicted, zero_division=0
    )
    assert auc(np.array([0.2, 0.4]), np.array([True, True])) == 0.5  # one class only


def test_group_counts_sum_rows_per_group_in_first_seen_order() -> None:
    rows = np.array([[1, 0], [0, 1], [1, 1], [2, 0]], dtype=float)
    table = group_counts(rows, ["b", "a", "b", "c"])
    assert table.tolist() == [[2, 1], [0, 1], [2, 0]]


def _share(counts: np.ndarray) -> dict[str, float | None]:
    return {"share": counts[0] / counts[1] if counts[1] else None}


def test_bootstrap_resamples_groups_with_the_seeded_draws() -> None:
    per_group = np.array([[3, 4], [0, 5], [5, 5], [1, 6]], dtype=float)
    result = bootstrap_groups(per_group, _share, samples=400, seed=3)["share"]
    assert result.value == pytest.approx(9 / 20)
    # The same draws by hand: 400 resamples of 4 groups, summed, then the 2.5/97.5 percentiles.
    picks = np.random.default_rng(3).integers(0, 4, size=(400, 4))
    sums = per_group[picks].sum(axis=1)
    expected = np.percentile(sums[:, 0] / sums[:, 1], [2.5, 97.5])
    assert (result.lo, result.hi) == pytest.approx(tuple(expected))
    assert bootstrap_groups(per_group, _share, samples=400, seed=3)["share"] == result


def test_bootstrap_of_one_group_or_none_has_no_spread() -> None:
    one = bootstrap_groups(np.array([[2.0, 8.0]]), _share, samples=50)["share"]
    assert one.value == one.lo == one.hi == pytest.approx(0.25)
    empty = bootstrap_groups(np.zeros((0, 2)), _share, samples=50)["share"]
    assert empty.value is None and empty.lo is None and empty.hi is None
