"""Situation signals read the same situation the same way, whatever the phrasing or setting."""

from __future__ import annotations

import numpy as np
import pytest

from proactive.gate.signals import POSITION_CAP, SESSION_BREAK_S, SIGNAL_NAMES, session_position, signal_features
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


@pytest.mark.parametrize(
    "text",
    [
        "JupyterLab — cell [8]: pd.to_datetime(df['order_date'], format='%d/%m/%Y') ran without errors",
        "pytest -q -> 100 passed, 0 failed",
        "git merge origin/main -> no conflicts, fast-forward",
        "The check reports page was run: 29 of 29 comments complete, 0 errors.",
    ],
)
def test_a_failure_word_that_says_none_happened_is_not_an_error(text: str) -> None:
    assert _signal(_history("Ran the cell", text), "error_now") == 0.0


def test_google_office_apps_are_not_searches() -> None:
    assert _signal(_history("Google Sheets — Maya's Birthday Guest List — row 8 selected"), "search_now") == 0.0
    assert _signal(_history("Opened Google Docs — essay_draft"), "search_now") == 0.0
    assert _signal(_history("Chrome — Google Search — 'bounce zone nut free food'"), "search_now") == 1.0


def test_a_question_to_a_person_or_in_a_web_address_is_not_one_typed_for_an_answer() -> None:
    asked = _history("Typed 'why does my merge duplicate rows' into the search box")
    assert _signal(asked, "question_now") == 1.0
    for text in (
        "Thunderbird | Compose: To ap@nordlicht.de — 'Could you send the PO number?'",
        "She posts in the Teams chat: 'anyone fancy swapping a Saturday in Jan?'",
        "web.whatsapp.com — Mum — 'can you be my guarantor for the flat? x'",
        "example.org/wp-admin/post.php?post=1187&action=edit — Edit Post",
    ):
        assert _signal(_history(text), "question_now") == 0.0, text


@pytest.mark.parametrize(
    "text",
    [
        "Dana runs `npx jest CartSummary --runInBand` five times by hand; all five pass",
        "She copies the charge references one by one from the bank tab into the complaint form",
        "I flip to the spreadsheet for year two's figure, then back, then to the on-cost line, then back",
        "Marguerite deletes the legal paragraph, rewrites it, and deletes it again",
    ],
)
def test_a_step_done_over_and_over_in_one_event_is_a_loop(text: str) -> None:
    assert _signal(_history("Opened the project", text), "loop_now") == 1.0
    assert _signal(_history("Opened the project", "Rewrote the intro of report.docx"), "loop_now") == 0.0


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


def test_position_counts_the_session_not_the_whole_day() -> None:
    texts = [f"Edited paragraph {i} of notes.md" for i in range(40)]
    early = _history(*texts[:4])
    day = _history(*texts)
    assert session_position(early) == 3
    # A day-long history reads like the longest histories the gate was fitted on, not beyond them.
    assert session_position(day) == POSITION_CAP
    assert _signal(day, "position_log") == pytest.approx(np.log1p(POSITION_CAP))
    # After a break the session starts again.
    gaps = [30.0] * 30 + [SESSION_BREAK_S + 1.0] + [30.0] * 2
    resumed = _history(*texts[:34], gaps=gaps)
    assert session_position(resumed) == 2


def test_a_day_long_history_does_not_open_the_default_gate_everywhere() -> None:
    """The live loop keeps the whole day; replayed as one day our new traces must open it about as often
    as trace by trace (before the cap: 212 of 224 events against 74)."""
    import asyncio
    from pathlib import Path

    from proactive.data.labelled import load_labelled_traces
    from proactive.gate.base import build_gate
    from proactive.types import AgentConfig, Observation

    root = Path(__file__).resolve().parents[1] / "data" / "new_traces"
    traces = [t.trace for part in ("dev", "held") for t in load_labelled_traces(root / part)]
    gate = build_gate(AgentConfig(gate="default"))

    async def opened() -> tuple[int, int]:
        day: list[Event] = []
        whole = alone = 0
        clock = float(traces[0].events[0].seconds or 0.0)
        for trace in traces:
            start = trace.events[0].seconds or 0.0
            for index, event in enumerate(trace.events):
                at = clock + (event.seconds or start) - start
                day.append(event.model_copy(update={"time": str(at)}))
                whole += await gate(Observation(history=list(day[-200:]))) >= gate.threshold
                alone += await gate(Observation(history=trace.events[: index + 1])) >= gate.threshold
            clock = float(day[-1].seconds or 0.0) + 300.0
        return whole, alone

    whole, alone = asyncio.run(opened())
    assert whole <= alone * 1.35, (whole, alone)


