"""`proactive scenes`: write gym scenes from seed tasks with a model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from proactive.data.loaders import load_seeds
from proactive.errors import UserError
from proactive.gym.builder import BuildLimits, build_scenes, existing_records, pick_seed_tasks
from proactive.models.base import get_model

app = typer.Typer(help="Scenes for the gym: build them from seed tasks.", no_args_is_help=True)


def _embed(texts: list[str]) -> np.ndarray:
    from proactive.models.embeddings import embed

    return embed(texts)


@app.command("build")
def build(
    seeds: Path = typer.Option(..., "--seeds", help="Seed tasks YAML (seedtask.yaml format)."),
    out: Path = typer.Option(Path("scenes.yaml"), "--out", help="Scenes YAML to write (resumed if it exists)."),
    model: str = typer.Option("local/qwen2.5-coder-1.5b", "--model", help="Model that writes the scenes."),
    per_seed: int = typer.Option(1, "--per-seed", min=1, help="Scenes per seed task."),
    limit_seeds: int | None = typer.Option(
        None, "--limit-seeds", min=1, help="Only the first N seed tasks (round-robin over settings)."
    ),
    dedup_threshold: float = typer.Option(
        0.9, "--dedup-threshold", min=0.0, max=1.0, help="Drop scenes this similar to a kept one (1 = keep all)."
    ),
) -> None:
    """Write scenes (profile, context, entities, operations, example events) for each seed task."""
    picked = pick_seed_tasks(load_seeds(seeds), limit_seeds)
    if not picked:
        raise UserError(f"{seeds}: no seed tasks found; expected settings with a 'tasks' list")
    if out.is_dir():
        raise UserError(f"{out}: --out is a folder; pass the scenes YAML file to write, e.g. {out / 'scenes.yaml'}")
    existing_records(out)  # an unreadable file is refused before the model loads, and never rewritten
    chat = get_model(model)
    embed = _embed if dedup_threshold < 1.0 else (lambda texts: np.zeros((len(texts), 1), dtype=np.float32))
    console = Console(stderr=True)
    columns = (TextColumn("[bold]scenes"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=len(picked) * per_seed)

        def advance(scene_id: str) -> None:
            progress.update(task, advance=1, description=scene_id)

        report = asyncio.run(
            build_scenes(chat, picked, per_seed, out, embed, dedup_threshold, BuildLimits(), advance)
        )
    for failure in report.failures:
        console.print(f"skipped {failure}", markup=False)
    console.print(
        f"{report.written} scenes written, {report.duplicates} near-duplicates dropped, "
        f"{len(report.failures)} failed, {report.kept_before} kept from before; {out}"
    )
