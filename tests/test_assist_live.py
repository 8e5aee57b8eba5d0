"""The live assistant end to end, every part real: aw-server -> AssistLoop -> dunst -> Consent -> tool.

A real aw-server on 127.0.0.1 (tests/awserver.py) is fed heartbeats with aw-client, as the
watchers would send them; the loop polls it with `activitywatch_moments` (the poller
`proactive assist` runs), asks the `always` agent (it proposes at every event, so no model
is needed to propose), spends the attention budget, logs to a real AssistStore (SQLite in a
tmp dir), and shows each proposal with the real DesktopPresenter on Xvfb + a private D-Bus +
dunst (tests/desktop.py). The person answers through dunst's action menu (Accept / Dismiss
buttons; clicks do not accept by default) or not at all. Accept runs the planned tool: the
always agent's generic task plans `ask_to_clipboard`, which asks the real smollm2-135m and
puts the answer on the Xvfb clipboard, read back with `xclip -o`.

The loop runs for a bounded number of moments (new events): `take` stops the poller after
`count` of them, so each test is a few seconds of real polling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest

import awserver
import desktop as desktop_fixtures
from awserver import Feeder
from desktop import Desktop
from proactive.agent.baselines import AlwaysAgent
from proactive.assist.attention import Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import AssistLoop, Moment, StepResult, activitywatch_moments
from proactive.assist.notify import Answer, ClipboardCommand, DesktopPresenter
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox, ToolCall
from proactive.gate.threshold import UserThreshold

# Fixtures shared with tests/test_sense_aw.py and tests/test_assist_desktop.py.
aw_server, aw_home, feeder = awserver.aw_server, awserver.aw_home, awserver.feeder
desktop_session, desktop = desktop_fixtures.desktop_session, desktop_fixtures.desktop

MODEL = "local/smollm2-135m"
POLL_S = 0.5
#: Upper bound for one scenario (polling, dunst, and on Accept the model's answer).
SCENARIO_S = 120.0

WINDOW = ("currentwindow", "aw-watcher-window_testhost")
TAB = ("web.tab.current", "aw-watcher-web-firefox_testhost")
EDITOR = ("app.editor.activity", "aw-watcher-vscode_testhost")
AFK = ("afkstatus", "aw-watcher-afk_testhost")
QUERY = "python list comprehension with condition"

Person = Callable[[AssistLoop, Callable[..., Awaitable[None]]], Awaitable[None]]


# --------------------------------------------------------------------------- the person's activity


def _beats(feeder: Feeder, bucket: tuple[str, str], data: Mapping[str, object]) -> None:
    """Two heartbeats a second apart from now: one state, merged by the server."""
    now = time.time()
    feeder.beats(bucket[0], bucket[1], now, now + 1, data, every=1.0)


def in_editor(feeder: Feeder) -> None:
    code = {"file": "/home/dev/shop/cart.py", "project": "/home/dev/shop", "language": "python"}
    _beats(feeder, EDITOR, code)
    _beats(feeder, WINDOW, {"app": "Code", "title": "cart.py - shop - Visual Studio Code"})


def web_search(feeder: Feeder) -> None:
    url = "https://www.google.com/search?q=" + QUERY.replace(" ", "+")
    _beats(feeder, TAB, {"url": url, "title": f"{QUERY} - Google Search", "audible": False, "incognito": False,
                         "tabCount": 2})  # fmt: skip
    _beats(feeder, WINDOW, {"app": "Firefox", "title": f"{QUERY} - Google Search — Mozilla Firefox"})


def in_terminal(feeder: Feeder) -> None:
    _beats(feeder, WINDOW, {"app": "Gnome-terminal", "title": "pytest tests/test_cart.py - dev@laptop"})


def afk(feeder: Feeder, status: str) -> None:
    _beats(feeder, AFK, {"status": status})


# --------------------------------------------------------------------------- the live loop


async def take(moments: AsyncIterator[Moment], count: int) -> AsyncIterator[Moment]:
    """The first `count` moments of the (endless) poller, which is then closed."""
    try:
        taken = 0
        async for moment in moments:
            yield moment
            taken += 1
            if taken >= count:
                return
    finally:
        await moments.aclose()  # type: ignore[attr-defined]


class TappedPresenter(DesktopPresenter):
    """The real DesktopPresenter; remembers each offer's token so a test can act on an older one."""

    def __init__(self, **kwargs: float | bool) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.tokens: list[str] = []

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str = "") -> Answer:
        self.tokens.append(token)
        return await super().show(proposal_id, task, reason, token, action)


def make_loop(tmp_path: Path, presenter: DesktopPresenter, attention: Attention | None = None) -> AssistLoop:
    box = ToolBox(tmp_path / "drafts", model=MODEL, clipboard_cmd=["xclip", "-selection", "clipboard"], max_tokens=32)
    return AssistLoop(AlwaysAgent(), AssistStore(tmp_path / "assist.sqlite3"), Consent(), box, presenter,
                      attention=attention, threshold=UserThreshold(base=0.5))  # fmt: skip


