"""ActivityWatch events -> one-sentence `Event`s in the ProactiveBench style, deterministically.

The steps, in order (privacy first):

1. Drop excluded and private activity (`config.is_excluded`): windows, tabs and editor
   events the user excluded are removed before anything else looks at them.
2. Merge heartbeats (same bucket, same data, close in time) as aw-server does, so raw
   heartbeats and server-merged events give the same sentences.
3. Build the focus timeline from the window bucket: inside a browser window the active
   tab tells what is seen (tabs are only trusted while a kept browser window is focused,
   as ActivityWatch's own reports do, so a private or excluded window hides its tabs);
   inside an editor window the editor bucket tells the file, project and language.
   Without a window bucket, tabs and editor events stand alone.
4. One sentence per meaningful change (app, window title, file, page, search query),
   never one per heartbeat; AFK periods of a minute or more become "away" / "back" lines.
5. Every sentence goes through `redact` before it is returned.

Only domains, page and window titles, search queries and file names are ever told;
full URLs (where tokens hide) never appear in a sentence.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from proactive.sense.config import SenseConfig, is_excluded
from proactive.sense.reader import RawEvent
from proactive.sense.redact import redact
from proactive.types import Event

#: Heartbeats of one bucket with equal data and at most this many seconds apart are one state.
MERGE_GAP = 5.0
#: A window stays focused until the next window event, when that comes within this many seconds.
WINDOW_FILL = 5.0
#: AFK periods shorter than this are not told.
MIN_AWAY = 60.0
MAX_TEXT = 120

_BROWSERS = re.compile(
    r"firefox|chrome|chromium|brave|msedge|microsoft.?edge|safari|opera|vivaldi|librewolf|waterfox|epiphany",
    re.IGNORECASE,
)
_BROWSER_SUFFIX = re.compile(
    r"\s[-—–]\s(?:Mozilla Firefox(?: Private Browsing)?|Google Chrome|Chromium|Brave|Microsoft\W*Edge|Opera|"
    r"Vivaldi|Safari|LibreWolf)\s*$",
    re.IGNORECASE,
)
#: Window-title suffix -> editor name, for editors whose title reads "file - project - Editor".
_EDITOR_SUFFIX = re.compile(r"\s-\s(Visual Studio Code|VSCodium|Code - OSS|Cursor|Sublime Text|Zed)\s*$")
_EDITOR_APPS = re.compile(
    r"^(code|code-oss|codium|vscodium|cursor|visual studio code|sublime_text|sublime text|zed|"
    r"pycharm.*|idea.*|webstorm.*|goland.*|clion.*|rubymine.*|emacs|gvim|neovide|kate|gedit)(\.exe)?$",
    re.IGNORECASE,
)
_APP_NAMES = {
    "code": "Visual Studio Code", "code.exe": "Visual Studio Code", "code-oss": "Code - OSS",
    "firefox": "Firefox", "firefox.exe": "Firefox", "firefox-esr": "Firefox", "navigator": "Firefox",
    "google-chrome": "Google Chrome", "chrome.exe": "Google Chrome", "chromium": "Chromium",
    "chromium-browser": "Chromium", "msedge.exe": "Microsoft Edge", "brave-browser": "Brave",
    "gnome-terminal-server": "GNOME Terminal", "org.gnome.nautilus": "Files", "slack": "Slack",
    "sublime_text": "Sublime Text", "thunderbird": "Thunderbird", "libreoffice": "LibreOffice",
}  # fmt: skip
_LANGUAGES = {
    "ruby": "Ruby", "python": "Python", "javascript": "JavaScript", "typescript": "TypeScript",
    "typescriptreact": "TypeScript React", "javascriptreact": "JavaScript React", "go": "Go", "rust": "Rust",
    "java": "Java", "c": "C", "cpp": "C++", "csharp": "C#", "php": "PHP", "markdown": "Markdown", "html": "HTML",
    "css": "CSS", "json": "JSON", "yaml": "YAML", "shellscript": "shell", "sql": "SQL", "latex": "LaTeX",
    "terraform": "Terraform",
}  # fmt: skip

#: (host pattern, path prefix, query parameter, engine name), first match wins.
_SEARCH_ENGINES: tuple[tuple[re.Pattern[str], str, str, str], ...] = tuple(
    (re.compile(host), path, param, name)
    for host, path, param, name in (
        (r"^scholar\.google\.", "/scholar", "q", "Google Scholar"),
        (r"^(www\.)?google\.[a-z.]+$", "/search", "q", "Google"),
        (r"(^|\.)bing\.com$", "/search", "q", "Bing"),
        (r"(^|\.)duckduckgo\.com$", "/", "q", "DuckDuckGo"),
        (r"^search\.brave\.com$", "/search", "q", "Brave Search"),
        (r"(^|\.)ecosia\.org$", "/search", "q", "Ecosia"),
        (r"(^|\.)startpage\.com$", "/", "query", "Startpage"),
        (r"(^|\.)kagi\.com$", "/search", "q", "Kagi"),
        (r"^search\.yahoo\.com$", "/search", "p", "Yahoo"),
        (r"(^|\.)baidu\.com$", "/s", "wd", "Baidu"),
        (r"(^|\.)yandex\.[a-z.]+$", "/search", "text", "Yandex"),
        (r"(^|\.)stackoverflow\.com$", "/search", "q", "Stack Overflow"),
        (r"(^|\.)github\.com$", "/search", "q", "GitHub"),
        (r"(^|\.)youtube\.com$", "/results", "search_query", "YouTube"),
        (r"(^|\.)wikipedia\.org$", "/w/index.php", "search", "Wikipedia"),
        (r"(^|\.)reddit\.com$", "/search", "q", "Reddit"),
        (r"(^|\.)pypi\.org$", "/search", "q", "PyPI"),
        (r"(^|\.)npmjs\.com$", "/search", "q", "npm"),
        (r"(^|\.)amazon\.[a-z.]+$", "/s", "k", "Amazon"),
        (r"^developer\.mozilla\.org$", "/", "q", "MDN"),
    )
)
_NEW_TABS = ("about:newtab", "about:home", "chrome://newtab", "edge://newtab", "about:blank", "chrome://new-tab-page")


@dataclass(frozen=True, slots=True)
class Focus:
    """What the user looked at from `start` to `end`: a window, a file, a page or a search."""

    start: float
    end: float
    kind: str  # "window" | "editor" | "page" | "search" | "newtab"
    app: str = ""  # display name of the focused app ("" when unknown)
    title: str = ""  # window or page title
    file: str = ""
    project: str = ""
    language: str = ""
    domain: str = ""
    query: str = ""
    engine: str = ""
    page: str = ""  # URL without fragment: identity of a page, never printed

    @property
    def key(self) -> tuple[str, ...]:
        """Identity: two consecutive focuses with the same key are one (merged) event."""
        if self.kind == "editor":
            return (self.kind, self.app, self.file, self.project)
        if self.kind == "search":
            return (self.kind, self.engine, self.query)
        if self.kind == "page":
            return (self.kind, self.page)
        return (self.kind, self.app, self.title)


# ---------------------------------------------------------------- small text helpers


def _clean(text: object, limit: int = MAX_TEXT) -> str:
    # Redact the raw field before the cut: a cut token (a ghp_ key's first 23 characters)
    # is too short for its rule to recognise, yet still a secret.
    words = redact(" ".join(str(text or "").split()))
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _base(path: str) -> str:
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] if path else ""


def app_name(app: str, title: str = "") -> str:
    """The name a person calls an app: 'Code' -> 'Visual Studio Code' (from the title when it says so)."""
    suffix = _EDITOR_SUFFIX.search(title)
    if suffix:
        return suffix.group(1)
    key = app.strip().lower()
    return _APP_NAMES.get(key) or _clean(app.removesuffix(".exe").removesuffix(".EXE"), 60)


def _span(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, rest = divmod(minutes, 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    return text + (f" {rest} minute{'s' if rest != 1 else ''}" if rest else "")


def _time(seconds: float) -> str:
    """Unix seconds as ProactiveBench writes them ("1717378000.744")."""
    return repr(round(seconds, 3))


# ---------------------------------------------------------------- raw event -> focus


def web_focus(start: float, end: float, url: str, title: str, app: str = "") -> Focus | None:
    """A tab's focus: a search (query pulled from the URL), a page (domain + title), or a new tab."""
    url = url.strip()
    title = _clean(_BROWSER_SUFFIX.sub("", title or ""))
    if url.lower().startswith(_NEW_TABS) or not url:
        return Focus(start, end, "newtab", app=app, page="newtab") if url else None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    page = parts._replace(fragment="").geturl()
    if parts.scheme not in ("http", "https") or not host:
        name = title or _base(parts.path)
        return Focus(start, end, "page", app=app, title=name, page=page) if name else None
    domain = host.removeprefix("www.")
    for pattern, prefix, param, engine in _SEARCH_ENGINES:
        if pattern.search(host) and parts.path.startswith(prefix):
            values = parse_qs(parts.query).get(param)
            query = _clean(values[0], 150) if values else ""
            if query:
                return Focus(start, end, "search", app=app, engine=engine, query=query, domain=domain, page=page)
    if title == url or title.startswith(("http://", "https://")):
        title = ""
    return Focus(start, end, "page", app=app, title=title, domain=domain, page=page)


