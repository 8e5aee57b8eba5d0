"""`proactive data`: check and fetch the ProactiveBench data."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from proactive.data.fetch import DEFAULT_BASE_URL, download, validate
from proactive.settings import data_dir

app = typer.Typer(help="Check and fetch ProactiveBench data.", no_args_is_help=True)

DataOption = typer.Option(None, "--data", help="ProactiveBench folder (default: $PROACTIVEBENCH_DIR).")


@app.command("validate")
def validate_command(
    data: Path | None = DataOption,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Load every ProactiveBench file with full checks and print counts (exit 2 on the first problem)."""
    counts = validate(data_dir(data))
    if as_json:
        typer.echo(json.dumps(counts))
        return
    for key, value in counts.items():
        typer.echo(f"{key:12s} {value}")


@app.command("download")
def download_command(
    to: Path = typer.Option(..., "--to", help="Folder to fill with the ProactiveBench layout."),
    base_url: str = typer.Option(DEFAULT_BASE_URL, "--base-url", help="Raw-file root of the repository."),
) -> None:
    """Download the ProactiveBench layout from the authors' public repository, then validate it."""
    from proactive.cli.options import check_out_dir

    check_out_dir("--to", to)  # before any request: an unwritable target costs nothing
    console = Console(stderr=True)
    with console.status("downloading") as status:
        written = download(to, base_url, on_file=lambda name: status.update(f"downloaded {name}"))
    counts = validate(to)
    typer.echo(f"{len(written)} files written to {to}; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
