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
    traces = ["t1", "t1", "t2", "t2", "t3", "t3", "t4", "t4"]
    report = agreement_report(truth, pred, cats, groups=traces, overlap_rows=3, resamples=200, seed=1)
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
    assert report.rows == 8 and report.traces == 4 and report.overlap_rows == 3
    lo, hi = report.accuracy.lo, report.accuracy.hi
    assert lo is not None and hi is not None and lo <= 5 / 8 <= hi and hi - lo > 0
    flat = report.flat()
    assert (flat["accuracy"], flat["accuracy_lo"], flat["accuracy_hi"]) == (5 / 8, lo, hi)
    assert flat["rows"] == 8 and flat["traces"] == 4 and flat["overlap_rows"] == 3
    assert flat["categories"] == {"CD": 0.5, "CR": 1.0, "FA": 0.5, "MN": 0.5}
    assert "| agreement CR | 1.000" in report_markdown(report)


def test_undefined_metrics_are_none_not_crash() -> None:
    report = agreement_report([False, False], [False, False], ["FA", "MN"], groups=["a", "b"], resamples=50)
    assert report.precision.value is None and report.recall.value is None
    assert report.accuracy.value == 1.0
    assert report.categories["CD"].value is None


def test_bootstrap_is_deterministic_given_seed() -> None:
    truth = [True, False] * 20
    pred = [True, True, False, False] * 10
    cats = ["CD", "FA"] * 20
    traces = [f"t{i // 4}" for i in range(40)]
    first = agreement_report(truth, pred, cats, groups=traces, seed=7, resamples=300)
    second = agreement_report(truth, pred, cats, groups=traces, seed=7, resamples=300)
    assert first.f1 == second.f1 and first.f1.lo is not None


def test_intervals_resample_traces_not_rows() -> None:
    # 10 traces of 20 rows; within a trace every row gets the same verdict (all right or
    # all wrong), the extreme of rows that are not independent. 6 traces right, 4 wrong.
    right = [True] * 6 + [False] * 4
    traces = [f"trace{t}" for t in range(10) for _ in range(20)]
    truth = [(t + r) % 2 == 0 for t in range(10) for r in range(20)]
    pred = [y if right[int(k[5:])] else not y for y, k in zip(truth, traces, strict=True)]
    cats = ["CD" if y else "FA" for y in truth]
    by_trace = agreement_report(truth, pred, cats, groups=traces, resamples=1000)
    by_row = agreement_report(truth, pred, cats, groups=[str(i) for i in range(200)], resamples=1000)
    assert by_trace.accuracy.value == by_row.accuracy.value == pytest.approx(0.6)
    assert by_trace.traces == 10 and by_row.traces == 200
    width_trace = by_trace.accuracy.hi - by_trace.accuracy.lo  # type: ignore[operator]
    width_row = by_row.accuracy.hi - by_row.accuracy.lo  # type: ignore[operator]
    # Rows resampled: ~ 200 independent draws, width about 4 * sqrt(.24 / 200) = 0.14.
    # Traces resampled: 10 draws, width about 4 * sqrt(.24 / 10) = 0.62.
    assert width_trace > 2.5 * width_row
    assert 0.45 < width_trace < 0.75 and 0.09 < width_row < 0.2


def test_two_judges_agreement_and_kappa() -> None:
    a = [True, True, False, False, True, False]
    b = [True, False, False, False, True, True]
    result = agreement_between(["x", "y"], a, b, [True, True, True, False, False, False])
    assert result.agreement == pytest.approx(4 / 6)
    # p_a = p_b = 0.5 -> chance 0.5 -> kappa = (4/6 - 0.5) / 0.5
    assert result.cohen_kappa == pytest.approx((4 / 6 - 0.5) / 0.5)
    assert result.agreement_tasks == pytest.approx(2 / 3)
    assert result.both == {"both_accept": 2, "both_reject": 2, "only_first": 1, "only_second": 1}
