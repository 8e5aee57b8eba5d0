"""How fast a day of ActivityWatch heartbeats becomes event sentences, and how fast the filter runs.

Usage: .venv/bin/python bench/sense_speed.py [--heartbeats 50000] [--seed 7] [--repeat 3]

Generates in memory a realistic working day of raw heartbeats (about 50,000 by default) in
the four bucket types `proactive sense` reads: `currentwindow` (one a second, the same
window repeated until the person switches), `web.tab.current` (one a second too, the worst
case for merging: the browser extension beats less often; tab switches, searches on
Google / DuckDuckGo / Bing, documentation, Stack Overflow, mail), `app.editor.activity`
(files of three projects, a beat every two seconds) and `afkstatus` (every five seconds;
breaks of 3 to 30 minutes). A few heartbeats carry secrets (a token
in a URL, an e-mail in a title), a private window and an excluded app, so the filter and
the exclusions do real work. Then it measures
  (a) heartbeats/s and sentences/s turning them into sentences (proactive.sense.events),
  (b) lines/s of the redaction filter (proactive.sense.redact.redact) on the window titles
      and URLs of the day, and on the sentences made.
The figures depend on the machine and its load (printed from os.getloadavg); best of
`--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote_plus

#: {"bucket_id", "timestamp": datetime, "duration": float, "data": {...}}: a heartbeat as a watcher sends it.
RawEvent = dict[str, Any]
HOST = "laptop"
#: Bucket type -> the watcher (client) that fills it; bucket ids are "<watcher>_<host>".
WATCHERS = {
    "currentwindow": "aw-watcher-window",
    "web.tab.current": "aw-client-web",
    "app.editor.activity": "aw-watcher-vscode",
    "afkstatus": "aw-watcher-afk",
}

PROJECTS = {
    "proactive": ["src/proactive/sense/events.py", "src/proactive/cli/main.py", "tests/test_gym.py", "README.md",
                  "pyproject.toml", "src/proactive/agent/gated.py"],
    "webshop": ["app/models/customer.rb", "app/controllers/orders_controller.rb", "spec/models/customer_spec.rb",
                "config/routes.rb", "Gemfile"],
    "infra": ["main.tf", "variables.tf", "modules/db/main.tf", ".github/workflows/deploy.yml"],
}  # fmt: skip
#: File extension -> VS Code's language id, as aw-watcher-vscode reports it.
LANGUAGES = {"py": "python", "rb": "ruby", "tf": "terraform", "md": "markdown", "toml": "toml", "yml": "yaml"}
SEARCHES = [
    "python asyncio gather return_exceptions", "ruby capitalize each word in a string",
    "TypeError: 'NoneType' object is not subscriptable", "terraform state mv module",
    "pydantic v2 model_validator mode before", "sqlite wal mode concurrent readers",
    "git rebase onto another branch", "flask 2.3 breaking changes", "rails has_many through validation",
    "best coffee near me", "weather tomorrow", "ActiveRecord::RecordNotUnique PG::UniqueViolation",
]  # fmt: skip
ENGINES = [
    ("https://www.google.com/search?q={q}&sourceid=chrome&ie=UTF-8", "{t} - Google Search"),
    ("https://duckduckgo.com/?q={q}&ia=web", "{t} at DuckDuckGo"),
    ("https://www.bing.com/search?q={q}&form=QBLH", "{t} - Search"),
]
PAGES = [
    ("https://docs.python.org/3/library/asyncio-task.html", "Coroutines and Tasks — Python 3.12 documentation"),
    (
        "https://stackoverflow.com/questions/3940128/how-do-i-reverse-a-list-in-python",
        "How do I reverse a list in Python? - Stack Overflow",
    ),
    (
        "https://github.com/ActivityWatch/activitywatch/issues/1034",
        "Exclude apps from tracking · Issue #1034 · ActivityWatch/activitywatch",
    ),
    (
        "https://github.com/acme/webshop/pull/412/files",
        "Fix name capitalisation by jdoe · Pull Request #412 · acme/webshop",
    ),
    (
        "https://api.rubyonrails.org/classes/ActiveRecord/Associations/ClassMethods.html",
        "ActiveRecord::Associations::ClassMethods",
    ),
    (
        "https://registry.terraform.io/providers/hashicorp/aws/latest/docs",
        "Docs overview | hashicorp/aws | Terraform Registry",
    ),
    ("https://news.ycombinator.com/", "Hacker News"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "Talk: Designing Data-Intensive Applications - YouTube"),
    ("https://mail.google.com/mail/u/0/#inbox", "Inbox (3) - jane.doe@example.com - Gmail"),
    ("https://calendar.google.com/calendar/u/0/r/week", "Google Calendar - Week of June 3, 2024"),
    (
        "https://ci.example.com/job/deploy/build?token=ghp_16C7e42F292c6912E7710c838347Ae178B4a&delay=0",
        "deploy #88 [Jenkins]",
    ),
]
#: A made-up token (not a real credential) in the shape of a JWT.
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
OTHER_WINDOWS = [
    ("gnome-terminal-server", "jane@laptop: ~/src/proactive"),
    ("gnome-terminal-server", "jane@laptop: ~/src/webshop — bundle exec rspec"),
    ("Slack", "Slack | #team-backend | Acme"),
    ("Slack", "Slack | Alex Smith (DM) | Acme"),
    ("thunderbird", "Re: invoice 2024-0613 - Inbox - Mozilla Thunderbird"),
    ("org.gnome.Nautilus", "Downloads"),
    ("gnome-terminal-server", f"jane@laptop: ~ — curl -H 'Authorization: Bearer {JWT}' api.acme.dev"),  # a secret
    ("KeePassXC", "Passwords.kdbx - KeePassXC"),  # excluded by the bench's config
    ("firefox", "Mozilla Firefox Private Browsing"),  # a private window: dropped
]


@dataclass
class DayBuilder:
    """Appends heartbeats per bucket type while a simulated person works through a day."""

    rng: random.Random
    clock: datetime
    buckets: dict[str, list[RawEvent]] = field(
        default_factory=lambda: {"currentwindow": [], "web.tab.current": [], "app.editor.activity": [], "afkstatus": []}
    )

    def count(self) -> int:
        return sum(len(events) for events in self.buckets.values())

    def beat(self, kind: str, data: dict[str, Any], at: datetime, duration: float, bucket: str = "") -> None:
        bucket_id = bucket or f"{WATCHERS[kind]}_{HOST}"
        self.buckets[kind].append({"bucket_id": bucket_id, "timestamp": at, "duration": duration, "data": dict(data)})

    def stay(
        self, seconds: float, window: dict[str, Any], tab: dict[str, Any] | None, editor: dict[str, Any] | None
    ) -> None:
        """One window (and tab / file) held for `seconds`: a heartbeat a second, the editor's
        every two seconds, the afk watcher's every five, as the real watchers poll."""
        for tick in range(int(seconds)):
            at = self.clock + timedelta(seconds=tick)
            self.beat("currentwindow", window, at, 1.0)
            if tab is not None:
                # aw-watcher-web keeps one bucket per browser, named without the host.
                browser = "chrome" if "chrome" in window["app"].lower() else "firefox"
                self.beat("web.tab.current", tab, at, 1.0, bucket=f"aw-watcher-web-{browser}")
            if editor is not None and tick % 2 == 0:
                self.beat("app.editor.activity", editor, at, 2.0)
            if tick % 5 == 0:
                self.beat("afkstatus", {"status": "not-afk"}, at, 5.0)
        self.clock += timedelta(seconds=int(seconds))

    def away(self, seconds: int) -> None:
        for tick in range(0, seconds, 5):
            self.beat("afkstatus", {"status": "afk"}, self.clock + timedelta(seconds=tick), 5.0)
        self.clock += timedelta(seconds=seconds)