def _editor_from_title(start: float, end: float, app: str, title: str) -> Focus | None:
    """'● CheckName.rb - myproject - Visual Studio Code' -> file and project, when the title says so."""
    suffix = _EDITOR_SUFFIX.search(title)
    if not suffix:
        return None
    parts = [part.strip() for part in title[: suffix.start()].split(" - ") if part.strip()]
    if not parts:
        return None
    file = parts[0].lstrip("●•* ").strip()
    project = parts[-1] if len(parts) > 1 else ""
    return Focus(start, end, "editor", app=suffix.group(1), file=file, project=project)


def _editor_focus(start: float, end: float, app: str, data: dict[str, object]) -> Focus | None:
    file = _base(str(data.get("file") or ""))
    if not file or file.lower() == "unknown":
        return None
    project = _base(str(data.get("project") or ""))
    language = str(data.get("language") or "").strip()
    language = "" if language.lower() in ("plaintext", "unknown") else _LANGUAGES.get(language.lower(), language)
    return Focus(start, end, "editor", app=app, file=_clean(file, 80), project=_clean(project, 80), language=language)


def _window_focus(event: RawEvent, end: float) -> Focus | None:
    app_raw = str(event.data.get("app") or "")
    title = str(event.data.get("title") or "")
    if not app_raw and not title:
        return None
    app = app_name(app_raw, title)
    editor = _editor_from_title(event.timestamp, end, app, title)
    if editor is not None:
        return editor
    return Focus(event.timestamp, end, "window", app=app, title=_clean(_BROWSER_SUFFIX.sub("", title)))


