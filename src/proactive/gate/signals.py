"""Situation signals: features of a history that mean the same thing in any setting.

The word features of the latest event (`features.WordVectorizer`) learned the released
traces' vocabulary ("searches for", "scrolls", a Chinese app name) and did not carry over
to activity written another way: on new traces the word gate spoke at 88% of events with
a balanced accuracy below chance. These signals describe the *situation* instead, each a
small number that reads the same for a coder, a writer or someone booking a train:

- ``error``: a failure on screen now, in the last few events, and the same failure again;
- ``search``: searching now, how many searches lately, and a *reformulated* query (shares
  words with a recent query but is not the same: the person is not finding it);
- ``question``: a question typed for an answer (a "?", "how do I", "why does" ...; not one put
  to a person in a message, not a web address's query string);
- ``undo``: undo / delete / revert / rewrite steps in the last few events (a loop);
- ``loop``: one event that tells of a step done over and over ("five times by hand", "one by one");
- ``back_and_forth``: A-B-A alternation between two things (comparing, copying by hand);
- ``dwell``: a long gap before the latest event relative to the trace's own pace, how
  many events in a row stay on the same thing, and a long stay told in the event itself
  ("| 14m 50s", "for a quarter of an hour": rows and diaries write the time spent in the event);
- ``calm``: reading, listening, chatting or typing along (help is rarely wanted there);
- ``position``: how far into the session (events since a 30-minute break, at most 12).

All regular expressions are written for intent ("fails", "can't", "doesn't work",
"exit code 1"), not for one data set's phrasing, and run on lower-cased text; the error,
search and question patterns live in `proactive/situation.py`, shared with the offer writer.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

import numpy as np

from proactive.situation import (
    CALM,
    ERROR,
    FILE_EXTENSIONS,
    NUMBER_WORDS,
    REPEATED_STEP,
    SEARCH,
    asked,
    long_stay,
)
from proactive.types import Event

UNDO = re.compile(
    r"\bundo|ctrl\+?z|cmd\+?z|⌘z|\bdelet|backspace|\brevert|\brewrit|\bretyp|\berase|\bremov|\bscrap|"
    r"\bagain\b|\bonce more\b|\brestor|reset --hard|git checkout --|\bdiscard|\bclear(?:ed|s|ing)\b"
)
DWELL_WORDS = re.compile(
    r"\bstill\b|\bkeeps?\b|\bstares?\b|\bre-?reads?\b|"
    r"\bfor (?:(?:nearly|almost|about|around|over|well over|more than|close to|another) )?"
    rf"(?:\d+|several|a few|many|{NUMBER_WORDS}) (?:min|minute|hour)|"
    r"\bfor (?:a quarter of an|half an|an|over an) hour\b|"
    r"\b(focused|active|actif|aktiv|activ[ao]|open) (for )?\d+ ?min|"
    r"\bhovers?\b|\blingers?\b|\bsame\b|\bremains?\b|\bsat (?:with|looking|staring|on|over)\b"
)
QUOTED = re.compile(r"['\"‘“]([^'\"’”]{3,80})['\"’”]")
FILE_LIKE = re.compile(rf"\b[\w\-]+\.({FILE_EXTENSIONS})\b")
APP_WORDS = re.compile(
    r"vs ?code|visual studio|terminal|firefox|chrome|safari|edge|word|excel|sheets|docs|powerpoint|slides|"
    r"outlook|gmail|mail|slack|teams|zoom|notion|obsidian|finder|explorer|pycharm|intellij|vim|emacs|"
    r"spotify|whatsapp|calendar|maps|booking|airbnb|amazon|github|jira|figma|pdf"
)
WORD = re.compile(r"[a-z0-9]{3,}")
WINDOW = 5
#: The position feature counts the events of the current session only: back to a break of this
#: long, and at most `POSITION_CAP` events. The gate was fitted on histories of at most 21 events
#: (median 10); a live assistant's history runs all day, and counted whole it read as "very late
#: in a session" at every event: our 224 new-trace events replayed as one day opened the gate at
#: 212, against 74 trace by trace (now 100 and 80, the traces 5 minutes apart). The cap was chosen on our dev traces
#: (`bench/gate_choice.py --train-traces`, dev F1 / BA: no position 0.575 / 0.698, cap 12
#: 0.590 / 0.710, 16 0.561 / 0.687, 24 0.561 / 0.687, uncapped before 0.579 / 0.702).
SESSION_BREAK_S = 30 * 60
POSITION_CAP = 12
#: Names of the columns `signal_features` returns, in order (the gate manifest stores them).
SIGNAL_NAMES = (
    "error_now", "error_recent", "error_again",
    "search_now", "searches_recent", "reformulated",
    "question_now", "question_recent",
    "undo_recent", "back_and_forth",
    "gap_relative", "gap_log", "same_thing_run", "dwell_words",
    "calm_now", "position_log", "loop_now", "long_stay_told",
)  # fmt: skip


def _thing(text: str) -> str:
    """What an event is about: its first quoted string, else a file name, else its app word."""
    for pattern in (QUOTED, FILE_LIKE):
        match = pattern.search(text)
        if match:
            return match.group(0).strip("'\"‘’“”").lower()
    match = APP_WORDS.search(text)
    return match.group(0) if match else ""


def _query_words(text: str) -> set[str]:
    quoted = QUOTED.findall(text)
    source = " ".join(quoted) if quoted else text
    return set(WORD.findall(source.lower()))


#: One event that tells of a search reworded ("then reworded it to ...", "tried again with").
REWORDED = re.compile(
    r"\breword|\brephras|\btried again with\b|\banother search\b|"
    # "'a', then 'b'", "for 'a', then for 'b'", "'a' ... then typed 'b' into Google": quotes in a chain.
    r"['\"‘“][^'\"’”]{3,80}['\"’”][^'\"‘“]{0,12}\bthen\b[^'\"‘“]{0,40}['\"‘“]"
)


def _reformulated(texts: Sequence[str], searches: Sequence[bool]) -> float:
    """1 when the latest search shares words with a recent different search (a retry), or the
    latest event alone tells of several queries ("searches 'a', then 'b', then 'c'") or a rewording."""
    if not searches[-1]:
        return 0.0
    if REWORDED.search(texts[-1]):
        return 1.0
    latest = _query_words(texts[-1])
    if not latest:
        return 0.0
    for text, searched in zip(texts[-1 - WINDOW : -1], searches[-1 - WINDOW : -1], strict=False):
        if not searched:
            continue
        earlier = _query_words(text)
        overlap = len(latest & earlier) / max(1, len(latest | earlier))
        if 0.15 <= overlap < 0.95:
            return 1.0
    return 0.0


def _back_and_forth(things: Sequence[str]) -> float:
    """Share of the last few steps that return to the thing two steps back (A-B-A)."""
    recent = list(things[-WINDOW - 1 :])
    if len(recent) < 3:
        return 0.0
    hits = sum(1 for a, b, c in zip(recent, recent[1:], recent[2:], strict=False) if a and a == c and a != b)
    return hits / (len(recent) - 2)


def _same_run(things: Sequence[str]) -> float:
    """log(1 + events in a row before the latest that were about the same thing)."""
    latest = things[-1]
    if not latest:
        return 0.0
    run = 0
    for thing in reversed(things[:-1]):
        if thing != latest:
            break
        run += 1
    return math.log1p(run)


def _gaps(history: Sequence[Event]) -> tuple[float, float]:
    """(log gap before the latest event minus log median gap, log gap); zeros when times are unknown."""
    seconds = [event.seconds for event in history]
    if len(seconds) < 2 or seconds[-1] is None or seconds[-2] is None:
        return 0.0, 0.0
    gaps = [max(0.0, b - a) for a, b in itertools.pairwise(seconds) if a is not None and b is not None]
    last = gaps[-1]
    median = float(np.median(gaps[:-1])) if len(gaps) > 1 else last
    return math.log1p(last) - math.log1p(median), math.log1p(last)


def session_position(history: Sequence[Event]) -> int:
    """Events before the latest one in its session (back to a `SESSION_BREAK_S` gap), at most `POSITION_CAP`."""
    position = 0
    for index in range(len(history) - 1, 0, -1):
        before, after = history[index - 1].seconds, history[index].seconds
        if before is not None and after is not None and after - before >= SESSION_BREAK_S:
            break
        position += 1
        if position >= POSITION_CAP:
            break
    return position


def signal_features(history: Sequence[Event]) -> np.ndarray:
    """The `SIGNAL_NAMES` columns for the moment after `history[-1]`."""
    texts = [event.text.lower() for event in history[-2 * WINDOW :]]
    errors = [bool(ERROR.search(t)) for t in texts]
    searches = [bool(SEARCH.search(t)) for t in texts]
    questions = [asked(t) for t in texts]
    things = [_thing(t) for t in texts]
    recent = slice(-1 - WINDOW, -1)
    earlier_errors = errors[recent]
    gap_relative, gap_log = _gaps(history)
    values = [
        float(errors[-1]),
        sum(earlier_errors) / WINDOW,
        float(errors[-1] and any(earlier_errors[-3:])),
        float(searches[-1]),
        sum(searches[recent]) / WINDOW,
        _reformulated(texts, searches),
        float(questions[-1]),
        sum(questions[recent]) / WINDOW,
        sum(bool(UNDO.search(t)) for t in texts[-WINDOW:]) / WINDOW,
        _back_and_forth(things),
        gap_relative,
        gap_log,
        _same_run(things),
        float(bool(DWELL_WORDS.search(texts[-1]))),
        float(bool(CALM.search(texts[-1])) and not errors[-1] and not questions[-1]),
        math.log1p(session_position(history)),
        float(len(UNDO.findall(texts[-1])) >= 2 or bool(REPEATED_STEP.search(texts[-1]))),
        float(long_stay(texts[-1])),
    ]
    return np.asarray(values, dtype=np.float32)