def _tab(url: str, title: str, incognito: bool = False) -> dict[str, Any]:
    return {"url": url, "title": title, "audible": False, "incognito": incognito, "tabCount": 7}


def _code(day: DayBuilder) -> None:
    project = day.rng.choice(list(PROJECTS))
    for _ in range(day.rng.randint(1, 4)):
        path = day.rng.choice(PROJECTS[project])
        name = path.rsplit("/", 1)[-1]
        window = {"app": "Code", "title": f"{name} - {project} - Visual Studio Code"}
        editor = {
            "file": f"/home/jane/src/{project}/{path}",
            "project": f"/home/jane/src/{project}",
            "language": LANGUAGES.get(name.rsplit(".", 1)[-1], "plaintext"),
        }
        day.stay(day.rng.randint(15, 180), window, None, editor)


def _browse(day: DayBuilder) -> None:
    browser = day.rng.choice(["firefox", "Google-chrome"])
    suffix = " — Mozilla Firefox" if browser == "firefox" else " - Google Chrome"
    for _ in range(day.rng.randint(1, 5)):
        if day.rng.random() < 0.4:
            query = day.rng.choice(SEARCHES)
            url_form, title_form = day.rng.choice(ENGINES)
            url, title = url_form.format(q=quote_plus(query)), title_form.format(t=query)
        else:
            url, title = day.rng.choice(PAGES)
        day.stay(day.rng.randint(4, 60), {"app": browser, "title": title + suffix}, _tab(url, title), None)


def _other(day: DayBuilder) -> None:
    app, title = day.rng.choice(OTHER_WINDOWS)
    tab = None
    if title.endswith("Private Browsing"):
        tab = _tab("https://www.google.com/search?q=symptoms+of+burnout", "symptoms of burnout - Google Search", True)
    day.stay(day.rng.randint(4, 90), {"app": app, "title": title}, tab, None)