@pytest.mark.parametrize(
    "text",
    [
        "Portail — « Le document dépasse la taille autorisée » — carte_grise.pdf",
        "Word: Fehler! Verweisquelle konnte nicht gefunden werden.",
        "Sede electrónica — Error: el pago no se pudo completar",
        "Portale — Operazione non riuscita, riprovare",
        "Mijn omgeving — Upload mislukt: bestand te groot",
    ],
)
def test_a_failure_in_another_language_is_a_failure(text: str) -> None:
    assert _signal(_history("Opened the form", text), "error_now") == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "He types the meter readings into the sheet row by row, switching tabs for every cell",
        "Formulaire ⇄ photo_facture.jpg — 9 allers-retours, numéro saisi chiffre par chiffre",
        "Excel (0m10s) <-> Word (0m12s) — 14 switches in 9 min",
        "I copied the opening hours into the draft one at a time",
        "Seite neu geladen, 5 mal, gleiche Meldung",
        "She fills in the timesheet row by row",
        "Nummer Zeile für Zeile abgetippt",
        "the numbers were typed into Word one number at a time",
        "She copies the account numbers from old bills, switching tabs for each digit group",
        "For nearly twenty minutes I flicked between the TEMPLATES block and the docs page",
        "import java.time.LocalDate → kotlinx.datetime.LocalDate → java.time.LocalDate · Build: OK",
        "changing the sofa from 3-seater to 2-seater and back",
        "3 was entered, cleared, 4 was entered, cleared, and 3 was entered again",
    ],
)
def test_a_step_done_over_and_over_in_any_phrasing_or_language_is_a_loop(text: str) -> None:
    assert _signal(_history("Opened the project", text), "loop_now") == 1.0


def test_step_by_step_and_side_by_side_are_no_loop() -> None:
    for text in (
        "Reading 'A step by step guide to sourdough'",
        "Two drafts open side by side",
        # Arrows that lead on, not back to where they started.
        "[Run] GET /loans/overdue → 500 · Build → OK → deploy → done",
        "She switches to Spotify and puts on a playlist",
    ):
        assert _signal(_history("Opened the browser", text), "loop_now") == 0.0, text


def test_several_queries_told_in_one_event_are_a_reformulated_search() -> None:
    chain = _history("Opened the recipe", "He searches 'oca tuber', then 'oca tuber substitute', then 'oca vs potato'")
    led = _history("Draft open", 'She searched the help centre for "redirect article", then for "redirect old URL"')
    assert _signal(led, "reformulated") == 1.0
    reworded = _history("Draft open", 'I searched "council tax band appeal", then reworded it to "band challenge form"')
    single = _history("Draft open", "The user searched 'python list sort' on Google and clicked 'Stack Overflow'")
    assert _signal(chain, "reformulated") == 1.0 and _signal(reworded, "reformulated") == 1.0
    assert _signal(single, "reformulated") == 0.0


def test_a_note_saying_whom_to_ask_is_a_reminder_not_a_question() -> None:
    reminder = _history("notes.md: 'why is the invoice total off by 2p? ask Priya tomorrow'")
    assert _signal(reminder, "question_now") == 0.0
    todo = _history("[IntelliJ] LoanDto.kt · comment typed: // TODO ask Sam why returnedAt is nullable here")
    assert _signal(todo, "question_now") == 0.0
    assert _signal(_history("notes.md: 'why is the invoice total off by 2p?'"), "question_now") == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "She stays on the insurance form for eleven minutes",
        "WINWORD.EXE (focused 19 min)",
        "The cursor was left in the Control measures box for fourteen minutes",
        "sat there for half an hour",
    ],
)
def test_a_dwell_told_in_words_or_as_focus_time(text: str) -> None:
    assert _signal(_history("Opened the file", text), "dwell_words") == 1.0


@pytest.mark.parametrize(
    ("text", "told"),
    [
        # `app | title | duration` rows and diaries write the time spent in the event, not in the gap after it.
        ("Chrome | Report a problem – Step 2 of 4: Describe the fault | 14m 50s", 1.0),
        ("Pages — draft 3.pages — Word Count panel open · 9 min · cursor parked in spread 13 · no keystrokes", 1.0),
        ("[IntelliJ] 14:02–14:21 no edits · breakpoint hit", 1.0),
        ("I sat with the referral in my hand for a quarter of an hour", 1.0),
        ("Chrome | Report a problem – Step 3 of 4 | 1m 10s", 0.0),
        ("10:09:30  12 Ashgrove Road – Band C", 0.0),
    ],
)
def test_a_long_stay_told_in_the_event_itself(text: str, told: float) -> None:
    assert _signal(_history("Opened the file", text), "long_stay_told") == told
