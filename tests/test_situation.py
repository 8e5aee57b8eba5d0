"""The kind of moment the offer writer is told about: a failure now, a step that did not fix a
recent failure, a search or question now, or none of them."""

from __future__ import annotations

from proactive.situation import (
    FAILURE_EVENTS,
    MAX_FAILURE_CHARS,
    Situation,
    failure_in,
    query_in,
    recent_failure,
    recent_file,
    situation_of,
    stated_minutes,
)
from proactive.types import Event


def _history(*texts: str) -> list[Event]:
    return [Event(time=str(1_750_000_000 + 30 * i), text=text) for i, text in enumerate(texts)]


def test_clicks_and_scrolls_are_no_failure_and_no_search() -> None:
    history = _history("The user clicks on the 'Insert' tab in Word", "The user scrolls down the document")
    assert situation_of(history) == Situation()


def test_an_error_on_screen_now_is_a_failure_now() -> None:
    moment = situation_of(_history("Opens src/editor.rs", "Terminal: cargo build fails with error[E0502]"))
    assert moment.error_now and not moment.searching
    # An exception's name is an error too (no word boundary before "Error" in "TypeError").
    for text in ("DevTools Console: Uncaught TypeError: findDOMNode is not a function", "-> KeyError: 'labels'"):
        assert situation_of(_history(text)).error_now, text
    assert not situation_of(_history("Reads a review of a terror film")).error_now


def test_a_recent_failure_counts_as_not_fixed_for_a_few_events_then_no_longer() -> None:
    failure = "Terminal: cargo build fails with error[E0502] in src/editor.rs"
    after = [f"Edits line {n} of src/editor.rs" for n in range(FAILURE_EVENTS + 1)]
    assert not situation_of(_history(failure)).not_fixed
    assert situation_of(_history(failure, after[0])).not_fixed
    assert situation_of(_history(failure, *after[:FAILURE_EVENTS])).not_fixed
    assert not situation_of(_history(failure, *after)).not_fixed
    assert not situation_of(_history(failure, after[0])).error_now


def test_a_step_that_says_it_worked_ends_a_recent_failure() -> None:
    failure = "Terminal: pytest tests/test_parser.py -> 1 failed (UnicodeDecodeError)"
    for worked in (
        "Terminal: pytest tests/test_parser.py -q -> 15 passed",
        "git commit -am 'Handle latin-1 bank exports' -> 2 files changed",
        "He fixed the citation and the recompile came back clean",
        "Stripped the prefix and cast again; that worked.",
    ):
        assert not situation_of(_history(failure, worked)).not_fixed, worked
    # Saying nothing of the outcome, or that it still fails, keeps it not fixed; "fixed" as an
    # adjective is no fix.
    for open_still in (
        "Edits line 12 of parser.py",
        "Reruns pytest: still fails",
        "Compares the fixed deal's price",
        "Tries passing the path as a string",
    ):
        assert situation_of(_history(failure, open_still)).not_fixed, open_still


def test_an_outcome_that_did_not_change_is_not_fixed_without_any_error_word() -> None:
    history = _history("Sheets: changes the SUMIF range to E:E", "Sheets: H2 still 0")
    moment = situation_of(history)
    assert moment.not_fixed and not moment.error_now
    assert situation_of(_history("Retries the upload and gets the same message")).not_fixed
    assert not situation_of(_history("Sheets: H2 shows 1,204.50")).not_fixed


def test_a_search_now_with_its_query_typed_is_a_search_in_any_phrasing() -> None:
    assert situation_of(_history("Searched 'how many ml is a cup of chicken stock'.")).searching
    assert situation_of(_history("Firefox — 'us cup vs uk cup' - DuckDuckGo")).searching
    both = situation_of(_history("Sheets: H2 shows 0", "Firefox — 'why can't i book cp train' - Google Search"))
    assert both.searching and both.error_now
    assert not situation_of(_history("Searched 'cup to ml'", "Poured the stock into the pan")).searching
    # Search words with no query typed: an SQL query rerun, a question in a colleague's comment.
    for text in ("The query was rerun with SUM(DISTINCT o.total)", "Word: new comment: 'Which is right?'"):
        assert not situation_of(_history(text)).searching, text


def test_an_empty_history_is_none_of_them() -> None:
    assert situation_of([]) == Situation()


def test_the_query_typed_is_found_in_many_phrasings_and_only_there() -> None:
    from proactive.situation import typed_query

    found = {
        "The user performed a search for 'js 淡入淡出' on Bing.": "js 淡入淡出",
        "The user stayed on the '电子邮件地址校验 python' Google search results page.": "电子邮件地址校验 python",
        "Firefox — 'why can't i book cp train lisbon porto december' - Google Search": (
            "why can't i book cp train lisbon porto december"
        ),
        "searched: pixel 9a vs galaxy a56": "pixel 9a vs galaxy a56",
        "The user opened a search result with the title '远程工作软件 - 搜索' on Bing.": "远程工作软件",
        # What they searched for, not a typo typed before it (ProactiveBench's code traces).
        "The user types 'tgithub \\n' and searches for 'github' on a new tab in Google.": "github",
    }
    for text, query in found.items():
        assert typed_query(_history(text)) == query, text
    # Quotes that are not the query: a link's title, a key pressed, a message with a question mark.
    for text in (
        "The user clicks on the link to 'Fashion for the Earth - EARTHDAY.ORG' from the Google search results.",
        "The user pressed and released the 'Shift' key while inputting text in the Google search bar.",
        "Messages: to Sam — 'groceries were £412 in november?? we need to talk lol'",
        "The user typed 'search.m' on the keyboard in Visual Studio Code.",
    ):
        assert typed_query(_history(text)) is None, text


