"""`proactive gym` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="gym commands.", no_args_is_help=True)
