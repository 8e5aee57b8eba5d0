"""`proactive assist`: the live assistant, its replay, snooze, export and the personalisation simulation."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import typer

from proactive.agent.base import DEFAULT_AGENT, DEFAULT_MODEL
from proactive.assist.attention import Attention
from proactive.assist.loop import AssistLoop, Moment, StepResult, TerminalPresenter, read_answers, trace_moments
from proactive.cli.options import check_int, check_positive
from proactive.errors import UserError
from proactive.sense.redact import redact
from proactive.settings import state_dir

app = typer.Typer(help="Offer help in notifications, act only on Accept, learn when to speak (docs/assist.md).")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The longest snooze. Longer is a typo, and a huge one would be saved and then silence the
#: assistant until `snooze off` (or overflow the clock when printed).
MAX_SNOOZE_DAYS = 30


def parse_duration(text: str) -> float:
    """'30m', '2h', '90s', '45' (minutes) -> seconds, at most MAX_SNOOZE_DAYS; one-line UserError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise UserError(f"snooze '{text}': expected a duration such as 30m, 2h or 90s (or 'off')")
    seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds > MAX_SNOOZE_DAYS * _UNIT["d"]:
        raise UserError(
            f"snooze '{text}': longer than {MAX_SNOOZE_DAYS} days, the most a snooze may last; "
            f"pass e.g. {MAX_SNOOZE_DAYS}d or less (nothing was changed)"
        )
    return seconds


def until_text(until: float, now: float) -> str:
    """The local clock time of `until`, with its date when that is not today's."""
    moment, today = time.localtime(until), time.localtime(now)
    same_day = moment.tm_year == today.tm_year and moment.tm_yday == today.tm_yday
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", moment)


def _agent(name: str, model: str | None, gate: str | None) -> Any:
    from proactive.agent.base import AGENTS_NEEDING_MODEL, AgentConfig, get_agent

    if name in AGENTS_NEEDING_MODEL and not model:
        raise UserError(f"--agent {name} writes with a chat model: pass --model, e.g. --model {DEFAULT_MODEL}")
    return get_agent(name, AgentConfig(model=model, gate=gate))


def _summary(steps: list[StepResult]) -> str:
    shown = [s for s in steps if s.shown]
    proposed = [s for s in steps if s.task is not None]
    answers = {a: sum(1 for s in shown if s.answer == a) for a in ("accepted", "dismissed", "ignored")}
    ran = sum(1 for s in shown if s.tool_ok)
    return (
        f"{len(steps)} events, {len(proposed)} proposals, {len(shown)} shown "
        f"({len(proposed) - len(shown)} held back), accepted {answers['accepted']}, dismissed "
        f"{answers['dismissed']}, ignored {answers['ignored']}, tools run {ran}"
    )


async def _printed(loop: AssistLoop, moments: AsyncIterator[Moment]) -> list[StepResult]:
    steps: list[StepResult] = []
    async for moment in moments:
        step = await loop.step(moment)
        steps.append(step)
        if step.blocked:
            typer.echo(f"[event {step.index}] held back '{redact(step.task or '')[:60]}': {step.blocked}")
        elif step.tool_ok is not None:
            typer.echo(f"    tool {step.tool}: {_outcome(step)}")
    return steps


def _outcome(step: StepResult) -> str:
    """One line on what a tool did, never its content (an answer may quote the person's activity)."""
    if step.tool_dry_run:
        return step.tool_detail
    if not step.tool_ok:
        return f"failed: {redact(step.tool_detail)[:200]}"
    if step.tool == "ask_to_clipboard":
        return f"ok: the answer ({len(step.tool_detail)} characters) is on your clipboard"
    return f"ok: {redact(step.tool_detail)[:200]}"


def _attention(max_per_hour: int, quiet_apps: str | None) -> Attention:
    """The attention budget from the options (`--quiet-apps` replaces the default list)."""
    if quiet_apps is None:
        return Attention(max_per_hour=max_per_hour)
    names = [name.strip().lower() for name in quiet_apps.split(",") if name.strip()]
    return Attention(max_per_hour=max_per_hour, quiet_apps=names)