def live(loop: AssistLoop, url: str, feeder: Feeder, count: int, person: Person) -> list[StepResult]:
    """Run the live loop on aw-server for `count` moments while `person` feeds activity and answers."""

    async def feed(*states: Callable[[Feeder], None]) -> None:
        for state in states:
            await asyncio.to_thread(state, feeder)

    # The watchers run before the assistant starts: their buckets exist (an empty server is a UserError).
    for kind, name in (WINDOW, TAB, EDITOR, AFK):
        feeder.bucket(kind, name)

    async def scenario() -> list[StepResult]:
        running = asyncio.create_task(loop.run(take(activitywatch_moments(url, POLL_S), count)))
        # The poller notes its start time on its first poll; only events after it are new.
        await asyncio.sleep(0.3)
        try:
            # gather: a failure in the loop surfaces at once instead of as the person's timeout.
            _, steps = await asyncio.gather(person(loop, feed), running)
            return steps
        finally:
            running.cancel()

    return asyncio.run(asyncio.wait_for(scenario(), SCENARIO_S))


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def on_screen(desk: Desktop) -> None:
    await until(lambda: desk.displayed() == 1, "the notification in dunst")


def history_count(desk: Desktop) -> int:
    return len(json.loads(desk.dunstctl("history"))["data"][0])


def sentinel(desk: Desktop) -> str:
    """Known clipboard content before the loop runs, so a stale clipboard cannot pass."""
    text = f"clipboard before the loop {time.time_ns()}"
    ClipboardCommand().write(text)  # xclip keeps serving the selection: no pipes held
    assert desk.clipboard() == text
    return text


# --------------------------------------------------------------------------- tests


@pytest.mark.llm
@pytest.mark.slow
def test_accept_in_dunst_runs_the_tool_and_puts_the_answer_on_the_clipboard(
    desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path, state_home: Path
) -> None:
    from proactive.models import store

    store.pull("smollm2-135m")
    before = sentinel(desktop)
    loop = make_loop(tmp_path, DesktopPresenter(timeout_s=60))

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(in_editor)
        await on_screen(desktop)
        await asyncio.to_thread(desktop.choose_in_menu, "Accept")

    [step] = live(loop, aw_server, feeder, 1, person)
    assert step.shown and step.answer == "accepted" and step.tool == "ask_to_clipboard"
    assert step.tool_ok, step.tool_detail
    clipboard = desktop.clipboard()
    assert clipboard != before and clipboard.strip() == step.tool_detail.strip() != ""
    [stored] = loop.store.proposals()
    assert stored.id == step.proposal_id and stored.answer == "accepted"
    assert "Visual Studio Code" in stored.history[-1].text
    [run] = loop.store.tool_runs(step.proposal_id)
    assert run.tool == "ask_to_clipboard" and run.ok
    assert loop.threshold.effective < step.threshold  # accepted lowers it
    desktop.wait_displayed(0)


def test_dismiss_runs_nothing_and_the_same_offer_is_not_repeated(
    desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path
) -> None:
    before = sentinel(desktop)
    shown_before = history_count(desktop)
    loop = make_loop(tmp_path, DesktopPresenter(timeout_s=60))

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(in_editor)
        await on_screen(desktop)
        await asyncio.to_thread(desktop.choose_in_menu, "Dismiss")
        await until(lambda: len(loop.steps) >= 1 and loop.steps[0].answer is not None, "the dismissal")
        await feed(web_search)

    first, second = live(loop, aw_server, feeder, 2, person)
    assert first.shown and first.answer == "dismissed"
    assert not second.shown and second.blocked.startswith("dismissed less than")
    assert desktop.clipboard() == before
    assert loop.store.tool_runs() == []
    assert [p.answer for p in loop.store.proposals()] == ["dismissed"]
    assert loop.threshold.effective > first.threshold  # dismissed raises it
    assert history_count(desktop) == shown_before + 1


def test_an_accept_for_a_stale_offer_runs_nothing(
    desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path
) -> None:
    before = sentinel(desktop)
    presenter = TappedPresenter(timeout_s=60)
    loop = make_loop(tmp_path, presenter)
    newer: list[str] = []

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(in_editor)
        await on_screen(desktop)
        # A newer offer (as from a second proposal) while the first is still on screen: its token is stale.
        newer.append(loop.consent.offer(10_000, ToolCall(tool="ask_to_clipboard", argument="Say hello")))
        await asyncio.to_thread(desktop.choose_in_menu, "Accept")

    [step] = live(loop, aw_server, feeder, 1, person)
    [token] = presenter.tokens
    assert step.answer == "accepted" and step.tool_ok is False
    assert "nothing ran" in step.tool_detail
    assert loop.consent.state(token) == "stale" and loop.consent.state(newer[0]) == "open"
    [run] = loop.store.tool_runs(step.proposal_id)
    assert not run.ok
    assert desktop.clipboard() == before
    # Accepting the stale token again, directly, still runs nothing.
    assert asyncio.run(loop.consent.accept(token, loop.toolbox)) is None
    assert desktop.clipboard() == before


