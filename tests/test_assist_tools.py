"""Tools and consent of the live assistant, with real parts.

The browser is a real command: $BROWSER points at a script that appends its argument to
a file (the `webbrowser` module honours $BROWSER). The clipboard is a real subprocess
that writes its stdin to a file (xclip itself, under Xvfb, is checked in the desktop
tests). The model is the real embedded smollm2-135m with a small token cap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from proactive.assist.consent import Consent
from proactive.assist.tools import ToolBox, ToolCall, draft_target, plan_tool, slug
from proactive.errors import UserError
from proactive.models import store
from proactive.types import Proposal

SMALL = "local/smollm2-135m"
TOKENS = 24
DRAFT_TASK = "Write a short thank-you note to Sam for the code review"


def _opened(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _clipboard_cmd(target: Path) -> list[str]:
    """A real clipboard stand-in: a subprocess that copies its stdin into `target`."""
    return ["sh", "-c", 'cat > "$0"', str(target)]


@pytest.fixture(scope="module")
def small_model(module_state_home: Path) -> str:
    """The small model, pulled; the module's shared state dir lets repeated tasks hit the response cache."""
    store.pull("smollm2-135m")
    return SMALL


# ------------------------------------------------------------------ planning


@pytest.mark.parametrize(
    ("task", "tool", "argument"),
    [
        (
            "Open https://docs.python.org/3/library/asyncio.html.",
            "open_url",
            "https://docs.python.org/3/library/asyncio.html",
        ),
        ("Search for pandas merge on two keys", "web_search", "pandas merge on two keys"),
        ("Look up the SIGSEGV error in numpy", "web_search", "the SIGSEGV error in numpy"),
        ("Draft a reply to the landlord", "write_draft", "Draft a reply to the landlord"),
        ("Write release notes for v2", "write_draft", "Write release notes for v2"),
        ("Explain the KeyError in loader.py", "ask_to_clipboard", "Explain the KeyError in loader.py"),
        ("Rewrite nothing, summarise the log", "ask_to_clipboard", "Rewrite nothing, summarise the log"),
    ],
)
def test_plan_tool_picks_from_the_task_text(task: str, tool: str, argument: str) -> None:
    call = plan_tool(Proposal(task=task))
    assert (call.tool, call.argument) == (tool, argument)


def test_plan_tool_refuses_silence() -> None:
    with pytest.raises(UserError, match="silence"):
        plan_tool(Proposal(task=None))


def test_slug_is_safe_and_bounded() -> None:
    assert slug("Write ../../etc/passwd now!") == "write-etc-passwd-now"
    assert slug("???") == "draft"
    long = slug("word " * 40)
    assert len(long) <= 60 and long.startswith("word-word")


# ------------------------------------------------------------------ browser


def test_open_url_and_search_reach_the_browser(tmp_path: Path, browser_log: Path) -> None:
    box = ToolBox(tmp_path / "drafts", model=None)
    first = asyncio.run(box.run(ToolCall(tool="open_url", argument="https://example.org/a?b=1")))
    second = asyncio.run(box.run(ToolCall(tool="web_search", argument="pandas merge & join")))
    assert first.ok and second.ok, (first, second)
    opened = _opened(browser_log)
    assert opened[0] == "https://example.org/a?b=1"
    assert opened[1].startswith("https://") and "pandas+merge+%26+join" in opened[1]
    assert len(opened) == 2


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "javascript:alert(1)", "data:text/html,hi", "ftp://example.org/x", "https://", "http://a b"],
)
def test_open_url_refuses_non_http(tmp_path: Path, browser_log: Path, url: str) -> None:
    result = asyncio.run(ToolBox(tmp_path, model=None).run(ToolCall(tool="open_url", argument=url)))
    assert not result.ok and "http" in result.detail
    assert _opened(browser_log) == []


def test_an_explicit_browser_command_wins_over_browser_env(tmp_path: Path, browser_log: Path) -> None:
    other = tmp_path / "other.txt"
    script = tmp_path / "other.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{other}"\n', encoding="utf-8")
    script.chmod(0o700)
    result = asyncio.run(
        ToolBox(tmp_path, model=None, browser=str(script)).run(ToolCall(tool="open_url", argument="http://x.org/"))
    )
    assert result.ok
    assert other.read_text(encoding="utf-8").split() == ["http://x.org/"] and _opened(browser_log) == []