@app.callback(invoke_without_command=True)
def assist(
    ctx: typer.Context,
    agent: str = typer.Option(DEFAULT_AGENT, "--agent", help="Agent: gated (gate + writer), llm, always (no model)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="Chat model for the writer and the tools."),
    gate: str | None = typer.Option(
        None, "--gate", help="Gate: default (the shipped set, built on first use), llm, or a gate folder."
    ),
    aw_url: str = typer.Option("http://127.0.0.1:5600", "--aw-url", help="ActivityWatch server (live mode)."),
    interval: float = typer.Option(10.0, "--interval", help="Seconds between polls of ActivityWatch."),
    replay: Path | None = typer.Option(None, "--replay", help="Replay a ProactiveBench-format trace in the terminal."),
    answers: Path | None = typer.Option(None, "--answers", help="Replay answers, one per line: accept/dismiss/ignore."),
    allowed_folder: Path | None = typer.Option(
        None, "--allowed-folder", help="Drafts go here (default <state>/drafts)."
    ),
    max_per_hour: int = typer.Option(4, "--max-per-hour", help="At most this many notifications an hour."),
    clipboard_cmd: str | None = typer.Option(
        None, "--clipboard-cmd", help="Command that reads the clipboard text on stdin (default xclip; e.g. wl-copy)."
    ),
    local_only: bool = typer.Option(
        False,
        "--local-only",
        help="Refuse models and tools (open_url, web_search) that would send data off this machine.",
    ),
    run_tools: bool = typer.Option(
        False,
        "--run-tools",
        help="With --replay: really run the tools of accepted offers (default: a dry run that says what would run).",
    ),
    quiet_apps: str | None = typer.Option(
        None,
        "--quiet-apps",
        help="Comma-separated app-name fragments (calls, full-screen) that hold notifications "
        "back; replaces the default list (zoom, teams, meet, obs, ...).",
    ),
    learn: bool | None = typer.Option(
        None,
        "--learn/--no-learn",
        help="Learn which offers this person wants and show only those (default: on live, off with --replay, "
        "so a scripted replay never changes your profile). See `proactive assist profile`.",
    ),
    person: str = typer.Option("me", "--person", help="Whose profile to learn into and read from."),
) -> None:
    """Run the assistant live (ActivityWatch + desktop notifications) or over a recorded trace (--replay)."""
    if ctx.invoked_subcommand is not None:
        return
    from proactive.assist.consent import Consent
    from proactive.assist.store import AssistStore
    from proactive.assist.tools import ToolBox
    from proactive.data.loaders import load_trace_file
    from proactive.sense.config import check_local_only, load_sense_config

    check_positive("--interval", interval)
    if max_per_hour < 0:
        raise UserError(f"--max-per-hour {max_per_hour}: pass a whole number of at least 0")
    config = load_sense_config()
    if local_only or config.local_only:
        check_local_only(model)
    if answers is not None and replay is None:
        raise UserError("--answers needs --replay TRACE.json (live answers come from the notification buttons)")
    answer_list = read_answers(answers) if answers is not None else None
    trace = load_trace_file(replay) if replay is not None else None
    folder = (allowed_folder or state_dir() / "drafts").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    from proactive.models.cache import response_cache_off

    # Live answers come from a person's activity: no model built for this run caches any.
    with response_cache_off():
        built = _agent(agent, model if agent != "always" and agent != "never" else None, gate)
        with AssistStore() as store:
            presenter: Any
            if trace is None:
                from proactive.assist.notify import DesktopPresenter

                presenter = DesktopPresenter()
            else:
                presenter = TerminalPresenter(answer_list)
            toolbox = ToolBox(
                folder,
                model,
                clipboard_cmd=shlex.split(clipboard_cmd) if clipboard_cmd else None,
                local_only=local_only or config.local_only,
                dry_run=trace is not None and not run_tools,
            )
            learner = None
            if (trace is None) if learn is None else learn:
                from proactive.assist.learner import load_learner
                from proactive.assist.loop import UNGATED_BASE

                base = float(getattr(getattr(built, "user_threshold", None), "base", UNGATED_BASE))
                learner = load_learner(store, person, base)
            attention = _attention(max_per_hour, quiet_apps)
            loop = AssistLoop(built, store, Consent(), toolbox, presenter, attention=attention, learner=learner,
                              person=person)  # fmt: skip
            if trace is not None:
                steps = asyncio.run(_printed(loop, trace_moments(trace.events)))
                typer.echo(_summary(steps))
                return
            from proactive.assist.loop import activitywatch_moments

            typer.echo(f"assist: watching {aw_url} every {interval:g} s (Ctrl-C to stop)")
            try:
                asyncio.run(_printed(loop, activitywatch_moments(aw_url, interval, config)))
            except KeyboardInterrupt:
                typer.echo(_summary(loop.steps))


@app.command("snooze")
def snooze(duration: str = typer.Argument(..., help="How long to stay quiet: 30m, 2h, 90s, or 'off'.")) -> None:
    """Show nothing for a while (the running assistant reads this before each notification)."""
    from proactive.assist.store import AssistStore

    with AssistStore() as store:
        if duration.strip().lower() in {"off", "0", "none"}:
            store.set_snooze(None)
            typer.echo("snooze: off")
            return
        now = time.time()
        until = now + parse_duration(duration)
        store.set_snooze(until)
        typer.echo(f"snooze: quiet until {until_text(until, now)}")


#: `assist export --format`: the writer's own conversation, or the `llm` agent's (what `train build --kto-rows` reads).
EXPORT_FORMATS = ("kto", "kto-llm")


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="JSONL file to write."),
    fmt: str = typer.Option(
        "kto",
        "--format",
        help="kto: TRL unpaired preference rows (prompt, completion, label) in the offer writer's own prompt and "
        "{\"task\": ...} answer; kto-llm: the same answers in the `llm` agent's conversation, for "
        "`proactive train build --kto-rows`.",
    ),
) -> None:
    """Write the logged proposals and answers as training data (ignored ones are skipped)."""
    from proactive.assist.store import AssistStore

    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format {fmt}: expected one of {', '.join(EXPORT_FORMATS)}")
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; pass the path of the JSONL file to write")
    with AssistStore() as store:
        if fmt == "kto-llm":
            typer.echo(f"wrote {store.export_kto(out)} rows to {out}")
            return
        from proactive.assist.export import export_writer_kto

        rows, skipped = export_writer_kto(store, out)
    note = f" ({skipped} skipped: tasks longer than the writer may write)" if skipped else ""
    typer.echo(f"wrote {rows} rows to {out}{note}")


