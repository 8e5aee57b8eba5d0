"""Agreement metrics on hand-made rows, where every figure can be worked out by hand."""

from __future__ import annotations

import pytest

from proactive.judge.agree import agreement_between
from proactive.judge.evaluate import agreement_report, report_markdown


def test_metrics_match_hand_computation() -> None:
    # 8 rows: truth / prediction / category (positive = accepted).
    truth = [True, True, True, False, False, False, True, False]
    pred = [True, False, True, True, False, False, True, True]
    cats = ["CD", "CD", "CR", "FA", "FA", "MN", "CR", "MN"]
    report = agreement_report(truth, pred, cats, overlap_rows=3, resamples=200, seed=1)
    # tp=3 (rows 0, 2, 6), fp=2 (3, 7), fn=1 (1), tn=2 (4, 5)
    assert report.confusion == {"tp": 3, "fp": 2, "fn": 1, "tn": 2}
    assert report.accuracy.value == pytest.approx(5 / 8)
    assert report.precision.value == pytest.approx(3 / 5)
    assert report.recall.value == pytest.approx(3 / 4)
    assert report.f1.value == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert report.categories["CD"].value == pytest.approx(0.5)
    assert report.categories["CR"].value == pytest.approx(1.0)
    assert report.categories["FA"].value == pytest.approx(0.5)
    assert report.categories["MN"].value == pytest.approx(0.5)
    assert report.balanced_accuracy.value == pytest.approx((0.5 + 1.0 + 0.5 + 0.5) / 4)
    assert report.rows == 8 and report.overlap_rows == 3
    lo, hi = report.accuracy.lo, report.accuracy.hi
    assert lo is not None and hi is not None and lo <= 5 / 8 <= hi and hi - lo > 0
    flat = report.flat()
    for key in ("accuracy", "precision", "recall", "f1", "rows", "overlap_rows", "categories"):
        assert key in flat
    categories = flat["categories"]
    assert isinstance(categories, dict) and set(categories) == {"MN", "CR", "CD", "FA"}
    assert "| agreement CR | 1.000" in report_markdown(report)


def test_undefined_metrics_are_none_not_crash() -> None:
    report = agreement_report([False, False], [False, False], ["FA", "MN"], resamples=50)
    assert report.precision.value is None and report.recall.value is None
    assert report.accuracy.value == 1.0
    assert report.categories["CD"].value is None


def test_bootstrap_is_deterministic_given_seed() -> None:
    truth = [True, False] * 20
    pred = [True, True, False, False] * 10
    cats = ["CD", "FA"] * 20
    first = agreement_report(truth, pred, cats, seed=7, resamples=300)
    second = agreement_report(truth, pred, cats, seed=7, resamples=300)
    assert first.f1 == second.f1


def test_two_judges_agreement_and_kappa() -> None:
    a = [True, True, False, False, True, False]
    b = [True, False, False, False, True, True]
    result = agreement_between(["x", "y"], a, b, [True, True, True, False, False, False])
    assert result.agreement == pytest.approx(4 / 6)
    # p_a = p_b = 0.5 -> chance 0.5 -> kappa = (4/6 - 0.5) / 0.5
    assert result.cohen_kappa == pytest.approx((4 / 6 - 0.5) / 0.5)
    assert result.agreement_tasks == pytest.approx(2 / 3)
    assert result.both == {"both_accept": 2, "both_reject": 2, "only_first": 1, "only_second": 1}