# ------------------------------------------------------------------ consent


def _offer_url(consent: Consent, proposal_id: int, url: str) -> str:
    return consent.offer(proposal_id, ToolCall(tool="open_url", argument=url))


def test_an_accepted_offer_runs_once(tmp_path: Path, browser_log: Path) -> None:
    consent, box = Consent(), ToolBox(tmp_path, model=None)
    token = _offer_url(consent, 1, "https://example.org/one")
    result = asyncio.run(consent.accept(token, box))
    assert result is not None and result.ok
    assert asyncio.run(consent.accept(token, box)) is None  # reused token: spent
    assert consent.dismiss(token) is False and consent.state(token) == "accepted"
    assert _opened(browser_log) == ["https://example.org/one"]


def test_racing_accepts_of_one_token_run_once(tmp_path: Path, browser_log: Path) -> None:
    consent, box = Consent(), ToolBox(tmp_path, model=None)
    token = _offer_url(consent, 1, "https://example.org/race")

    async def both() -> list[object]:
        return list(await asyncio.gather(consent.accept(token, box), consent.accept(token, box)))

    results = asyncio.run(both())
    assert sum(r is not None for r in results) == 1
    assert _opened(browser_log) == ["https://example.org/race"]


def test_an_accept_for_an_older_offer_runs_nothing(
    tmp_path: Path, browser_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    consent, box = Consent(), ToolBox(tmp_path, model=None)
    old = _offer_url(consent, 1, "https://example.org/old")
    new = _offer_url(consent, 2, "https://example.org/new")
    with caplog.at_level(logging.WARNING, logger="proactive.assist.consent"):
        assert asyncio.run(consent.accept(old, box)) is None
    assert "proposal 1" in caplog.text and "stale" in caplog.text
    assert _opened(browser_log) == []
    assert asyncio.run(consent.accept(new, box)) is not None  # the current one still works
    assert _opened(browser_log) == ["https://example.org/new"]


def test_dismissed_expired_unknown_and_late_tokens_run_nothing(tmp_path: Path, browser_log: Path) -> None:
    consent, box = Consent(), ToolBox(tmp_path, model=None)
    dismissed = _offer_url(consent, 1, "https://example.org/dismissed")
    assert consent.dismiss(dismissed) is True and consent.dismiss(dismissed) is False
    assert asyncio.run(consent.accept(dismissed, box)) is None
    ignored = _offer_url(consent, 2, "https://example.org/ignored")
    assert consent.expire(ignored) is True
    assert asyncio.run(consent.accept(ignored, box)) is None
    assert asyncio.run(consent.accept("not-a-token", box)) is None and consent.state("not-a-token") is None
    timed = Consent(ttl_s=0.05)
    late = _offer_url(timed, 3, "https://example.org/late")
    time.sleep(0.1)
    assert asyncio.run(timed.accept(late, box)) is None and timed.state(late) == "expired"
    assert _opened(browser_log) == []


def test_accept_runs_the_offered_call_not_another(tmp_path: Path, browser_log: Path) -> None:
    consent, box = Consent(), ToolBox(tmp_path, model=None)
    token = _offer_url(consent, 7, "javascript:alert(1)")  # the bound call is still fenced by the tool
    result = asyncio.run(consent.accept(token, box))
    assert result is not None and not result.ok
    assert _opened(browser_log) == []


# ------------------------------------------------------------------ draft paths (no model needed)


def test_draft_target_refuses_escapes(tmp_path: Path) -> None:
    folder = tmp_path / "drafts"
    (folder / "inside").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "out").symlink_to(outside)
    for name, reason in [
        ("../x.md", "'..'"),
        ("inside/../../x.md", "'..'"),
        (str(outside / "x.md"), "relative"),
        ("~/x.md", "relative"),
        ("out/x.md", "symlink"),
    ]:
        with pytest.raises(UserError, match=reason):
            draft_target(folder, name)
    assert draft_target(folder, "inside/ok.md") == ((folder / "inside").resolve(), "ok.md")


def test_write_draft_without_a_model_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "drafts"
    result = asyncio.run(ToolBox(folder, model=None).run(ToolCall(tool="write_draft", argument=DRAFT_TASK)))
    assert not result.ok and "--model" in result.detail
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ the real model


