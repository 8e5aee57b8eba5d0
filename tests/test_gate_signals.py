"""Situation signals read the same situation the same way, whatever the phrasing or setting."""

from __future__ import annotations

import numpy as np
import pytest

from proactive.gate.signals import SIGNAL_NAMES, signal_features
from proactive.types import Event


def _history(*texts: str, gaps: list[float] | None = None) -> list[Event]:
    times = np.cumsum([0.0, *(gaps or [30.0] * (len(texts) - 1))])
    return [Event(time=str(1_750_000_000 + t), text=text) for t, text in zip(times, texts, strict=True)]


def _signal(history: list[Event], name: str) -> float:
    return float(signal_features(history)[SIGNAL_NAMES.index(name)])


def test_one_column_per_name() -> None:
    assert signal_features(_history("Opened notes.txt")).shape == (len(SIGNAL_NAMES),)


@pytest.mark.parametrize(
    "text",
    [
        "Terminal: pytest exits with 3 failures in test_parser.py",
        "Excel shows #REF! in cell D4 of budget.xlsx",
        "The booking site says 'Payment declined' again",
        "cargo build: error[E0502]: cannot borrow `self.tiles` as mutable",
        "I still can't get the VPN to connect",
    ],
)
def test_errors_in_any_setting(text: str) -> None:
    calm = _history("Opened the project", "Reading the README")
    assert _signal([*calm, Event(time="1750000100", text=text)], "error_now") == 1.0
    assert _signal(calm, "error_now") == 0.0


def test_the_same_failure_again_counts_more_than_a_first_one() -> None:
    first = _history("Ran make", "make: *** [all] Error 2")
    again = _history("Ran make", "make: *** [all] Error 2", "Edited Makefile", "make: *** [all] Error 2 again")
    assert _signal(first, "error_again") == 0.0
    assert _signal(again, "error_again") == 1.0


def test_a_reformulated_search_is_a_retry_and_a_repeated_identical_one_is_not() -> None:
    retry = _history("Firefox — 'cheap trains lisbon porto' - Google Search",
                     "Firefox — 'lisbon porto train tickets sold out' - Google Search")  # fmt: skip
    fresh = _history("Writing the intro of report.docx", "Firefox — 'pasta carbonara recipe' - Google Search")
    assert _signal(retry, "reformulated") == 1.0
    assert _signal(fresh, "reformulated") == 0.0
    assert _signal(fresh, "search_now") == 1.0


def test_questions_undo_loops_and_back_and_forth() -> None:
    assert _signal(_history("Typed 'how do I split a borrow in rust' into DuckDuckGo"), "question_now") == 1.0
    assert _signal(_history("Typed the word 'borrow' in editor.rs"), "question_now") == 0.0
    loop = _history("Rewrote the first sentence of cover_letter.docx", "Deleted it", "Typed it again",
                    "Pressed Ctrl+Z twice", "Deleted the paragraph")  # fmt: skip
    smooth = _history("Wrote the first paragraph", "Wrote the second paragraph", "Saved the file")
    assert _signal(loop, "undo_recent") > 0.5 > _signal(smooth, "undo_recent")
    flipping = _history("Word — 'report.docx'", "Excel — 'q3.xlsx'", "Word — 'report.docx'", "Excel — 'q3.xlsx'")
    assert _signal(flipping, "back_and_forth") > 0.5
    assert _signal(smooth, "back_and_forth") == 0.0


def test_a_long_dwell_relative_to_the_persons_own_pace() -> None:
    quick = _history("a", "b", "c", "d", gaps=[10.0, 10.0, 10.0])
    dwell = _history("a", "b", "c", "d", gaps=[10.0, 10.0, 400.0])
    assert _signal(dwell, "gap_relative") > _signal(quick, "gap_relative") + 2.0
    same = _history("Reading 'Form SA105' box 20", "Still on 'Form SA105' box 20", "Scrolled 'Form SA105' box 20")
    assert _signal(same, "same_thing_run") > 0.0


def test_calm_moments_are_marked_unless_something_goes_wrong() -> None:
    assert _signal(_history("Put on a lo-fi playlist in Spotify"), "calm_now") == 1.0
    assert _signal(_history("Spotify shows an error: playback failed"), "calm_now") == 0.0
