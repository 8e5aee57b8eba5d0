"""`proactive sense` against a real aw-server on 127.0.0.1, fed with aw-client heartbeats.

The session: coding in VS Code, a secret pasted into a terminal title, mail with an
address in the title, the password manager (excluded), a Google search for an error, a
CI page with a token in its URL, a private Firefox window, 12 minutes away, then a Stack
Overflow answer. Assertions: the sentences, one event per state (heartbeats merged), the
heartbeats' real times, no trace of the excluded app or the private window, and no secret
anywhere in the output or in any file written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import awserver
from awserver import Feeder, free_port
from proactive.cli.main import app
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.sense.reader import read_events

# The aw-server fixtures live in tests/awserver.py (shared with tests/test_assist_live.py).
aw_server, aw_home, feeder = awserver.aw_server, awserver.aw_home, awserver.feeder

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

GITHUB_TOKEN = "ghp_" + "Zq8LmN3pRt7VwX2yB5cD9fGh1JkL4mNo6PqR"
URL_TOKEN = "s3cr3tT0kenValue9876"
EMAIL = "alice.smith@example.com"
SECRETS = (GITHUB_TOKEN, URL_TOKEN, EMAIL)
EXCLUDED = ("KeePassXC", "Passwords.kdbx")
PRIVATE = ("Hidden Holiday Plans", "private-plans.example.org")

CODE_TITLE = "CheckName.rb - myproject - Visual Studio Code"
QUERY = "undefined method capitalize for nil"
SO_TITLE = "ruby - undefined method `capitalize' for nil:NilClass - Stack Overflow"


def _window(feeder: Feeder, start: float, stop: float, app_name: str, title: str) -> int:
    return feeder.beats("currentwindow", "aw-watcher-window_testhost", start, stop, {"app": app_name, "title": title})


def _tab(feeder: Feeder, start: float, stop: float, url: str, title: str, incognito: bool = False) -> int:
    data = {"url": url, "title": title, "audible": False, "incognito": incognito, "tabCount": 3}
    return feeder.beats("web.tab.current", "aw-watcher-web-firefox_testhost", start, stop, data)


def simulate_session(feeder: Feeder, base: float) -> dict[str, float]:
    """The whole session; returns the real time each state began (seconds)."""
    code = {"file": "/home/dev/myproject/CheckName.rb", "project": "/home/dev/myproject", "language": "ruby"}
    counts = {
        "code": _window(feeder, base, base + 60, "Code", CODE_TITLE),
        "editor": feeder.beats("app.editor.activity", "aw-watcher-vscode_testhost", base, base + 60, code),
    }
    _window(feeder, base + 65, base + 75, "Gnome-terminal", f"git push https://{GITHUB_TOKEN}@github.com/dev/myproject")
    _window(feeder, base + 80, base + 90, "Thunderbird", f"Inbox - {EMAIL} - Mozilla Thunderbird")
    _window(feeder, base + 95, base + 105, "KeePassXC", "Passwords.kdbx - KeePassXC")
    _window(feeder, base + 110, base + 140, "Firefox", f"{QUERY} - Google Search — Mozilla Firefox")
    _tab(feeder, base + 110, base + 140, f"https://www.google.com/search?q={QUERY.replace(' ', '+')}&client=firefox",
         f"{QUERY} - Google Search")  # fmt: skip
    _window(feeder, base + 145, base + 175, "Firefox", "Build 42 passed — Mozilla Firefox")
    _tab(feeder, base + 145, base + 175, f"https://example-ci.dev/build/42?token={URL_TOKEN}", "Build 42 passed")
    _window(feeder, base + 180, base + 200, "Firefox", "Hidden Holiday Plans — Mozilla Firefox Private Browsing")
    _tab(feeder, base + 180, base + 200, "https://private-plans.example.org/holiday", "Hidden Holiday Plans", True)
    afk = "aw-watcher-afk_testhost"
    feeder.beats("afkstatus", afk, base, base + 200, {"status": "not-afk"})
    feeder.beats("afkstatus", afk, base + 205, base + 925, {"status": "afk"}, every=720, pulsetime=800)
    feeder.beats("afkstatus", afk, base + 925, base + 1000, {"status": "not-afk"})
    _window(feeder, base + 930, base + 990, "Firefox", f"{SO_TITLE} — Mozilla Firefox")
    _tab(feeder, base + 930, base + 990, "https://stackoverflow.com/questions/123/undefined-method-capitalize",
         SO_TITLE)  # fmt: skip
    assert counts["code"] == 13 and counts["editor"] == 13
    return {"code": base, "search": base + 110, "ci": base + 145, "away": base + 205, "back": base + 925,
            "so": base + 930}  # fmt: skip


EXPECTED = [
    ("code", "The user switches to Visual Studio Code, editing 'CheckName.rb' (Ruby) in project 'myproject'."),
    ("search", f"The user searches Google for '{QUERY}'."),
    ("ci", "The user opens 'Build 42 passed' at example-ci.dev."),
    ("away", "The user is away for 12 minutes."),
    ("back", "The user comes back to the computer."),
    ("so", f"The user opens '{SO_TITLE}' at stackoverflow.com."),
]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "sense.toml"
    path.write_text('[exclude]\napps = ["KeePassXC"]\n', encoding="utf-8")
    return path


def _all_files_text(*roots: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for root in roots for path in root.rglob("*") if path.is_file()
    )


def test_session_sentences_merge_times_privacy(
    feeder: Feeder, aw_server: str, aw_home: Path, state_home: Path, tmp_path: Path
) -> None:
    base = round(time.time() - 40 * 60, 3)
    starts = simulate_session(feeder, base)
    window_bucket = next(b for b, kind in feeder.buckets.items() if kind == "currentwindow")
    # aw-server merged the 13 VS Code heartbeats into one event; the sentences say it once.
    code_events = [e for e in feeder.client.get_events(window_bucket) if e.data.get("app") == "Code"]
    assert len(code_events) == 1

    result = CliRunner().invoke(app, ["sense", "--aw-url", aw_server, "--since", "60", "--json",
                                      "--config", str(_config(tmp_path)), "--record", "session.json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    output = result.stdout
    events = json.loads(output)
    texts = [event["text"] for event in events]
    print("\n".join(f"{float(e['time']) - base:7.3f}  {e['text']}" for e in events))
    assert {event["source"] for event in events} == {"activitywatch"}
    for name, sentence in EXPECTED:
        assert sentence in texts, (sentence, texts)
        assert texts.count(sentence) == 1
        time_text = next(e["time"] for e in events if e["text"] == sentence)
        assert abs(float(time_text) - starts[name]) < 0.002, (name, time_text, starts[name])
    times = [float(event["time"]) for event in events]
    assert times == sorted(times)
    # The terminal and mail windows are told, with their secrets redacted.
    terminal = next(t for t in texts if "Gnome-terminal" in t)
    mail = next(t for t in texts if "Thunderbird" in t)
    assert "[REDACTED:" in terminal and "[REDACTED:" in mail
    assert len(events) == len(EXPECTED) + 2, texts
    for hidden in (*EXCLUDED, *PRIVATE, *SECRETS):
        assert hidden not in output
    record = state_home / "traces" / "session.json"
    assert record.stat().st_mode & 0o777 == 0o600
    trace = load_trace_file(record)
    assert [event.text for event in trace.events] == texts
    assert [event.time for event in trace.events] == [event["time"] for event in events]
    written = _all_files_text(state_home, aw_home)
    for secret in SECRETS:
        assert secret not in written
    # aw-client's lock file and queue database of the reader are removed again.
    assert not list((aw_home / "xdg_data_home").rglob("proactive-sense-*"))
    assert not list((aw_home / "xdg_cache_home").rglob("proactive-sense-*"))


def test_heartbeats_merge_per_file_and_page(feeder: Feeder, aw_server: str, aw_home: Path) -> None:
    """Many heartbeats -> one event per change; a new file in the same editor says 'opens'."""
    base = round(time.time() - 10 * 60, 3)
    first = {"file": "/p/app/main.py", "project": "/p/app", "language": "python"}
    second = {"file": "/p/app/util.py", "project": "/p/app", "language": "python"}
    _window(feeder, base, base + 30, "Code", "main.py - app - Visual Studio Code")
    feeder.beats("app.editor.activity", "aw-watcher-vscode_testhost", base, base + 30, first, every=1)
    _window(feeder, base + 31, base + 50, "Code", "util.py - app - Visual Studio Code")
    feeder.beats("app.editor.activity", "aw-watcher-vscode_testhost", base + 31, base + 50, second, every=1)
    from proactive.sense.events import make_events

    raw = read_events(aw_server, 15)
    texts = [event.text for event in make_events(raw)]
    assert texts == [
        "The user switches to Visual Studio Code, editing 'main.py' (Python) in project 'app'.",
        "The user opens 'util.py' (Python) in project 'app' in Visual Studio Code.",
    ]


def test_down_server_and_empty_server_say_how_to_start(aw_server: str, aw_home: Path) -> None:
    with pytest.raises(UserError, match=r"no ActivityWatch server at .*start aw-server"):
        read_events(f"http://127.0.0.1:{free_port()}", 5)
    with pytest.raises(UserError, match="has no window, AFK, web or editor buckets"):
        read_events(aw_server, 5)
    result = CliRunner().invoke(app, ["sense", "--aw-url", f"http://127.0.0.1:{free_port()}"])
    assert isinstance(result.exception, UserError)


@pytest.mark.timeout(60)
def test_follow_prints_new_events_and_stops_on_ctrl_c(feeder: Feeder, aw_server: str, aw_home: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    base = round(time.time() - 5 * 60, 3)
    _window(feeder, base, base + 20, "Code", CODE_TITLE)
    env = {**os.environ, "PROACTIVE_HOME": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    command = [str(BIN / "proactive"), "sense", "--aw-url", aw_server, "--since", "10", "--json", "--follow",
               "--interval", "0.3"]  # fmt: skip
    # Ctrl-C as from a terminal: a shell starts background jobs (`pytest ... &`) with SIGINT
    # ignored, Python then installs no KeyboardInterrupt handler, and the child would inherit that.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["text"].startswith("The user switches to Visual Studio Code")
        _window(feeder, base + 25, base + 40, "Slack", "general - Acme")
        second = json.loads(process.stdout.readline())
        assert second["text"] == "The user switches to Slack, on the window 'general - Acme'."
        assert abs(float(second["time"]) - (base + 25)) < 0.002
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert out.strip() == ""  # nothing printed twice after the two new events


# ---------------------------------------------------------------- rewrite (real models, real failures)


def _short_session(feeder: Feeder) -> float:
    base = round(time.time() - 8 * 60, 3)
    _window(feeder, base, base + 20, "Code", CODE_TITLE)
    _window(feeder, base + 25, base + 40, "Gnome-terminal", f"export GH={GITHUB_TOKEN}")
    _window(feeder, base + 45, base + 60, "Firefox", f"{QUERY} - Google Search — Mozilla Firefox")
    _tab(feeder, base + 45, base + 60, f"https://www.google.com/search?q={QUERY.replace(' ', '+')}", "x")
    return base


@pytest.mark.llm
@pytest.mark.slow
def test_rewrite_with_a_real_local_model_keeps_names_and_hides_secrets(
    feeder: Feeder, aw_server: str, aw_home: Path, state_home: Path
) -> None:
    from proactive.models import store

    store.pull("smollm2-135m")
    _short_session(feeder)
    plain = CliRunner().invoke(app, ["sense", "--aw-url", aw_server, "--since", "15", "--json"])
    assert plain.exit_code == 0, plain.output
    started = time.perf_counter()
    smooth = CliRunner().invoke(app, ["sense", "--aw-url", aw_server, "--since", "15", "--json",
                                      "--rewrite", "local/smollm2-135m", "--local-only"])  # fmt: skip
    elapsed = time.perf_counter() - started
    assert smooth.exit_code == 0, smooth.output
    before, after = json.loads(plain.stdout), json.loads(smooth.stdout)
    print(f"rewrite of {len(after)} sentences: {elapsed:.1f} s")
    print("\n".join(f"{a['text']}\n  -> {b['text']}" for a, b in zip(before, after, strict=True)))
    assert [e["time"] for e in after] == [e["time"] for e in before]
    for old, new in zip(before, after, strict=True):
        assert new["text"].strip() and new["text"][-1] in ".!?"
        quoted = [part for index, part in enumerate(old["text"].split("'")) if index % 2 == 1 and part]
        # Either the fallback (unchanged) or a sentence that kept a quoted name of the original.
        assert new["text"] == old["text"] or not quoted or any(part in new["text"] for part in quoted)
    for secret in SECRETS:
        assert secret not in smooth.stdout
        assert secret not in _all_files_text(state_home, aw_home)


def test_rewrite_failure_keeps_the_deterministic_sentence(feeder: Feeder, aw_server: str, aw_home: Path) -> None:
    """A loopback OpenAI-compatible server that is down: allowed by --local-only, every call fails."""
    from proactive.sense.events import make_events
    from proactive.sense.rewrite import prepare, rewrite_events

    _short_session(feeder)
    events = make_events(read_events(aw_server, 15))
    model = prepare("openai/test-model", True, base_url=f"http://127.0.0.1:{free_port()}/v1", retries=0)
    assert rewrite_events(model, events) == events


def test_local_only_refuses_a_remote_model_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    down = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["sense", "--aw-url", down, "--rewrite", "openai/gpt-4o-mini", "--local-only"])
    assert isinstance(result.exception, UserError)
    assert "--local-only refuses" in str(result.exception)
    config = tmp_path / "sense.toml"
    config.write_text("[sense]\nlocal_only = true\n", encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    result = CliRunner().invoke(app, ["sense", "--aw-url", down, "--rewrite", "openai/m", "--config", str(config)])
    assert isinstance(result.exception, UserError)
    assert "remote base URL https://api.example.com/v1" in str(result.exception)


def test_raw_heartbeats_one_a_second_give_one_sentence_per_change() -> None:
    """Unmerged heartbeats (one a second, as the watchers poll) flap at no window edge."""
    from proactive.sense.events import events_from_buckets

    base = 1717399800.0
    pages = [("https://docs.python.org/3/library/re.html", "re — Regular expressions"),
             ("https://duckduckgo.com/?q=python+lookbehind&ia=web", "python lookbehind at DuckDuckGo"),
             ("https://github.com/org/repo/pull/7", "Fix parser by dev · Pull Request #7")]  # fmt: skip
    windows, tabs = [], []
    for index, (url, title) in enumerate(pages):
        for tick in range(30):
            at = datetime.fromtimestamp(base + index * 30 + tick, UTC)
            windows.append(
                {"timestamp": at, "duration": 1.0, "data": {"app": "firefox", "title": f"{title} — Mozilla Firefox"}}
            )
            tabs.append({"timestamp": at.isoformat(), "duration": 1.0, "data": {"url": url, "title": title}})
    events = events_from_buckets({"currentwindow": windows, "web.tab.current": tabs})
    assert [(e.time, e.text) for e in events] == [
        ("1717399800.0", "The user opens 're — Regular expressions' at docs.python.org."),
        ("1717399830.0", "The user searches DuckDuckGo for 'python lookbehind'."),
        ("1717399860.0", "The user opens 'Fix parser by dev · Pull Request #7' at github.com."),
    ]