@pytest.mark.llm
def test_ask_to_clipboard_puts_the_models_answer_on_the_clipboard(tmp_path: Path, small_model: str) -> None:
    clipboard = tmp_path / "clipboard.txt"
    box = ToolBox(tmp_path, model=small_model, clipboard_cmd=_clipboard_cmd(clipboard), max_tokens=TOKENS)
    consent = Consent()
    token = consent.offer(1, ToolCall(tool="ask_to_clipboard", argument="Explain what a Python KeyError means"))
    result = asyncio.run(consent.accept(token, box))
    assert result is not None and result.ok, result
    assert result.detail and clipboard.read_text(encoding="utf-8") == result.detail


@pytest.mark.llm
def test_a_failing_clipboard_command_is_reported(tmp_path: Path, small_model: str) -> None:
    box = ToolBox(
        tmp_path, model=small_model, clipboard_cmd=["sh", "-c", "echo no display >&2; exit 3"], max_tokens=TOKENS
    )
    call = ToolCall(tool="ask_to_clipboard", argument="Explain what a Python KeyError means")
    result = asyncio.run(box.run(call))
    assert not result.ok and "no display" in result.detail
    missing = ToolBox(tmp_path, model=small_model, clipboard_cmd=[str(tmp_path / "no-such-xclip")], max_tokens=TOKENS)
    result = asyncio.run(missing.run(call))
    assert not result.ok and "not found" in result.detail


@pytest.mark.llm
def test_write_draft_creates_new_private_files_and_never_overwrites(tmp_path: Path, small_model: str) -> None:
    folder = tmp_path / "drafts"
    folder.mkdir()
    box = ToolBox(folder, model=small_model, max_tokens=TOKENS)
    call = ToolCall(tool="write_draft", argument=DRAFT_TASK)
    first = asyncio.run(box.run(call))
    second = asyncio.run(box.run(call))
    assert first.ok and second.ok, (first, second)
    assert first.path == folder.resolve() / f"{slug(DRAFT_TASK)}.md"
    assert second.path == folder.resolve() / f"{slug(DRAFT_TASK)}-2.md"
    for result in (first, second):
        assert result.path is not None
        assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
        assert result.path.read_text(encoding="utf-8").strip()
    first.path.write_text("the person's edits", encoding="utf-8")  # type: ignore[union-attr]
    assert asyncio.run(box.run(call)).path == folder.resolve() / f"{slug(DRAFT_TASK)}-3.md"
    assert first.path.read_text(encoding="utf-8") == "the person's edits"  # type: ignore[union-attr]


@pytest.mark.llm
def test_write_draft_never_writes_through_a_symlink_or_outside(tmp_path: Path, small_model: str) -> None:
    folder, outside = tmp_path / "drafts", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    name = f"{slug(DRAFT_TASK)}.md"
    (folder / name).symlink_to(victim)  # a planted link where the draft would go
    (folder / f"{slug(DRAFT_TASK)}-2.md").symlink_to(outside / "dangling.md")  # and a dangling one
    box = ToolBox(folder, model=small_model, max_tokens=TOKENS)
    result = asyncio.run(box.run(ToolCall(tool="write_draft", argument=DRAFT_TASK)))
    assert result.ok and result.path == folder.resolve() / f"{slug(DRAFT_TASK)}-3.md"
    assert not result.path.is_symlink()
    traversal = asyncio.run(box.run(ToolCall(tool="write_draft", argument="Write ../../outside/evil")))
    assert traversal.ok and traversal.path is not None and traversal.path.parent == folder.resolve()
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


@pytest.mark.llm
def test_a_symlinked_allowed_folder_is_followed_once(tmp_path: Path, small_model: str) -> None:
    # The allowed folder is what the person named: a link to their real Documents folder is fine.
    real = tmp_path / "real-docs"
    real.mkdir()
    link = tmp_path / "docs-link"
    link.symlink_to(real)
    consent = Consent()
    token = consent.offer(4, ToolCall(tool="write_draft", argument=DRAFT_TASK))
    result = asyncio.run(consent.accept(token, ToolBox(link, model=small_model, max_tokens=TOKENS)))
    assert result is not None and result.ok and result.path is not None
    assert result.path.parent == real.resolve() and os.path.exists(real / result.path.name)
