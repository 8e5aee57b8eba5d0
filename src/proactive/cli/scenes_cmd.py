"""`proactive scenes` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="scenes commands.", no_args_is_help=True)
