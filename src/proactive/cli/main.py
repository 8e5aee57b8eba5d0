"""Entry point of the `proactive` command.

Each room adds its commands in its own module (cli/<room>_cmd.py) so rooms never edit
one shared file. User errors print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from proactive import __version__
from proactive.errors import UserError

app = typer.Typer(
    help="Proactive LLM agents: benchmark, judge, gate, gym, offline on a laptop CPU.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: (module, sub-command name); a module exposes `app` (a typer.Typer).
ROOMS = [
    ("proactive.cli.data_cmd", "data"),
    ("proactive.cli.models_cmd", "models"),
    ("proactive.cli.bench_cmd", "bench"),
    ("proactive.cli.judge_cmd", "judge"),
    ("proactive.cli.gate_cmd", "gate"),
    ("proactive.cli.scenes_cmd", "scenes"),
    ("proactive.cli.gym_cmd", "gym"),
    ("proactive.cli.doctor_cmd", "doctor"),
    ("proactive.cli.redact_cmd", "redact"),
    ("proactive.cli.sense_cmd", "sense"),
    ("proactive.cli.assist_cmd", "assist"),
    ("proactive.cli.train_cmd", "train"),
    ("proactive.cli.annotate_cmd", "annotate"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"proactive {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Proactive LLM agents: benchmark, judge, gate, gym, offline on a laptop CPU."""


for module_name, command in ROOMS:
    room = importlib.import_module(module_name)
    app.add_typer(room.app, name=command)


def run() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit code 2."""
    try:
        app()
    except UserError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    run()
