"""Accept runs exactly what the person was shown; --local-only covers tools; replays run no tools by default.

Each test fails on a main where the tool was planned from the raw task (the notification
said "[REDACTED:query_secret]" while Accept opened the real URL), where the tool and its
argument were never shown, where web_search ran under --local-only, or where
`assist --replay --answers` ran real tools on model output.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.agent.base import AgentStep
from proactive.assist.attention import Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import AssistLoop, Moment, TerminalPresenter
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox, ToolCall, plan_tool
from proactive.cli.main import app
from proactive.types import Event, Observation, Proposal

SECRET = "k3yS3cr3tValue0987"
SECRET_TASK = f"Summarise https://x.dev/report?key={SECRET}"
SEARCH_TASK = "Search for the Lisbon tram 28 timetable"


class FixedAgent:
    """Proposes one task at every event (a stand-in for a model whose output we choose)."""

    name = "fixed"

    def __init__(self, task: str) -> None:
        self.task = task

    async def __call__(self, observation: Observation) -> AgentStep:
        return AgentStep(proposal=Proposal(task=self.task))


def _run_one(tmp_path: Path, task: str, answer: str, **toolbox: bool) -> tuple[list[str], AssistLoop]:
    printed: list[str] = []
    presenter = TerminalPresenter([answer], echo=printed.append)
    box = ToolBox(tmp_path / "drafts", None, **toolbox)
    store = AssistStore(tmp_path / "assist.sqlite3")
    loop = AssistLoop(FixedAgent(task), store, Consent(), box, presenter, attention=Attention(max_per_hour=50))
    event = Event(time="1717399800.0", text="The user opens 'Q3 report' at x.dev.")
    asyncio.run(loop.step(Moment(event=event, now=1717399800.0)))
    store.close()
    return printed, loop


def test_accept_runs_the_call_as_shown_never_the_raw_secret(
    tmp_path: Path, state_home: Path, browser_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    printed, loop = _run_one(tmp_path, SECRET_TASK, "accept")
    shown = "\n".join(printed)
    step = loop.steps[0]
    assert step.tool == "open_url" and step.answer == "accepted"
    # The notification names the tool and its argument, redacted as the person reads it ...
    assert "on Accept: open https://x.dev/report?key=[REDACTED:query_secret] in your browser" in shown
    # ... and Accept opened exactly that, not the URL with the key.
    opened = browser_log.read_text(encoding="utf-8").splitlines()
    assert opened == ["https://x.dev/report?key=[REDACTED:query_secret]"]
    everything = shown + "\n".join(opened) + caplog.text + step.tool_detail
    assert SECRET not in everything


def test_the_desktop_body_names_the_tool_and_its_argument() -> None:
    from proactive.assist.notify import notification_text
    from proactive.assist.tools import describe

    call = plan_tool(Proposal(task=SEARCH_TASK))
    body = notification_text(SEARCH_TASK, "you searched twice", describe(call))
    assert "Accept will search DuckDuckGo for &#x27;the Lisbon tram 28 timetable&#x27;" in body or (
        "Accept will search DuckDuckGo for 'the Lisbon tram 28 timetable'" in body
    )


def test_local_only_plans_no_remote_tool_and_the_toolbox_refuses_one(tmp_path: Path, browser_log: Path) -> None:
    assert plan_tool(Proposal(task=SEARCH_TASK)).tool == "web_search"
    assert plan_tool(Proposal(task=SEARCH_TASK), local_only=True).tool == "ask_to_clipboard"
    assert plan_tool(Proposal(task=SECRET_TASK), local_only=True).tool == "ask_to_clipboard"
    box = ToolBox(tmp_path, None, local_only=True)
    for call in (ToolCall(tool="web_search", argument="tram 28"), ToolCall(tool="open_url", argument="https://x.dev/")):
        result = asyncio.run(box.run(call))
        assert not result.ok and "--local-only" in result.detail
    assert not browser_log.exists()


def test_local_only_loop_shows_a_local_action(tmp_path: Path, state_home: Path, browser_log: Path) -> None:
    printed, loop = _run_one(tmp_path, SEARCH_TASK, "dismiss", local_only=True)
    assert loop.steps[0].tool == "ask_to_clipboard"
    assert "on Accept: ask the model and put its answer on your clipboard" in "\n".join(printed)
    assert not browser_log.exists()


def test_a_replay_with_answers_is_a_dry_run_unless_run_tools(
    bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("accept\n", encoding="utf-8")
    clipboard = tmp_path / "clipboard.txt"
    # A real command standing in for xclip; it must not run in a dry run.
    copier = f"{sys.executable} -c \"import sys; open('{clipboard}', 'a').write(sys.stdin.read())\""
    args = ["assist", "--agent", "always", "--model", "local/smollm2-135m", "--replay",
            str(bench_data / "test_data" / "code_11.json"), "--answers", str(answers), "--allowed-folder",
            str(tmp_path / "drafts"), "--clipboard-cmd", copier, "--max-per-hour", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "dry run, nothing ran (pass --run-tools): would ask the model" in result.output
    assert not clipboard.exists() and not any((tmp_path / "drafts").glob("*"))
    with AssistStore() as store:
        runs = store.tool_runs()
    assert len(runs) == 1 and not runs[0].ok and "dry run" in runs[0].detail


@pytest.mark.llm
def test_the_assistant_keeps_no_model_answer_in_the_response_cache(
    bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    from proactive.models import store

    store.pull("smollm2-135m")
    trace = bench_data / "test_data" / "code_11.json"
    args = ["assist", "--agent", "llm", "--model", "local/smollm2-135m", "--replay", str(trace), "--answers",
            str(tmp_path / "answers.txt"), "--max-per-hour", "50"]  # fmt: skip
    (tmp_path / "answers.txt").write_text("ignore\n" * 40, encoding="utf-8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "[proposal 1]" in result.output  # the model did answer ...
    cache = state_home / "cache.sqlite"
    if cache.exists():  # ... and none of its answers was kept
        import sqlite3

        with sqlite3.connect(cache) as db:
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0


def test_the_terminal_never_prints_a_raw_secret_or_a_tools_answer(
    tmp_path: Path, state_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Held-back offers are printed redacted; a tool's answer is summarised, never printed."""
    from proactive.assist.loop import StepResult
    from proactive.cli.assist_cmd import _outcome, _printed

    async def moments():  # type: ignore[no-untyped-def]
        for index in range(3):
            event = Event(time=f"{1717399800 + index * 60}.0", text="The user opens 'Q3 report' at x.dev.")
            yield Moment(event=event, now=1717399800.0 + index * 60)

    box = ToolBox(tmp_path / "drafts", None)
    with AssistStore(tmp_path / "assist.sqlite3") as store:
        presenter = TerminalPresenter(["dismiss"] * 3, echo=lambda _text: None)
        loop = AssistLoop(FixedAgent(SECRET_TASK), store, Consent(), box, presenter,
                          attention=Attention(max_per_hour=1))  # fmt: skip
        steps = asyncio.run(_printed(loop, moments()))
    printed = capsys.readouterr().out
    assert [s.blocked != "" for s in steps] == [False, True, True]
    assert "held back 'Summarise https://x.dev/report?key=[REDACTED" in printed
    assert SECRET not in printed
    answer = "Dear Sam, the deposit for flat 4B (account 12345678) was returned on Monday."
    step = StepResult(index=0, now=0.0, threshold=0.5, tool="ask_to_clipboard", tool_ok=True, tool_detail=answer)
    assert _outcome(step) == f"ok: the answer ({len(answer)} characters) is on your clipboard"
