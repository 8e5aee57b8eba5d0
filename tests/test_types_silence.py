"""`is_silence`: whole-answer silence strings, with any punctuation, versus real tasks."""

from __future__ import annotations

import pytest

from proactive.types import Proposal, is_silence

SILENCES = [
    None, "", "   ", "null", "null.", "NULL", "None", "None.", "none!", " 'None' ", '"null"', "N/A", "N/A.",
    "n/a", "(none)", "[null]", "**None**", "- None", "nil", "No.", "no", "Nothing.", "No task.", "no task needed",
    "No action needed.", "...", "-", "`null`", "None\n",
]  # fmt: skip

TASKS = [
    "None of the tests pass: fix the failing assertions",
    "None of the above? Suggest another approach",
    "No-op check: remove the unused import",
    "Normalize the column names",
    "No need to rename; explain the error instead",
    "Nothing else open: summarise the notes",
    "Nullable fields: add Optional to the schema",
    "n/a values: fill the missing cells",
    "NAT setup guide",
    "Fix the bug.",
    "Explain",
]


@pytest.mark.parametrize("text", SILENCES)
def test_silence_strings_are_silence(text: str | None) -> None:
    assert is_silence(text)
    assert Proposal(task=text).is_silence


@pytest.mark.parametrize("text", TASKS)
def test_tasks_that_start_like_silence_are_tasks(text: str) -> None:
    assert not is_silence(text)
    assert not Proposal(task=text).is_silence
