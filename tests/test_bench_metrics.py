"""Metric functions against hand-computed cases, and released-format parsing edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proactive.bench.metrics import (
    EventOutcome,
    bootstrap,
    counts_by_trace,
    paper_metrics,
    summarize,
    timing_metrics,
)
from proactive.bench.score import score_file
from proactive.judge.content import LabelBook


def test_paper_metrics_hand_computed() -> None:
    # TP=2, FP=1, TN=3, FN=4
    figures = paper_metrics([2, 1, 3, 4])
    assert figures["recall"] == pytest.approx(2 / 6)
    assert figures["precision"] == pytest.approx(2 / 3)
    assert figures["accuracy"] == pytest.approx(5 / 10)
    assert figures["false_alarm"] == pytest.approx(1 - 2 / 3)
    assert figures["f1"] == pytest.approx(2 * (2 / 3) * (2 / 6) / (2 / 3 + 2 / 6))


def test_timing_metrics_hand_computed() -> None:
    # TP=3, FP=5, TN=10, FN=2
    figures = timing_metrics([3, 5, 10, 2])
    assert figures["precision"] == pytest.approx(3 / 8)
    assert figures["recall"] == pytest.approx(3 / 5)
    assert figures["accuracy"] == pytest.approx(13 / 20)
    assert figures["balanced_accuracy"] == pytest.approx((3 / 5 + 10 / 15) / 2)
    assert figures["propose_rate"] == pytest.approx(8 / 20)
    assert figures["events"] == 20


def test_empty_and_degenerate_counts_are_zero_not_nan() -> None:
    assert paper_metrics([0, 0, 0, 0])["f1"] == 0.0
    never = timing_metrics([0, 0, 7, 3])
    assert never["recall"] == 0.0 and never["precision"] == 0.0 and never["f1"] == 0.0
    assert never["balanced_accuracy"] == pytest.approx(0.5)


def test_outcomes_count_per_trace_and_bootstrap_brackets_point() -> None:
    outcomes = [
        EventOutcome(trace="a", proposed=True, help_needed=True, judged=((True, True),), content=(True, 0.8)),
        EventOutcome(trace="a", proposed=False, help_needed=True, judged=((False, False),)),
        EventOutcome(trace="b", proposed=True, help_needed=False, judged=((True, False),)),
        EventOutcome(trace="b", proposed=False, help_needed=None, judged=((False, True),)),
        EventOutcome(trace="c", proposed=False, help_needed=False),
    ]
    table = counts_by_trace(outcomes)
    assert table["a"].timing.tolist() == [1, 0, 0, 1]
    assert table["b"].paper.tolist() == [0, 1, 1, 0]
    summary = summarize(outcomes, samples=200)
    timing = summary["timing"]
    assert timing["events"] == 4  # the unlabelled event is not a timing event
    assert timing["precision"] == pytest.approx(0.5) and timing["recall"] == pytest.approx(0.5)
    assert timing["f1_lo"] <= timing["f1"] <= timing["f1_hi"]
    assert summary["paper"]["predictions"] == 4
    assert summary["content"]["share"] == 1.0 and summary["content"]["mean_similarity"] == pytest.approx(0.8)
    assert summary["events_unlabelled"] == 1


def test_bootstrap_of_one_trace_has_no_spread() -> None:
    result = bootstrap(np.array([[3.0, 1.0, 2.0, 2.0]]), timing_metrics, samples=50)
    assert result["f1_lo"] == result["f1"] == result["f1_hi"]


def test_nothing_judged_gives_null_paper_block() -> None:
    summary = summarize([EventOutcome(trace="a", proposed=True, help_needed=True)], samples=10)
    assert summary["paper"] is None


@pytest.fixture(scope="module")
def book(bench_data: Path) -> LabelBook:
    return LabelBook.load(bench_data)


def test_null_strings_and_empty_lists_are_silence(tmp_path: Path, book: LabelBook) -> None:
    steps = [
        {"observation": {"time": "1", "event": "A made-up event."}, "agent_response": ["null"], "judgement": [True]},
        {"observation": {"time": "2", "event": "Another."}, "agent_response": [], "judgement": [False]},
        {"observation": {"time": "3", "event": "Third."}, "agent_response": ["Fix the bug"], "judgement": [True]},
        {"observation": {"time": "4", "event": "Fourth."}, "agent_response": [" NONE "], "judgement": [False]},
        {"observation": {"time": "5", "event": "Fifth."}, "agent_response": [None]},
    ]
    path = tmp_path / "fake_trace.json"
    path.write_text(json.dumps(steps))
    scored = score_file(path, book, with_content=False)
    assert [o.proposed for o in scored.outcomes] == [False, False, True, False, False]
    table = counts_by_trace(scored.outcomes)["fake_trace"]
    assert table.paper.tolist() == [1, 0, 1, 2]  # TP, FP, TN, FN: "null" is a silence, not a task
    assert len(scored.unlabelled) == 5  # nothing here is a test event: counted, not dropped


def test_test_trace_events_are_labelled_by_trace_and_event(bench_data: Path, book: LabelBook) -> None:
    source = json.loads((bench_data / "test_data" / "code_11.json").read_text())
    assert len(book.by_event) == 233
    assert book.help_needed_count == 78
    scored_path = bench_data / "test_data" / "code_11.json"
    scored = score_file(scored_path, book, with_content=False)
    assert scored.trace_id == "code_11" and not scored.unlabelled
    assert len(scored.outcomes) == len(source)


def test_run_totals_count_cached_and_invalid_answers_apart() -> None:
    from proactive.bench.evaluate import answers_note
    from proactive.bench.runner import totals
    from proactive.bench.store import EventRecord
    from proactive.models.base import Usage
    from proactive.types import Proposal

    def record(index: int, cached: bool, invalid: bool) -> EventRecord:
        usage = Usage(prompt_tokens=100, new_prompt_tokens=10, completion_tokens=5)
        return EventRecord(index=index, time="1", event="e", proposal=Proposal(), usage=usage, cached=cached,
                           invalid=invalid, invalid_reason="answer: cut" if invalid else "")  # fmt: skip

    records = [record(0, False, True), record(1, True, False), record(2, False, False), record(3, False, True)]
    counted = totals(records)
    assert counted["invalid_answers"] == 2 and counted["cached_answers"] == 1
    assert counted["prompt_tokens"] == 300  # the cached answer's tokens are not counted again
    note = answers_note({"agent": "llm", "tokens": counted})
    assert note.startswith("answers: 1 of 4 events answered from the response cache")
    assert "2 invalid after the repair retry (recorded as silence)" in note
    old_run = answers_note({"agent": "llm", "tokens": {"events": 4, "cached_answers": 0}})
    assert "invalid answers not counted" in old_run  # a run written before the count: said, not guessed
