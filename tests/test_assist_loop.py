"""The assistant loop over a real test trace: real store, real consent, real tools, real model."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.agent.base import get_agent
from proactive.assist.attention import HOUR, Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import AssistLoop, Moment, TerminalPresenter, read_answers
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox
from proactive.cli.main import app
from proactive.data.loaders import load_trace_file
from proactive.errors import DataError
from proactive.types import Trace

SMALL_MODEL = "local/smollm2-135m"
TRACE = "code_11.json"


@pytest.fixture()
def trace(bench_data: Path) -> Trace:
    return load_trace_file(bench_data / "test_data" / TRACE)


def _times(trace: Trace) -> list[float]:
    times = [e.seconds for e in trace.events]
    assert all(t is not None for t in times)
    return [float(t) for t in times if t is not None]


def _replay(bench_data: Path, tmp_path: Path, answers: list[str], *extra: str) -> tuple[str, Path]:
    answers_file = tmp_path / "answers.txt"
    answers_file.write_text("\n".join(answers) + "\n", encoding="utf-8")
    clipboard = tmp_path / "clipboard.txt"
    # A real command that stands in for xclip: appends what it is given, one record per run.
    recorder = f"{sys.executable} -c \"import sys; open('{clipboard}', 'a').write(sys.stdin.read() + '\\n@@\\n')\""
    args = [
        "assist", "--agent", "always", "--model", SMALL_MODEL, "--replay", str(bench_data / "test_data" / TRACE),
        "--answers", str(answers_file), "--allowed-folder", str(tmp_path / "drafts"), "--clipboard-cmd", recorder,
        *extra,
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output, clipboard


@pytest.mark.llm
def test_replay_accept_runs_its_tool_ignore_runs_nothing_and_cap_holds(
    bench_data: Path, tmp_path: Path, state_home: Path, trace: Trace
) -> None:
    output, clipboard = _replay(
        bench_data, tmp_path, ["accept", "ignore", "ignore", "ignore"], "--max-per-hour", "3", "--run-tools"
    )
    times = _times(trace)
    # The cap, computed from the trace's own times: an event is shown when fewer than 3 were shown in the last hour.
    expected_shown: list[int] = []
    for index, now in enumerate(times):
        if len([i for i in expected_shown if now - HOUR < times[i] <= now]) < 3:
            expected_shown.append(index)
    with AssistStore() as store:
        stored = store.proposals()
        runs = store.tool_runs()
    assert len(stored) == len(expected_shown) <= 4
    assert [p.answer for p in stored] == ["accepted", "ignored", "ignored", "ignored"][: len(stored)]
    assert [r.proposal_id for r in runs] == [stored[0].id]  # only the accepted one ran a tool
    assert runs[0].ok and runs[0].tool == "ask_to_clipboard"
    records = [r for r in clipboard.read_text(encoding="utf-8").split("\n@@\n") if r.strip()]
    assert len(records) == 1 and records[0].strip()  # the model's answer reached the clipboard command once
    held = len(trace.events) - len(expected_shown)
    assert output.count("hourly cap reached") == held


def test_dismissed_runs_nothing_and_is_not_offered_again_for_30_minutes(
    bench_data: Path, tmp_path: Path, state_home: Path, trace: Trace
) -> None:
    output, clipboard = _replay(bench_data, tmp_path, ["dismiss", "ignore", "ignore"], "--max-per-hour", "100")
    times = _times(trace)
    # After the dismissal at event 0, the same task may only come back 30 minutes later.
    again = [i for i, t in enumerate(times) if t - times[0] >= 30 * 60]
    with AssistStore() as store:
        stored = store.proposals()
        runs = store.tool_runs()
    assert stored[0].answer == "dismissed"
    assert runs == [] and not clipboard.exists()
    assert len(stored) == 1 + len(again)
    assert output.count("dismissed less than 30 min ago") == (again[0] if again else len(times)) - 1


def _loop(agent_name: str, tmp_path: Path, answers: list[str], store: AssistStore) -> AssistLoop:
    presenter = TerminalPresenter(answers, echo=lambda _text: None)
    toolbox = ToolBox(tmp_path / "drafts", None)
    return AssistLoop(get_agent(agent_name), store, Consent(), toolbox, presenter, attention=Attention(max_per_hour=50))


def test_nothing_is_presented_while_afk_or_in_a_quiet_app(tmp_path: Path, state_home: Path, trace: Trace) -> None:
    with AssistStore() as store:
        loop = _loop("always", tmp_path, ["ignore"] * 10, store)
        presenter = loop.presenter
        assert isinstance(presenter, TerminalPresenter)
        times = _times(trace)

        async def play() -> None:
            for index, event in enumerate(trace.events[:6]):
                afk = index < 3
                app = "zoom.us meeting" if index in (3, 4) else "code"
                await loop.step(Moment(event=event, now=times[index], afk=afk, active_app=app))

        asyncio.run(play())
        assert [s.shown for s in loop.steps] == [False, False, False, False, False, True]
        assert presenter.shown == 1 and len(store.proposals()) == 1
        assert "AFK" in loop.steps[0].blocked and "zoom" in loop.steps[3].blocked


def test_threshold_moves_with_answers_and_snooze_holds(tmp_path: Path, state_home: Path, trace: Trace) -> None:
    with AssistStore() as store:
        loop = _loop("always", tmp_path, ["dismiss", "ignore"], store)
        times = _times(trace)
        base = loop.threshold.effective
        asyncio.run(loop.step(Moment(event=trace.events[0], now=times[0])))
        assert loop.threshold.effective > base  # a dismissal raised it
        assert loop.feedback[0] is not None and not loop.feedback[0].accepted  # the agent hears the rejection
        store.set_snooze(times[1] + 60)
        asyncio.run(loop.step(Moment(event=trace.events[1], now=times[1])))
        assert "snoozed" in loop.steps[1].blocked


def test_bad_answers_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "answers.txt"
    path.write_text("accept\nmaybe\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_answers(path)


def test_snooze_command_is_read_by_the_loop(tmp_path: Path, state_home: Path, trace: Trace) -> None:
    import time

    before = time.time()
    result = CliRunner().invoke(app, ["assist", "snooze", "30m"])
    assert result.exit_code == 0, result.output
    with AssistStore() as store:
        until = store.snooze_until()
        assert until is not None and before + 1800 <= until <= time.time() + 1800
        loop = _loop("always", tmp_path, ["ignore"], store)
        asyncio.run(loop.step(Moment(event=trace.events[0], now=until - 60)))
        asyncio.run(loop.step(Moment(event=trace.events[1], now=until + 1)))
    assert "snoozed" in loop.steps[0].blocked and loop.steps[1].shown
    bad = CliRunner().invoke(app, ["assist", "snooze", "soon"])
    assert bad.exit_code != 0


def test_quiet_apps_option_replaces_the_default_list() -> None:
    from proactive.cli.assist_cmd import _attention

    custom = _attention(4, "Zoom, Keynote ,")
    assert custom.quiet_apps == ["zoom", "keynote"]
    held = custom.allows(1000.0, afk=False, active_app="Keynote", shown_times=[])
    assert held == (False, "quiet app in front (keynote)")
    assert custom.allows(1000.0, afk=False, active_app="obs", shown_times=[])[0]  # obs only in the default list
    assert not _attention(4, None).allows(1000.0, afk=False, active_app="obs", shown_times=[])[0]