# ---------------------------------------------------------------- privacy and heartbeat merging


def _kept(event: RawEvent, config: SenseConfig) -> bool:
    """False for activity the user excluded (apps, titles, URLs) or a private window / tab."""
    data = event.data
    if event.bucket_type == "currentwindow":
        return not is_excluded(config, str(data.get("app") or ""), str(data.get("title") or ""), None)
    if event.bucket_type == "web.tab.current":
        incognito = bool(data.get("incognito"))
        return not is_excluded(config, None, str(data.get("title") or ""), str(data.get("url") or ""), incognito)
    if event.bucket_type == "app.editor.activity":
        app = str(data.get("editor") or event.client or "")
        return not any(is_excluded(config, app, str(data.get(field) or ""), None) for field in ("file", "project"))
    return True


def merge_heartbeats(events: Sequence[RawEvent], gap: float = MERGE_GAP) -> list[RawEvent]:
    """Events of one bucket with equal data, each starting within `gap` s of the last one's end, become one."""
    merged: list[RawEvent] = []
    last: dict[str, int] = {}  # bucket id -> index in `merged` of its latest event
    for event in sorted(events, key=lambda item: item.timestamp):
        index = last.get(event.bucket_id)
        previous = merged[index] if index is not None else None
        if previous is not None and previous.data == event.data and event.timestamp - previous.end <= gap:
            duration = max(previous.end, event.end) - previous.timestamp
            merged[index] = previous.model_copy(update={"duration": duration})  # type: ignore[index]
            continue
        last[event.bucket_id] = len(merged)
        merged.append(event)
    return merged


