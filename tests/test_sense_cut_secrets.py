"""A secret anywhere in a long sensed field never survives the cut to a sentence's length.

The sense room shortens titles, queries and file names to fit a sentence. Were it to cut
before redacting, a token sitting across the cut would come out as a prefix too short for
its rule to recognise (23 characters of a `ghp_` key), yet still a secret.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proactive.sense.events import events_from_buckets

TOKEN = "ghp_" + "Zq8LmN3pRt7VwX2yB5cD9fGh1JkL4mNo6PqR"
#: Any 8 characters of the token's secret part is a leak.
LEAK = 8
FILLER = "quarterly planning notes and follow ups for the release of the new onboarding flow " * 4


def _leaks(text: str) -> list[str]:
    secret = TOKEN[4:]
    return [secret[i : i + LEAK] for i in range(len(secret) - LEAK + 1) if secret[i : i + LEAK] in text]


def _at(offset: int) -> datetime:
    return datetime.fromtimestamp(1717399800.0 + offset, UTC)


def _with_token(position: int) -> str:
    return f"{FILLER[:position]} {TOKEN} {FILLER[position:]}".strip()


POSITIONS = list(range(0, 260, 3))


@pytest.mark.parametrize("field", ["window title", "tab title", "search query", "file name"])
def test_a_token_at_every_position_of_a_long_field_is_redacted_whole(field: str) -> None:
    windows, tabs, editor = [], [], []
    for index, position in enumerate(POSITIONS):
        text = _with_token(position)
        at = _at(index * 10)
        if field == "window title":
            windows.append({"timestamp": at, "duration": 9.0, "data": {"app": "Gnome-terminal", "title": text}})
        elif field == "tab title":
            windows.append(
                {"timestamp": at, "duration": 9.0, "data": {"app": "firefox", "title": "x — Mozilla Firefox"}}
            )
            tabs.append({"timestamp": at, "duration": 9.0, "data": {"url": f"https://wiki.example.org/p{index}",
                                                                     "title": text}})  # fmt: skip
        elif field == "search query":
            query = text.replace(" ", "+")
            windows.append(
                {"timestamp": at, "duration": 9.0, "data": {"app": "firefox", "title": "x — Mozilla Firefox"}}
            )
            tabs.append({"timestamp": at, "duration": 9.0, "data": {"url": f"https://duckduckgo.com/?q={query}",
                                                                     "title": "results"}})  # fmt: skip
        else:
            name = text.replace(" ", "_") + ".md"
            code = {"app": "Code", "title": "Visual Studio Code"}
            windows.append({"timestamp": at, "duration": 9.0, "data": code})
            file = {"file": f"/home/dev/notes/{name}", "project": "/home/dev/notes", "language": "markdown"}
            editor.append({"timestamp": at, "duration": 9.0, "data": file})
    buckets = {"currentwindow": windows, "web.tab.current": tabs, "app.editor.activity": editor}
    events = events_from_buckets({kind: items for kind, items in buckets.items() if items})
    assert len(events) >= 10, [e.text for e in events]  # equal cut titles merge into one event
    leaked = {event.text: _leaks(event.text) for event in events if _leaks(event.text)}
    assert not leaked, leaked
    # The cut still happens (the fields are long), and the redaction marker is there while it fits.
    assert any("…" in event.text for event in events)
    assert any("[REDACTED:" in event.text for event in events)
