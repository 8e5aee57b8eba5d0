"""`proactive judge` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="judge commands.", no_args_is_help=True)