class _Overlaps:
    """Events sorted by start, with a running maximum of ends, for fast "what overlaps [a, b]" queries."""

    def __init__(self, events: Sequence[RawEvent]) -> None:
        self.events = sorted(events, key=lambda item: item.timestamp)
        self.starts = [event.timestamp for event in self.events]
        self.max_end: list[float] = []
        highest = float("-inf")
        for event in self.events:
            highest = max(highest, event.end)
            self.max_end.append(highest)

    def within(self, start: float, end: float) -> list[RawEvent]:
        index = bisect.bisect_right(self.starts, end) - 1
        found = []
        while index >= 0 and self.max_end[index] >= start:
            if self.events[index].end >= start:
                found.append(self.events[index])
            index -= 1
        found.reverse()
        return found


# ---------------------------------------------------------------- the focus timeline


def _window_ends(windows: list[RawEvent]) -> list[float]:
    """Each window's end, stretched to the next window's start when it comes within WINDOW_FILL s."""
    ends = []
    for index, window in enumerate(windows):
        end = window.end
        if index + 1 < len(windows):
            end = max(end, min(windows[index + 1].timestamp, end + WINDOW_FILL))
        ends.append(end)
    return ends


def _inside(start: float, stop: float, event: RawEvent, window_start: float, window_end: float) -> bool:
    """True when `event` really overlaps the window, not just touches its edge (a heartbeat inside counts)."""
    return stop > start or window_start <= event.timestamp < window_end or window_start == window_end


def _inside_window(window: RawEvent, end: float, web: _Overlaps, editor: _Overlaps, hidden: _Overlaps) -> list[Focus]:
    """The focuses inside one kept window: its tabs (browser), its files (editor), or the window itself.

    A browser window showing a dropped (private or excluded) tab and no kept one is dropped
    too: its title would tell the hidden page.
    """
    base = _window_focus(window, end)
    if base is None:
        return []
    app_raw = str(window.data.get("app") or "")
    title = str(window.data.get("title") or "")
    inner: list[Focus | None] = []
    if _BROWSERS.search(app_raw):
        for tab in web.within(window.timestamp, end):
            start, stop = max(window.timestamp, tab.timestamp), min(end, tab.end)
            if not _inside(start, stop, tab, window.timestamp, end):
                continue
            inner.append(web_focus(start, stop, str(tab.data.get("url") or ""), str(tab.data.get("title") or ""),
                                   base.app))  # fmt: skip
    elif base.kind == "editor" or _EDITOR_APPS.match(app_raw.strip()):
        for item in editor.within(window.timestamp, end):
            file = _base(str(item.data.get("file") or ""))
            if base.kind == "editor" and file and file not in title:
                continue  # the editor bucket lags or leads the window: trust the title
            start, stop = max(window.timestamp, item.timestamp), min(end, item.end)
            if not _inside(start, stop, item, window.timestamp, end):
                continue
            inner.append(_editor_focus(start, stop, base.app, item.data))
    kept = [focus for focus in inner if focus is not None]
    if not kept and _BROWSERS.search(app_raw) and hidden.within(window.timestamp, end):
        return []
    return kept or [base]


def focus_timeline(events: Sequence[RawEvent], hidden_tabs: Sequence[RawEvent] = ()) -> list[Focus]:
    """Kept events -> the focus timeline, in time order, before merging (`hidden_tabs`: dropped tabs)."""
    windows = sorted((e for e in events if e.bucket_type == "currentwindow"), key=lambda e: e.timestamp)
    tabs = [e for e in events if e.bucket_type == "web.tab.current"]
    files = [e for e in events if e.bucket_type == "app.editor.activity"]
    if not windows:  # no window watcher: tabs and editor events tell the story alone
        alone = [web_focus(t.timestamp, t.end, str(t.data.get("url") or ""), str(t.data.get("title") or ""))
                 for t in tabs]  # fmt: skip
        alone += [_editor_focus(f.timestamp, f.end, "", f.data) for f in files]
        return sorted((focus for focus in alone if focus is not None), key=lambda focus: focus.start)
    web, editor, hidden = _Overlaps(tabs), _Overlaps(files), _Overlaps(hidden_tabs)
    timeline: list[Focus] = []
    for window, end in zip(windows, _window_ends(windows), strict=True):
        timeline.extend(_inside_window(window, end, web, editor, hidden))
    return timeline


def merge_focus(timeline: Iterable[Focus]) -> list[Focus]:
    """Consecutive focuses with the same identity become one: one event per meaningful change."""
    merged: list[Focus] = []
    for focus in timeline:
        if merged and merged[-1].key == focus.key:
            merged[-1] = replace(merged[-1], end=max(merged[-1].end, focus.end))
            continue
        merged.append(focus)
    return merged


