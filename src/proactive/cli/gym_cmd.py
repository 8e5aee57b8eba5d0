"""`proactive gym`: play scenes with a simulated user and environment, write event traces."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proactive.data.loaders import load_scenes
from proactive.errors import UserError
from proactive.gym.episode import GymConfig
from proactive.gym.runner import GymRunner, RunSettings, RunSummary

app = typer.Typer(help="The gym: simulated users and environments that write event traces.", no_args_is_help=True)


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("proactive.gym")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _summary_table(summary: RunSummary) -> Table:
    table = Table(title="gym run")
    for column in ("scene", "status", "steps", "activities", "overruled", "reason"):
        table.add_column(column)
    for state in summary.states:
        table.add_row(
            state.scene_id, state.status, str(state.step), str(state.activities_done),
            str(state.overruled_finishes), state.reason[:80],
        )  # fmt: skip
    return table


def early_line(summary: RunSummary) -> str:
    """Episodes that ended before --min-steps activities, and premature finishes overruled."""
    early = summary.ended_early()
    by_status = ", ".join(
        f"{sum(1 for s in early if s.status == status)} {status}"
        for status in ("capped", "failed", "finished")
        if any(s.status == status for s in early)
    )
    overruled = summary.overruled()
    claims = sum(state.overruled_finishes for state in overruled)
    return (
        f"{len(early)} of {len(summary.states)} episodes ended before --min-steps {summary.min_steps} activities"
        f"{f' ({by_status})' if by_status else ''}; {claims} premature 'goal finished' overruled "
        f"in {len(overruled)} episodes"
    )


@app.command("run")
def run(
    scenes: Path = typer.Option(..., "--scenes", help="Scenes YAML (scenes.yaml format)."),
    out: Path = typer.Option(..., "--out", help="Folder for <scene>.jsonl traces and their states."),
    model: str = typer.Option("local/qwen2.5-coder-1.5b", "--model", help="Model for user and environment."),
    agent: str = typer.Option("always", "--agent", help="Registered agent that watches the events."),
    judge: str | None = typer.Option(
        None, "--judge", help="Registered judge for proposals; default: the simulated user decides."
    ),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Episodes played at once (1 for local)."),
    max_steps: int = typer.Option(6, "--max-steps", min=1, help="Rounds of user activity per scene."),
    min_steps: int = typer.Option(
        3, "--min-steps", min=0, help="Activities before the user may declare the goal finished (earlier: overruled)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N scenes."),
    pace: float = typer.Option(0.0, "--pace", min=0.0, help="Minimum seconds between model calls (rate limits)."),
) -> None:
    """Play scenes: resumable (re-run the same command), one JSONL trace per scene in --out."""
    chosen = load_scenes(scenes)[:limit] if limit else load_scenes(scenes)
    if not chosen:
        raise UserError(f"{scenes}: no scenes to play")
    settings = RunSettings(
        out=out,
        model=model,
        agent=agent,
        judge=judge,
        concurrency=concurrency,
        pace=pace,
        config=replace(GymConfig(), max_steps=max_steps, min_steps=min_steps),
    )
    runner = GymRunner(settings)
    runner.prepare(chosen)  # refuses bad run.json / states in one line before any output
    _log_to(out / "run.log")
    console = Console(stderr=True)
    if max_steps < min_steps:
        console.print(f"note: --max-steps {max_steps} < --min-steps {min_steps}: every episode will end early")
    columns = (TextColumn("[bold]gym"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("steps", total=len(chosen) * max_steps)
        runner.progress = lambda n: progress.advance(task, n)
        summary = asyncio.run(runner.run(chosen))
    console.print(_summary_table(summary))
    console.print(
        f"{summary.count('finished')} finished, {summary.count('capped')} capped, {summary.count('failed')} failed; "
        f"{summary.events_written} new events in {summary.seconds:.0f} s "
        f"({summary.events_per_minute:.1f} events/minute); traces in {out}"
    )
    console.print(early_line(summary))