def test_the_query_of_a_search_a_few_events_back_still_counts_then_no_longer() -> None:
    from proactive.situation import typed_query

    search = "He typed 'how to cite both the journal and arxiv version of a paper' into the search bar."
    scrolls = [f"He scrolls the results, page {n}" for n in range(FAILURE_EVENTS + 1)]
    assert typed_query(_history(search, *scrolls[:FAILURE_EVENTS])) == (
        "how to cite both the journal and arxiv version of a paper"
    )
    assert typed_query(_history(search, *scrolls)) is None


def test_what_failed_is_the_part_of_the_event_that_says_so() -> None:
    assert failure_in("Firefox — localhost:5173 — DevTools Console: Uncaught TypeError: x is not a function") == (
        "Uncaught TypeError: x is not a function"
    )
    assert failure_in("Windows Terminal — npm ERR! code ERESOLVE — unable to resolve dependency tree — peer react") == (
        "unable to resolve dependency tree"
    )
    # A quote that holds the error is what failed; a part that says it was resolved is not.
    assert failure_in("The user sees 'ModuleNotFoundError: No module named numpy' in the terminal.") == (
        "ModuleNotFoundError: No module named numpy"
    )
    assert failure_in("nvim: client.go, conflict markers around func Do resolved") is None
    assert failure_in("The user scrolls down the page.") is None
    assert failure_in("CI: step 3: failed") == "step 3: failed"  # a head is dropped only before a whole failure
    long = failure_in("make -> error: " + "word " * 40)
    assert long is not None and len(long) <= MAX_FAILURE_CHARS and long.endswith("word")


def test_the_failure_and_file_of_the_last_few_events_are_found_latest_first() -> None:
    history = _history(
        "shell: go test ./internal/httpclient -> FAIL internal/httpclient/client_test.go:41",
        "nvim: internal/httpclient/client.go, line 88 edited",
    )
    assert recent_failure(history) == "FAIL internal/httpclient/client_test.go:41"
    assert recent_file(history) == "internal/httpclient/client.go"
    assert recent_failure(_history("The user reads the docs.")) is None
    assert recent_file(_history("The user reads the docs.")) is None


def test_a_query_is_read_from_an_engine_address_a_title_tail_or_a_question_typed_for_oneself() -> None:
    from proactive.situation import query_in

    # Browser history without quotes: the address's q= parameter, else the title before the engine.
    address = "https://www.google.com/search?q=gym+froze+refund — gym froze refund - Google Search"
    assert query_in(address) == "gym froze refund"
    assert query_in("Firefox | r ggplot keep top n per facet at DuckDuckGo | 1m10s") == "r ggplot keep top n per facet"
    assert query_in("Firefox — ecto on_conflict why id changes — DuckDuckGo") == "ecto on_conflict why id changes"
    # A question they typed for themselves: in a note, or a shell comment.
    note = 'Routes!D1 note typed: "how do I get emailDrivers to run every Thursday 7am?"'
    assert query_in(note) == "how do I get emailDrivers to run every Thursday 7am?"
    assert query_in("find /var/backups -mtime +14 -print   # why does this print nothing??") == (
        "why does this print nothing??"
    )
    # Not a question put to a person, a button's label, a colleague's comment, a mail search's "#".
    for text in (
        "Sam texts him: 'are you coming tonight?'",
        "The user hovers over a button labelled 'What's new?'",
        "Word: new comment: 'Which is right?'",
        "https://mail.google.com/mail/u/0/#search/sport+utrecht — Search results - Gmail",
    ):
        assert query_in(text) is None, text


def test_text_as_a_word_is_no_message_to_a_person() -> None:
    from proactive.situation import asked

    assert asked("Typed 'how do I wrap text in a cell?' into the search box")
    assert not asked("Texts him: can you pick up milk?") and not asked("texted Mia: are we still on?")
    assert not asked("https://shop.example.com/cart?step=2")


def test_a_stay_is_read_from_its_stated_length_in_any_of_the_usual_forms() -> None:
    assert stated_minutes("Chrome | Report a problem | 14m 50s") == 14.0
    assert stated_minutes("For nearly twenty minutes I flicked between the two") == 20.0
    assert stated_minutes("sat with it for a quarter of an hour") == 15.0
    assert stated_minutes("1h 20m in Word") == 80.0
    assert stated_minutes("14:02–14:21 no edits") == 19.0
    # A clock time is no length; nor is a count of steps.
    assert stated_minutes("10:09:30  12 Ashgrove Road – Band C") == 0.0
    assert stated_minutes("keys 310, undo 14, ran it 3 times") == 0.0
    # Nor an amount of money.
    assert stated_minutes("SUM(o.total) was run for November; 3.9M was returned, £12m budgeted") == 0.0


def test_a_quoted_page_title_with_the_engines_tail_is_a_search() -> None:
    title = 'Firefox · "sveltekit use:enhance data prop changes but list stays the same - Google Search" · 0:55'
    assert query_in(title) == "sveltekit use:enhance data prop changes but list stays the same"
    assert query_in('Opened "Quarterly report" in Word') is None
    assert query_in('Chrome · "Research plan - Google Docs"') is None


def test_a_file_locked_against_them_or_not_found_in_their_language_is_a_failure() -> None:
    for text in ("File In Use - SOP_v2.docx is locked for editing by 'Okafor, Daniel'", "Impegnativa non trovata"):
        assert situation_of([Event(time="1", text=text)]).error_now, text
    assert not situation_of([Event(time="1", text="He unlocked the phone and read the message")]).error_now