def test_ignored_offers_raise_the_threshold(desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path) -> None:
    shown_before = history_count(desktop)
    loop = make_loop(tmp_path, DesktopPresenter(timeout_s=1.5))

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(in_editor)
        await until(lambda: len(loop.steps) >= 1 and loop.steps[0].answer is not None, "the first timeout")
        await feed(in_terminal)

    first, second = live(loop, aw_server, feeder, 2, person)
    assert (first.answer, second.answer) == ("ignored", "ignored")
    assert first.threshold < second.threshold < loop.threshold.effective
    assert [p.answer for p in loop.store.proposals()] == ["ignored", "ignored"]
    assert loop.store.tool_runs() == []
    assert history_count(desktop) == shown_before + 2
    assert desktop.displayed() == 0  # withdrawn after the timeout


def test_the_hourly_cap_holds(desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path) -> None:
    shown_before = history_count(desktop)
    loop = make_loop(tmp_path, DesktopPresenter(timeout_s=1.5), attention=Attention(max_per_hour=1))

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(in_editor)
        await until(lambda: len(loop.steps) >= 1 and loop.steps[0].answer is not None, "the first offer")
        await feed(web_search)

    first, second = live(loop, aw_server, feeder, 2, person)
    assert first.shown and first.answer == "ignored"  # ignored: no repeat filter in play, only the cap
    assert not second.shown and second.blocked.startswith("hourly cap reached (1/1")
    assert len(loop.store.proposals()) == 1
    assert history_count(desktop) == shown_before + 1


def test_nothing_is_shown_while_afk(desktop: Desktop, aw_server: str, feeder: Feeder, tmp_path: Path) -> None:
    shown_before = history_count(desktop)
    loop = make_loop(tmp_path, DesktopPresenter(timeout_s=60))
    while_away: list[int] = []

    async def person(loop: AssistLoop, feed: Callable[..., Awaitable[None]]) -> None:
        await feed(lambda f: afk(f, "afk"), in_editor)
        await until(lambda: len(loop.steps) >= 1, "the event while away")
        while_away.append(history_count(desktop))
        # Back at the keyboard: the next event is shown (so the silence above was the AFK rule).
        await feed(lambda f: afk(f, "not-afk"), web_search)
        await on_screen(desktop)
        await asyncio.to_thread(desktop.dunstctl, "close")

    away, back = live(loop, aw_server, feeder, 2, person)
    assert not away.shown and "AFK" in away.blocked
    assert while_away == [shown_before]
    assert back.shown and back.answer == "dismissed"
    assert "searches Google" in loop.history[-1].text
    assert [p.answer for p in loop.store.proposals()] == ["dismissed"]
    assert history_count(desktop) == shown_before + 1


def test_the_poller_outlives_a_server_restart(
    tmp_path: Path, aw_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A server that restarts (or watchers that come back later) must not end the assistant:
    # the poller says so once and keeps polling, then yields the first event after the restart.
    port = awserver.free_port()
    url = f"http://127.0.0.1:{port}"
    server = awserver.start_aw_server(tmp_path / "first", port)
    Feeder(url).beats("currentwindow", "aw-watcher-window", time.time() - 5, time.time(),
                      {"app": "Code", "title": "old.py - proj - Visual Studio Code"})  # fmt: skip

    async def scenario() -> Moment:
        moments = activitywatch_moments(url, 0.2)
        first = asyncio.ensure_future(moments.__anext__())
        await asyncio.sleep(3.0)  # the first poll succeeded (nothing new since the start; generous for a busy CI)
        await asyncio.to_thread(awserver.stop_aw_server, server)
        await asyncio.sleep(1.0)  # polls fail now
        restarted = await asyncio.to_thread(awserver.start_aw_server, tmp_path / "second", port)
        try:
            now = time.time()
            await asyncio.to_thread(
                Feeder(url).beats, "currentwindow", "aw-watcher-window", now, now + 2,
                {"app": "Code", "title": "new.py - proj - Visual Studio Code"}, 1.0,
            )  # fmt: skip
            return await asyncio.wait_for(first, 30)
        finally:
            await moments.aclose()  # type: ignore[attr-defined]
            await asyncio.to_thread(awserver.stop_aw_server, restarted)

    moment = asyncio.run(scenario())
    assert "new.py" in moment.event.text and "old.py" not in moment.event.text
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "retrying" in warnings[0]