def generate_day(heartbeats: int = 50_000, seed: int = 7) -> dict[str, list[RawEvent]]:
    """Raw heartbeats per bucket type, oldest first, about `heartbeats` in all."""
    day = DayBuilder(random.Random(seed), datetime(2024, 6, 3, 7, 30, tzinfo=UTC))
    steps: list[Callable[[DayBuilder], None]] = [_code, _code, _code, _browse, _browse, _other]
    while day.count() < heartbeats:
        if day.rng.random() < 0.03:
            day.away(day.rng.randint(180, 1800))  # coffee, meetings, lunch
        day.rng.choice(steps)(day)
    return day.buckets


# ---------------------------------------------------------------- measuring


def _best_of(repeat: int, work: Callable[[], int]) -> tuple[float, int]:
    """(fastest seconds, items) over `repeat` runs of `work`, which returns an item count."""
    best, items = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        items = work()
        best = min(best, time.perf_counter() - started)
    return best, items


def _measure_events(buckets: dict[str, list[RawEvent]], repeat: int) -> list[str]:
    """Print heartbeats/s turning the day into sentences; return the sentences."""
    try:
        from proactive.sense.config import SenseConfig
        from proactive.sense.events import _raw_from, events_from_buckets
    except ImportError as exc:
        print(f"(a) sentences: skipped, proactive.sense.events not importable ({exc})")
        return []
    config = SenseConfig(exclude_apps=["KeePassXC"], exclude_urls=[r"^https://mail\.google\.com/"])
    total = sum(len(events) for events in buckets.values())
    made: list[str] = []

    def work() -> int:
        made[:] = [event.text for event in events_from_buckets(buckets, config)]
        return len(made)

    seconds, sentences = _best_of(repeat, work)
    print(
        f"(a) sentences from JSON heartbeats: {total} heartbeats -> {sentences} sentences in {seconds:.3f} s: "
        f"{total / seconds:,.0f} heartbeats/s, {sentences / seconds:,.0f} sentences/s "
        f"({total / max(sentences, 1):.0f} heartbeats per sentence)"
    )
    text = "\n".join(made)
    leaks = [word for word in ("KeePassXC", "burnout", "ghp_", "jane.doe@", "Private Browsing", JWT) if word in text]
    print(f"    {text.count('[REDACTED:')} redactions in the sentences; excluded / private / secret text seen: {leaks}")
    # The same without turning JSON into RawEvent values (as when reader.read_events made them).
    parsed = {kind: [_raw_from(kind, item) for item in items] for kind, items in buckets.items()}
    seconds_parsed, _ = _best_of(repeat, lambda: len(events_from_buckets(parsed, config)))
    print(
        f"(a) sentences from RawEvent values: {seconds_parsed:.3f} s, {total / seconds_parsed:,.0f} heartbeats/s "
        f"(JSON parsing is {100 * (1 - seconds_parsed / seconds):.0f}% of the time above)"
    )
    return made


def _redact_all(redact: Callable[[str], str], lines: list[str]) -> int:
    return sum(1 for line in lines if redact(line) is not None)


def _measure_redact(buckets: dict[str, list[RawEvent]], sentences: list[str], repeat: int) -> None:
    try:
        from proactive.sense.redact import redact
    except ImportError as exc:
        print(f"(b) redaction: skipped, proactive.sense.redact not importable ({exc})")
        return
    # Every heartbeat's title, URL and file: the worst case, as if each were filtered before merging.
    raw = [event["data"][key] for events in buckets.values() for event in events for key in ("title", "url", "file")
           if key in event["data"]]  # fmt: skip
    for name, lines in (("heartbeat titles/urls/files", raw), ("sentences", sentences)):
        if not lines:
            continue
        seconds, count = _best_of(repeat, partial(_redact_all, redact, lines))
        chars = sum(len(line) for line in lines)
        print(
            f"(b) redaction on {name}: {count} lines ({chars / count:.0f} chars avg) in {seconds:.3f} s: "
            f"{count / seconds:,.0f} lines/s, {chars / seconds / 1e6:.1f} MB/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heartbeats", type=int, default=50_000, help="About how many heartbeats to generate.")
    parser.add_argument("--seed", type=int, default=7, help="Random seed of the simulated day.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement; the fastest is reported.")
    args = parser.parse_args()

    started = time.perf_counter()
    buckets = generate_day(args.heartbeats, args.seed)
    counts = ", ".join(f"{kind} {len(events)}" for kind, events in buckets.items())
    first = min(events[0]["timestamp"] for events in buckets.values() if events)
    last = max(events[-1]["timestamp"] for events in buckets.values() if events)
    print(f"generated in {time.perf_counter() - started:.2f} s: {counts}; {first:%H:%M}-{last:%H:%M} UTC")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    sentences = _measure_events(buckets, args.repeat)
    _measure_redact(buckets, sentences, args.repeat)


if __name__ == "__main__":
    main()
