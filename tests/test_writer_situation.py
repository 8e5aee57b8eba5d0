"""The writer's question shows the shape of a good offer only where the moment has that shape, and
a search placeholder the model leaves in becomes the query the person typed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from proactive.agent.writer import (
    FILLED_SEARCH,
    OfferWriter,
    copies_prompt,
    decline_reason,
    filled_failure,
    filled_search,
    names_something,
    proposal_of,
    writer_messages,
)
from proactive.data.labelled import load_labelled_traces, names_object
from proactive.models.base import get_model
from proactive.types import Event, Observation

DATA = Path(__file__).parent / "data"


def _observation(*texts: str) -> Observation:
    return Observation(history=[Event(time=str(1_750_000_000 + 30 * i), text=t) for i, t in enumerate(texts)])


def _question(observation: Observation) -> str:
    return writer_messages(observation)[-1]["content"]


def test_a_click_or_scroll_is_shown_no_offer_shape_and_a_search_or_failure_its_own() -> None:
    # ProactiveBench's low-level events: shown the error shape always (session 12), the 1.5B
    # invented failures there ("Find out why the user is switching to VS Code again and correct it").
    click = _question(_observation("The user switched to 'Visual Studio Code' again.", "The user scrolls down."))
    assert "<" not in click and "reads like" not in click
    search = _question(_observation("The user searched 'html 引用js' on Bing."))
    assert "<the answer to their question>" in search and "<their error>" not in search
    failure = _question(_observation("Terminal: cargo build fails with error[E0502] in src/editor.rs"))
    assert "<their error>" in failure and "<the answer to their question>" not in failure
    after = _question(_observation("Sheets: H2 shows #VALUE! error", "Sheets: changes the range to E:E"))
    assert "<what still fails>" in after and "<their error>" not in after


def test_a_step_done_over_and_over_by_hand_is_shown_the_shape_of_taking_it_over() -> None:
    by_hand = _observation(
        "Excel | Site_coordinates_2025.xlsx — row 8 selected",
        "RStudio | site_lookup.R — typed row 'WM-07' by hand; 7 of 40 rows done, switching to Excel every ~20s",
    )
    question = _question(by_hand)
    assert "<the rest of that step>" in question and "<what still fails>" not in question
    # The latest event's own loop is the more specific reading than a failure a few events back.
    after_failure = _observation(
        "rclone copy -> ERROR : Failed to copy: directory not found",
        "rclone copy /var/backups/pg/clinicdb_2026-04-02.dump b2:clinic-backups/pg/ # 6th one by hand, 25 to go",
    )
    assert "<the rest of that step>" in _question(after_failure)
    # A shape filled by the model copies no run of its words; one left in is declined.
    assert not copies_prompt("Finish tagging the categories in Budget 2026.xlsx for them")
    assert decline_reason("Finish <the rest of that step> for them", by_hand) != ""
    assert "<the rest of that step>" not in _question(_observation("RStudio | site_lookup.R — typed row 'WM-07'"))


def test_a_long_stay_on_one_box_is_shown_the_shape_of_drafting_what_it_needs() -> None:
    stay = _observation(
        "The medical needs section was reached: one pupil with a nut allergy.",
        "The cursor was left in the Control measures box of the allergy row for fourteen minutes.",
    )
    assert "<what that box, step or line needs>" in _question(stay)
    # A failure on screen is the more specific reading; a short visit is no stay.
    failing = _observation("Form open", "Step 4 of 4: 'Serial number must be 16 characters' error | 9m 10s")
    assert "<their error>" in _question(failing) and "<what that box" not in _question(failing)
    assert "<what that box" not in _question(_observation("Form open", "Chrome | Step 3 of 4 | 1m 10s"))
    # An hour of music while packing, or a locked screen, is a break, not a box they cannot fill.
    for calm in ("She puts a playlist on and packs the books for an hour.", "LockApp.exe | Lock Screen | 41m 12s"):
        assert "<what that box" not in _question(_observation("Form open", calm)), calm


def test_a_search_placeholder_left_in_becomes_the_query_they_typed() -> None:
    searched = "The user searched for 'go语言和python的异同？' on Google."
    observation = _observation(searched, "The user scrolls the results.")
    for written in ("Find out <the answer to their question>", "Find out what is the answer to their question"):
        assert filled_search(written, observation) == FILLED_SEARCH.format(query="go语言和python的异同？")
    filled = filled_search("Find out the answer to their question", observation)
    assert filled is not None and not copies_prompt(filled) and decline_reason(filled, observation) == ""
    # No query to fill it with: the placeholder stays a decline.
    clicks = _observation("The user clicks on the Google search results page.")
    assert filled_search("Find out <the answer to their question>", clicks) is None
    assert decline_reason("Find out <the answer to their question>", clicks) == "copies its instructions"
    # A task without the placeholder is the model's own and is left alone.
    assert filled_search("Find out how to reference JavaScript in HTML", observation) is None


def test_a_failure_placeholder_left_in_becomes_what_failed_and_its_file() -> None:
    # The real 1.5B's answer at a merge conflict on our held traces (it was declined as a prompt copy,
    # so the moment got silence): the placeholders stand for the failure and the file named there.
    shape = "Explain why <their error> happens in <their file> and fix it"
    conflict = _observation("shell: git rebase origin/main -> CONFLICT (content): Merge conflict in internal/client.go")
    assert filled_failure(shape, conflict) == (
        "Explain why 'CONFLICT (content): Merge conflict in internal/client.go' happens and fix it"
    )
    failing = _observation("Terminal: pytest tests/test_parser.py -q -> 14 passed, 1 failed (test_trailing_ws)")
    filled = filled_failure(shape, failing)
    assert filled == "Explain why '14 passed, 1 failed (test_trailing_ws)' happens in tests/test_parser.py and fix it"
    assert not copies_prompt(filled)
    # A step after the failure that did not fix it: "<what still fails>" is the failure seen before.
    after = _observation("Sheets: H2 shows #VALUE! error", "Sheets: changes the range to E:E")
    assert filled_failure("Find why <what still fails> and correct it", after) == (
        "Find why 'H2 shows #VALUE! error' and correct it"
    )
    # Nothing failed lately, or another placeholder would be left: still a decline.
    calm = _observation("The user scrolls down the README.")
    assert filled_failure(shape, calm) is None
    assert decline_reason(shape, calm) == "copies its instructions"
    assert filled_failure("Find out <the answer to their question> about <their error>", failing) is None
    # The model's own task is left alone.
    assert filled_failure("Explain why test_trailing_ws fails and fix it", failing) is None


def test_words_in_chinese_name_their_object_by_character_pairs() -> None:
    recent = _observation("The user scrolled through the Google search results for 'go 语言' in Chrome.").history
    assert names_something("Find out what 'go 语言' is used for", recent)
    assert names_something("Explain 语言 features of Go", recent)
    assert not names_something("Explain 电子邮件 validation", recent)


def test_at_recorded_real_searches_typed_in_chinese_every_offer_names_the_query() -> None:
    """The real 1.5B (tests/data/writer_qwen15.jsonl) at a search typed in Chinese, in ProactiveBench's
    low-level style: it often left the placeholder in there (session 13); now each offer names what
    they searched for, its own line or the placeholder filled with their query."""
    (labelled,) = [t for t in load_labelled_traces(DATA / "writer_traces") if t.trace.id == "writer_search_in_chinese"]
    writer = OfferWriter(get_model(f"replay/{DATA / 'writer_qwen15.jsonl'}"))
    for index, need in enumerate(labelled.help_needed):
        if need:
            offer = asyncio.run(writer.write(Observation(history=labelled.trace.events[: index + 1])))
            assert offer.task is not None, (index, offer.declined, offer.candidate)
            assert names_object(offer.task, labelled.objects[index]), (index, offer.task)
            proposal = proposal_of(offer, 0.7)
            assert proposal.task == offer.task
            assert ("their question" in proposal.thoughts) == bool(offer.candidate)


def test_an_answer_to_a_query_typed_in_chinese_may_name_it_in_english_but_nothing_else_may() -> None:
    searched = _observation("The user opens 'cart.js'.", "The user searches Bing for 'js 数组去重'.")
    translated = "Find out how to remove duplicates from an array in JavaScript"
    assert not names_something(translated, searched.history)  # no shared word across the scripts
    assert decline_reason(translated, searched) == ""
    # Not a task that does not answer, nor a short one, nor at a search typed in English.
    nothing = "names nothing from the activity"
    assert decline_reason("Remove duplicates from the array in JavaScript", searched) == nothing
    assert decline_reason("Find out more", searched) == "too short to be an offer"
    assert decline_reason("Find out more about it now", searched) == nothing
    english = _observation("The user opens 'cart.js'.", "The user searches Bing for 'js array dedupe'.")
    assert decline_reason("Find out how to sort a list in Python", english) == nothing
