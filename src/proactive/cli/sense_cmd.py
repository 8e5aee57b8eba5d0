"""`proactive sense`: ActivityWatch buckets -> event sentences, printed, followed or recorded as a trace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from proactive.cli.options import check_positive
from proactive.errors import UserError
from proactive.models.base import ChatModel
from proactive.sense.config import load_sense_config, write_private
from proactive.sense.events import make_events
from proactive.sense.reader import DEFAULT_URL, MAX_SINCE_MINUTES, check_since, read_events
from proactive.settings import state_dir
from proactive.types import Event

app = typer.Typer(help="Turn a running ActivityWatch server's buckets into event sentences (docs/sense.md).")

#: Relative --record paths land here: sensed data is stored only inside the state dir.
TRACES_FOLDER = "traces"


def record_path(option: Path) -> Path:
    """Where --record writes: relative paths go under <state dir>/traces/; absolute ones must be in the state dir."""
    path = option.expanduser()
    return path if path.is_absolute() else state_dir() / TRACES_FOLDER / path


def trace_text(events: list[Event]) -> str:
    """A trace in the ProactiveBench test-data layout (observations only, no labels)."""
    steps = [{"observation": {"time": event.time, "event": event.text}} for event in events]
    return json.dumps(steps, indent=2, ensure_ascii=False) + "\n"


def _sense(url: str, since: float, config_file: Path | None, model: ChatModel | None) -> list[Event]:
    config = load_sense_config(config_file)
    events = make_events(read_events(url, since), config)
    if model is not None:
        from proactive.sense.rewrite import rewrite_events

        events = rewrite_events(model, events)
    return events


def _print(events: list[Event], as_json: bool, lines: bool) -> None:
    if as_json and not lines:
        typer.echo(json.dumps([event.model_dump() for event in events], indent=2, ensure_ascii=False))
        return
    for event in events:
        typer.echo(json.dumps(event.model_dump(), ensure_ascii=False) if as_json else f"{event.time}  {event.text}")


def _follow(url: str, since: float, interval: float, config_file: Path | None, model: ChatModel | None,
            as_json: bool, record: Path | None) -> None:  # fmt: skip
    """Print the events of the last `since` minutes, then every `interval` s the new ones, until Ctrl-C."""
    seen: set[tuple[str, str]] = set()
    recorded: list[Event] = []
    started = time.time()
    try:
        while True:
            # The first read covers --since; later reads cover the time since start (plus --since),
            # so an event merged across polls keeps its first time and is printed once.
            window = min(since + (time.time() - started) / 60.0, MAX_SINCE_MINUTES)
            fresh = [e for e in _sense(url, window, config_file, model) if (e.time, e.text) not in seen]
            seen.update((event.time, event.text) for event in fresh)
            _print(fresh, as_json, lines=True)
            if record is not None and fresh:
                recorded = sorted([*recorded, *fresh], key=lambda event: event.seconds or 0.0)
                write_private(record, trace_text(recorded))
            time.sleep(interval)
    except KeyboardInterrupt:
        typer.echo(f"stopped; {len(seen)} event(s) seen", err=True)


def _keep_recorded(target: Path, since: float) -> None:
    """Refuse to replace a recorded trace with an empty one (a second run over a quiet window)."""
    try:
        kept = target.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"--record {target}: cannot read the file already there ({exc.strerror})") from None
    if kept and kept != "[]":
        raise UserError(
            f"--record {target}: no activity in the last {since:g} minute(s), and the file already holds a "
            "recorded trace; not overwritten with an empty one (record to another file, or widen --since)"
        )


@app.callback(invoke_without_command=True)
def sense(
    aw_url: str = typer.Option(DEFAULT_URL, "--aw-url", help="The ActivityWatch server."),
    since: float = typer.Option(60.0, "--since", help="Read the last MINUTES of activity."),
    as_json: bool = typer.Option(
        False, "--json", help='Print a JSON list of {"time", "text", "source"} (with --follow: one object a line).'
    ),
    follow: bool = typer.Option(False, "--follow", help="Keep polling and print new events until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between polls with --follow."),
    record: Path | None = typer.Option(
        None, "--record", help="Also write a ProactiveBench-format trace (relative: under <state dir>/traces/, 0600)."
    ),
    rewrite: str | None = typer.Option(None, "--rewrite", help="Smooth each sentence with this model spec."),
    local_only: bool = typer.Option(False, "--local-only", help="Refuse any model that is not on this machine."),
    config_file: Path | None = typer.Option(
        None, "--config", help="Exclusions TOML (default: the config dir's sense.toml)."
    ),
) -> None:
    """Print what ActivityWatch saw as event sentences (excluded / private activity dropped, secrets redacted)."""
    check_since(since)
    check_positive("--interval", interval)
    config = load_sense_config(config_file)  # a bad config fails before anything is read
    target = record_path(record) if record is not None else None
    model = None
    if rewrite is not None:
        from proactive.sense.rewrite import prepare

        model = prepare(rewrite, local_only or config.local_only)
    if follow:
        _follow(aw_url, since, interval, config_file, model, as_json, target)
        return
    events = _sense(aw_url, since, config_file, model)
    if target is not None and not events:
        _keep_recorded(target, since)
    _print(events, as_json, lines=False)
    if target is not None:
        write_private(target, trace_text(events))
        typer.echo(f"recorded {len(events)} event(s) to {target}", err=True)
    if not events and not as_json:
        typer.echo(f"no activity in the last {since:g} minute(s)", err=True)
