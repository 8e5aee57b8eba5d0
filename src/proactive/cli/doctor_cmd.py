"""`proactive doctor`: one screen telling whether this install works, and what to run if not."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from proactive.doctor.report import Report, gather

app = typer.Typer(help="Check the install: llama.cpp build vs CPU, a decode, models, dirs, extras.")

_STYLE = {"ok": "green", "info": "dim", "warn": "yellow", "fail": "bold red"}


def render(report: Report, console: Console) -> None:
    """The one screen: a header, one row per check, and a verdict naming the fixes."""
    console.print(
        f"proactive {report.version} · Python {report.python} · {report.machine} · CPU: {report.cpu_kind}",
        highlight=False,
    )
    console.print(f"CPU flags llama.cpp can use: {' '.join(report.cpu_flags) or 'none'}", highlight=False)
    detail = Column("detail (→ fix)", overflow="fold")
    table = Table(Column("check", no_wrap=True), Column("status", no_wrap=True), detail, box=None, pad_edge=False)
    for check in report.checks:
        style = _STYLE[check.status]
        fix = f" [bold]→ {escape(check.fix)}[/]" if check.fix else ""
        table.add_row(escape(check.area), f"[{style}]{check.status}[/]", escape(check.detail) + fix)
    console.print(table)
    failures = report.failures()
    if not failures:
        console.print("[green]install OK[/]")
        return
    fixes = list(dict.fromkeys(check.fix for check in failures if check.fix))
    console.print(f"[bold red]install BROKEN[/]: {len(failures)} failed check(s); fix: {escape(' ; '.join(fixes))}",
                  highlight=False)  # fmt: skip


@app.callback(invoke_without_command=True)
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    model: str | None = typer.Option(
        None, "--model", help="Alias or .gguf path for the decode check (default: the smallest verified model)."
    ),
    data: Path | None = typer.Option(None, "--data", help="ProactiveBench folder (default: $PROACTIVEBENCH_DIR)."),
    full_hash: bool = typer.Option(False, "--full-hash", help="Re-hash every pulled model (slow for 1 GB)."),
    decode_command: str | None = typer.Option(None, "--decode-command", hidden=True),
) -> None:
    """Check the install; exit 1 when something is broken (the fix is named)."""
    report = gather(model=model, data=data, full_hash=full_hash, decode_command=decode_command)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render(report, Console(soft_wrap=False))
    raise typer.Exit(0 if report.ok else 1)