@app.command("profile")
def profile(
    person: str = typer.Option("me", "--person", help="Whose profile."),
    reset: bool = typer.Option(False, "--reset", help="Forget what was learned (the log of offers is kept)."),
) -> None:
    """Say what the assistant has learned about when you want its offers; --reset forgets it."""
    from proactive.assist.learner import describe, saved_state
    from proactive.assist.store import AssistStore

    with AssistStore() as store:
        if reset:
            forgot = store.reset_learner(person)
            typer.echo(f"profile of '{person}': " + ("forgotten" if forgot else "there was nothing to forget"))
            return
        state = saved_state(store, person)
        if state is None:
            typer.echo(f"profile of '{person}': nothing learned yet (no offer answered with learning on)")
            return
    typer.echo(f"profile of '{person}':")
    for line in describe(state):
        typer.echo(f"  {line}")


@app.command("simulate")
def simulate(
    traces: Path = typer.Option(..., "--traces", help="Folder of ProactiveBench test traces (test_data)."),
    user: str = typer.Option(
        "human-labels",
        "--user",
        help="human-labels (the annotators, threshold learning on/off) or personas (three people with stated "
        "preferences, the per-person learner on/off over --seeds).",
    ),
    gate: str = typer.Option(..., "--gate", help="LOTO gate folder (`proactive gate train --loto`)."),
    agent: str = typer.Option("candidates", "--agent", help="candidates (writer-free) or gated (with --model)."),
    model: str | None = typer.Option(None, "--model", help="Writer model for --agent gated."),
    ignore_share: float = typer.Option(0.2, "--ignore-share", help="Share of proposals the person ignores."),
    learning: str = typer.Option("both", "--learning", help="on, off or both."),
    seed: int = typer.Option(0, "--seed", help="Seed of the ignored share."),
    max_per_hour: int = typer.Option(4, "--max-per-hour", help="Attention cap per hour."),
    data: Path | None = typer.Option(None, "--data", help="ProactiveBench folder for the labels."),
    out: Path | None = typer.Option(None, "--out", help="Also write the full report as JSON here."),
    seeds: int = typer.Option(5, "--seeds", help="With --user personas: seeds 0..N-1 (answers, ignores, draws)."),
) -> None:
    """Play the test traces as one person's day; learning on vs off (docs/assist.md)."""
    from proactive.bench.assist_sim import SimulationReport, format_report, load_traces, run_arm
    from proactive.judge.base import get_judge

    if user not in {"human-labels", "personas"}:
        raise UserError(f"--user {user}: expected human-labels or personas")
    if user == "personas":
        from proactive.bench.personal_sim import format_personal, simulate_personas

        check_int("--seeds", seeds, 1)
        personal = simulate_personas(load_traces(traces), gate, data, list(range(seeds)))
        typer.echo(format_personal(personal))
        if out is not None:
            out.write_text(personal.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return
    if learning not in {"on", "off", "both"}:
        raise UserError(f"--learning {learning}: expected on, off or both")
    if not 0.0 <= ignore_share <= 1.0:
        raise UserError(f"--ignore-share {ignore_share}: pass a number from 0 to 1")
    check_int("--max-per-hour", max_per_hour, 0)
    loaded = load_traces(traces)
    judge = get_judge("human-labels", data=data)
    arms = ["on", "off"] if learning == "both" else [learning]
    results = [
        asyncio.run(run_arm(loaded, judge, arm, agent=agent, gate=gate, model=model,  # type: ignore[arg-type]
                            ignore_share=ignore_share, seed=seed, attention=Attention(max_per_hour=max_per_hour)))
        for arm in arms
    ]  # fmt: skip
    report = SimulationReport(
        agent=agent, gate=gate, model=model, traces=[t.id for t in loaded],
        ignore_share=ignore_share, seed=seed, max_per_hour=max_per_hour, arms=results,
    )  # fmt: skip
    typer.echo(format_report(report))
    if out is not None:
        out.write_text(json.dumps(report.model_dump(), indent=1) + "\n", encoding="utf-8")
