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
    for column in ("scene", "status", "steps", "reason"):
        table.add_column(column)
    for state in summary.states:
        table.add_row(state.scene_id, state.status, str(state.step), state.reason[:80])
    return table


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
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N scenes."),
    pace: float = typer.Option(0.0, "--pace", min=0.0, help="Minimum seconds between model calls (rate limits)."),
) -> None:
    """Play scenes: resumable (re-run the same command), one JSONL trace per scene in --out."""
    chosen = load_scenes(scenes)[:limit] if limit else load_scenes(scenes)
    if not chosen:
        raise UserError(f"{scenes}: no scenes to play")
    out.mkdir(parents=True, exist_ok=True)
    _log_to(out / "run.log")
    settings = RunSettings(
        out=out,
        model=model,
        agent=agent,
        judge=judge,
        concurrency=concurrency,
        pace=pace,
        config=replace(GymConfig(), max_steps=max_steps),
    )
    console = Console(stderr=True)
    columns = (TextColumn("[bold]gym"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("steps", total=len(chosen) * max_steps)
        runner = GymRunner(settings, progress=lambda n: progress.advance(task, n))
        summary = asyncio.run(runner.run(chosen))
    console.print(_summary_table(summary))
    console.print(
        f"{summary.count('finished')} finished, {summary.count('capped')} capped, {summary.count('failed')} failed; "
        f"{summary.events_written} new events in {summary.seconds:.0f} s "
        f"({summary.events_per_minute:.1f} events/minute); traces in {out}"
    )
