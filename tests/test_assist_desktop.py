"""DesktopPresenter against a real desktop: Xvfb + a D-Bus session bus + dunst (tests/desktop.py).

The person is played through dunst's own controls: `dunstctl action 0` (the default action, a
click on the notification), `dunstctl context` (the action menu holding Accept / Dismiss) and
`dunstctl close`. Nothing is mocked: desktop-notifier talks D-Bus to dunst.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop import Desktop, desktop, desktop_session, start_bus, stop  # noqa: F401  (fixtures)
from proactive.assist.notify import Answer, ClipboardCommand, DesktopPresenter, notification_text
from proactive.errors import UserError

TASK = "Draft a reply to Anna's email about the Q3 budget & timeline"
REASON = "The email has been open for 4 minutes\nand you started typing twice"


def _answer_with(desk: Desktop, presenter: DesktopPresenter, act: Callable[[], object] | None,
                 proposal_id: int = 1, task: str = TASK) -> tuple[Answer, dict[str, object]]:  # fmt: skip
    """Show one proposal, let `act` answer it in dunst once it is on screen; the answer and what dunst showed."""
    seen: dict[str, object] = {}

    async def scenario() -> Answer:
        shown = asyncio.create_task(presenter.show(proposal_id, task, REASON, token="tok-" + str(proposal_id)))
        deadline = time.monotonic() + 15
        while desk.displayed() != 1:
            assert not shown.done(), f"show() returned {shown.result()} before the notification appeared"
            assert time.monotonic() < deadline, "the notification never appeared in dunst"
            await asyncio.sleep(0.05)
        seen["displayed_at"] = time.monotonic()
        if act is not None:
            await asyncio.to_thread(act)
        return await shown

    answer = asyncio.run(scenario())
    desk.wait_displayed(0, timeout=5)  # every answer withdraws the notification
    return answer, seen


def test_default_action_accepts_and_the_notification_leaves(desktop: Desktop) -> None:  # noqa: F811
    # Opted in: a click on the body (dunst's default action) accepts.
    presenter = DesktopPresenter(timeout_s=60, click_accepts=True)
    answer, _ = _answer_with(desktop, presenter, lambda: desktop.dunstctl("action", "0"))
    assert answer == "accepted"


def test_accept_button_in_the_action_menu_accepts(desktop: Desktop) -> None:  # noqa: F811
    # click_accepts=False: only the Accept button gives consent, so this proves the button itself works.
    presenter = DesktopPresenter(timeout_s=60, click_accepts=False)
    answer, _ = _answer_with(desktop, presenter, lambda: desktop.choose_in_menu("Accept"))
    assert answer == "accepted"


def test_dismiss_button_in_the_action_menu_dismisses(desktop: Desktop) -> None:  # noqa: F811
    answer, _ = _answer_with(desktop, DesktopPresenter(timeout_s=60), lambda: desktop.choose_in_menu("Dismiss"))
    assert answer == "dismissed"


def test_closing_the_notification_dismisses(desktop: Desktop) -> None:  # noqa: F811
    answer, _ = _answer_with(desktop, DesktopPresenter(timeout_s=60), lambda: desktop.dunstctl("close"))
    assert answer == "dismissed"


def test_no_answer_within_the_timeout_is_ignored_and_withdrawn(desktop: Desktop) -> None:  # noqa: F811
    started = time.monotonic()
    answer, seen = _answer_with(desktop, DesktopPresenter(timeout_s=1.5), None)
    assert answer == "ignored"
    waited = time.monotonic() - float(seen["displayed_at"])  # type: ignore[arg-type]
    assert time.monotonic() - started > 1.0 and waited < 10
    # Withdrawn: a late click can no longer answer it (_answer_with waited for 0 displayed).
    assert desktop.displayed() == 0


def test_click_does_not_accept_when_only_the_button_may(desktop: Desktop) -> None:  # noqa: F811
    presenter = DesktopPresenter(timeout_s=2, click_accepts=False)
    answer, _ = _answer_with(desktop, presenter, lambda: desktop.dunstctl("action", "0"))
    assert answer == "ignored"


def test_the_notification_shows_task_and_one_line_reason(desktop: Desktop) -> None:  # noqa: F811
    task = f"Summarise the <release notes> & changelog {time.time_ns()}"
    _, _ = _answer_with(desktop, DesktopPresenter(timeout_s=60), lambda: desktop.dunstctl("close"), task=task)
    # dunst keeps closed notifications in its history: the newest entry is ours, as it was shown.
    newest = json.loads(desktop.dunstctl("history"))["data"][0][0]
    assert newest["summary"]["data"] == "Can I help?"
    assert newest["appname"]["data"] == "proactive"
    body = newest["body"]["data"]
    assert body.startswith(html.escape(task, quote=False) + "\n")
    assert body.endswith("Why: The email has been open for 4 minutes and you started typing twice")
    assert notification_text(TASK, REASON).count("\n") == 1


def test_answers_for_two_proposals_in_a_row_stay_apart(desktop: Desktop) -> None:  # noqa: F811
    presenter = DesktopPresenter(timeout_s=60)
    first, _ = _answer_with(desktop, presenter, lambda: desktop.dunstctl("close"), proposal_id=7)
    second, _ = _answer_with(desktop, presenter, lambda: desktop.choose_in_menu("Accept"), proposal_id=8)
    assert (first, second) == ("dismissed", "accepted")


def test_no_notification_server_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A session bus with nobody owning org.freedesktop.Notifications (and nothing to auto-start).
    bus, address = start_bus(tmp_path, dict(os.environ))
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        with pytest.raises(UserError, match="no desktop notification server") as error:
            asyncio.run(DesktopPresenter(timeout_s=5).show(1, TASK, REASON, "tok"))
        assert "\n" not in str(error.value)
    finally:
        stop(bus)


def test_xclip_round_trip_on_the_test_display(desktop: Desktop) -> None:  # noqa: F811
    text = f"proactive clipboard check {time.time_ns()} – ünïcode"
    clipboard = ClipboardCommand()
    clipboard.write(text)
    assert desktop.clipboard() == text
    assert clipboard.read() == text


@pytest.mark.llm
@pytest.mark.slow
def test_ask_to_clipboard_puts_the_model_answer_on_the_x_clipboard(
    desktop: Desktop,  # noqa: F811
    tmp_path: Path,
    state_home: Path,
) -> None:
    from proactive.assist.tools import ToolBox, ToolCall
    from proactive.models import store

    store.pull("smollm2-135m")
    ClipboardCommand().write("before")  # known old content, so a stale clipboard cannot pass
    box = ToolBox(tmp_path, model="local/smollm2-135m", clipboard_cmd=["xclip", "-selection", "clipboard"],
                  max_tokens=48)  # fmt: skip
    result = asyncio.run(box.run(ToolCall(tool="ask_to_clipboard", argument="Explain what a Python list is")))
    assert result.ok, result.detail
    assert result.detail.strip()
    assert desktop.clipboard().strip() == result.detail.strip()


SCREENSHOT_ENV = "PROACTIVE_SCREENSHOT"
URL_TASK = "Summarise https://wiki.example.org/runbook?key=s3cr3tKeyValue42 for the incident"


def test_the_loop_notification_names_its_tool_and_argument_and_accept_runs_it(
    desktop: Desktop,  # noqa: F811
    tmp_path: Path,
    state_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real loop through dunst: the body names the tool and its (redacted) argument, Accept opens just that.

    Set PROACTIVE_SCREENSHOT=path.png to keep the screenshot (docs/img/notification.png was made so).
    """
    from PIL import ImageGrab

    from proactive.agent.base import AgentStep
    from proactive.assist.attention import Attention
    from proactive.assist.consent import Consent
    from proactive.assist.loop import AssistLoop, Moment
    from proactive.assist.store import AssistStore
    from proactive.assist.tools import ToolBox
    from proactive.types import Event, Observation, Proposal

    class FixedAgent:
        name = "fixed"

        async def __call__(self, observation: Observation) -> AgentStep:
            return AgentStep(proposal=Proposal(task=URL_TASK))

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n', encoding="utf-8")
    browser.chmod(0o700)
    monkeypatch.setenv("BROWSER", str(browser))
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "notification.png")
    store = AssistStore(tmp_path / "assist.sqlite3")
    loop = AssistLoop(FixedAgent(), store, Consent(), ToolBox(tmp_path, None), DesktopPresenter(timeout_s=60),
                      attention=Attention(max_per_hour=10))  # fmt: skip

    def look_then_accept() -> None:
        time.sleep(0.5)  # dunst draws asynchronously
        ImageGrab.grab(xdisplay=desktop.display).crop((760, 0, 1280, 260)).save(shot)
        desktop.choose_in_menu("Accept")

    async def scenario() -> None:
        event = Event(time="1717399800.0", text="The user opens 'Runbook' at wiki.example.org.")
        step = asyncio.create_task(loop.step(Moment(event=event, now=1717399800.0)))
        deadline = time.monotonic() + 15
        while desktop.displayed() != 1:
            assert time.monotonic() < deadline and not step.done(), "the notification never appeared"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(look_then_accept)
        await step

    asyncio.run(scenario())
    store.close()
    body = json.loads(desktop.dunstctl("history"))["data"][0][0]["body"]["data"]
    shown_url = "https://wiki.example.org/runbook?key=[REDACTED:query_secret]"
    assert f"Accept will open {shown_url} in your browser" in html.unescape(body)
    assert "s3cr3tKeyValue42" not in body
    assert loop.steps[0].answer == "accepted" and loop.steps[0].tool_ok
    assert opened.read_text(encoding="utf-8").splitlines() == [shown_url]
    # The screenshot holds a drawn notification: many distinct colours where the screen is otherwise flat.
    from PIL import Image

    with Image.open(shot) as image:
        assert len(set(image.convert("RGB").getdata())) > 20