# ---------------------------------------------------------------- sentences


def _file_phrase(focus: Focus) -> str:
    language = f" ({focus.language})" if focus.language else ""
    project = f" in project '{focus.project}'" if focus.project else ""
    return f"'{focus.file}'{language}{project}"


def sentence(focus: Focus, previous: Focus | None) -> str:
    """The one sentence for a new focus; `previous` decides "switches to" versus "opens"."""
    switched = previous is None or previous.app != focus.app
    if focus.kind == "search":
        return f"The user searches {focus.engine} for '{focus.query}'."
    if focus.kind == "newtab":
        return f"The user opens a new tab in {focus.app}." if focus.app else "The user opens a new browser tab."
    if focus.kind == "page":
        at = f" at {focus.domain}" if focus.domain else ""
        return f"The user opens '{focus.title}'{at}." if focus.title else f"The user opens a page{at}."
    if focus.kind == "editor":
        if not focus.app:
            return f"The user edits {_file_phrase(focus)}."
        if switched:
            return f"The user switches to {focus.app}, editing {_file_phrase(focus)}."
        return f"The user opens {_file_phrase(focus)} in {focus.app}."
    if switched and not focus.title:
        return f"The user switches to {focus.app}."
    if switched:
        return f"The user switches to {focus.app}, on the window '{focus.title}'."
    return f"The user moves to the window '{focus.title}' in {focus.app}."


def away_periods(events: Sequence[RawEvent], minimum: float = MIN_AWAY) -> list[tuple[float, float]]:
    """(start, end) of each finished AFK period of at least `minimum` seconds.

    A period still running (no "not-afk" after it) is not told yet: its length is unknown.
    """
    afk = sorted((e for e in events if e.bucket_type == "afkstatus"), key=lambda e: e.timestamp)
    periods: list[tuple[float, float]] = []
    current: tuple[float, float] | None = None
    for event in afk:
        if event.data.get("status") == "afk":
            current = (current[0], max(current[1], event.end)) if current else (event.timestamp, event.end)
        elif current is not None and event.data.get("status") == "not-afk":
            if current[1] - current[0] >= minimum:
                periods.append(current)
            current = None
    return periods


def make_events(raw: Iterable[RawEvent], config: SenseConfig | None = None) -> list[Event]:
    """ActivityWatch events -> redacted sentences, one per meaningful change, at their real times."""
    config = config or SenseConfig()
    kept: list[RawEvent] = []
    hidden: list[RawEvent] = []
    for event in raw:
        if _kept(event, config):
            kept.append(event)
        elif event.bucket_type == "web.tab.current":
            hidden.append(event)
    kept = merge_heartbeats(kept)
    moments: list[tuple[float, int, str]] = []
    previous: Focus | None = None
    for focus in merge_focus(focus_timeline(kept, hidden)):
        moments.append((focus.start, 1, sentence(focus, previous)))
        previous = focus
    for start, end in away_periods(kept):
        moments.append((start, 0, f"The user is away for {_span(end - start)}."))
        moments.append((end, 0, "The user comes back to the computer."))
    moments.sort(key=lambda moment: (moment[0], moment[1]))
    return [Event(time=_time(time), text=redact(text), source="activitywatch") for time, _, text in moments]


def _raw_from(kind: str, item: RawEvent | Mapping[str, Any]) -> RawEvent:
    """A RawEvent from ActivityWatch's JSON shape (timestamp: datetime, ISO text or unix seconds)."""
    if isinstance(item, RawEvent):
        return item
    stamp = item.get("timestamp")
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if isinstance(stamp, datetime):
        stamp = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    duration = item.get("duration") or 0.0
    if isinstance(duration, timedelta):
        duration = duration.total_seconds()
    return RawEvent(bucket_type=kind, bucket_id=str(item.get("bucket_id") or kind), timestamp=float(stamp or 0.0),
                    duration=float(duration), data=dict(item.get("data") or {}))  # fmt: skip


def events_from_buckets(
    buckets: Mapping[str, Iterable[RawEvent | Mapping[str, Any]]], config: SenseConfig | None = None
) -> list[Event]:
    """`make_events` for events grouped by bucket type, as RawEvents or ActivityWatch JSON objects."""
    return make_events((_raw_from(kind, item) for kind, items in buckets.items() for item in items), config)
