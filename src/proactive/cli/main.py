"""Entry point of the `proactive` command.

Each room adds its commands in its own module (cli/<room>_cmd.py) so rooms never edit
one shared file. User errors print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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


def _click_class(name: str) -> type[Exception]:
    """click's UsageError / ClickException, found from typer's public BadParameter.

    Typer 0.29 vendors its own copy of click (typer._click), older ones use click itself;
    walking the public class's bases finds the right one without a private import.
    """
    return next(base for base in typer.BadParameter.__mro__ if base.__name__ == name)


_USAGE_ERROR = _click_class("UsageError")
_CLICK_EXCEPTION = _click_class("ClickException")


def _command_path(ctx: Any, argv: Sequence[str]) -> str:
    """'proactive bench run' however the program was started (console script or `python -m`).

    From the error's context when it has one; the parser's own errors carry none, so the
    command words are then read off argv, as far as they name sub-commands.
    """
    names: list[str] = []
    if ctx is not None:
        while ctx.parent is not None:
            names.insert(0, ctx.info_name or "")
            ctx = ctx.parent
        return " ".join(["proactive", *names])
    group: Any = typer.main.get_command(app)
    for word in argv:
        group = getattr(group, "commands", {}).get(word)
        if group is None:
            break
        names.append(word)
    return " ".join(["proactive", *names])


def _given(option_names: Sequence[str], argv: Sequence[str]) -> str | None:
    """The value typed for an option (the last one wins, as in click), or None."""
    value = None
    for index, word in enumerate(argv):
        for name in option_names:
            if word == name and index + 1 < len(argv):
                value = argv[index + 1]
            elif name.startswith("--") and word.startswith(name + "="):
                value = word[len(name) + 1 :]
    return value


def usage_line(exc: Any, argv: Sequence[str]) -> str:
    """One line for a click usage error: a bad or missing value, an unknown option or command.

    Typer would draw a six-line box under the usage; here it is one line naming the option,
    what it expects (click's own words, then the option's help) and where the help is.
    """
    see = f"see `{_command_path(exc.ctx, argv)} --help`"
    param = getattr(exc, "param", None)
    if param is None:
        return f"{exc.format_message().rstrip('.')}; {see}"
    is_option = param.param_type_name == "option"
    names = "/".join(param.opts) if is_option else (param.name or "").upper()
    about = " ".join(str(getattr(param, "help", None) or "").split()).rstrip(".")
    about = f" ({about})" if about else ""
    if type(exc).__name__ == "MissingParameter":
        return f"missing {'option' if is_option else 'argument'} {names}{about}; {see}"
    value = _given(param.opts, argv) if is_option else None
    shown = f" {value!r}" if value is not None else ""
    message = str(exc.message).rstrip(".")
    return f"{names}{shown}: {message[:1].lower()}{message[1:]}{about}; {see}"


def _fail(message: str, code: int = 2) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {message}", markup=False)
    sys.exit(code)


def run() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit code 2.

    click runs outside its standalone mode so that its usage errors reach us as exceptions
    (Typer would print them as a box); --help, typer.Exit and Ctrl-C (exit 130) end as before.
    """
    argv = sys.argv[1:]
    try:
        code = app(args=argv, standalone_mode=False)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # Typer printed the help while raising it; exit as click does
        _fail(usage_line(exc, argv))
    except _CLICK_EXCEPTION as exc:
        _fail(exc.format_message())  # type: ignore[attr-defined]
    except typer.Abort:
        _fail("aborted", 1)
    except UserError as exc:
        _fail(str(exc))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()
