"""`proactive annotate`: candidates, the annotation web app, users, export and agreement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proactive.cli.options import check_existing_file, check_int, check_out_dir
from proactive.errors import UserError

app = typer.Typer(help="Annotation: candidates, the web app, users, export to reward rows, agreement.",
                  no_args_is_help=True)  # fmt: skip
console = Console(highlight=False, soft_wrap=True)

DB_HELP = "Annotation database (SQLite; created if missing)."


def _db(path: Path | None) -> Path:
    from proactive.settings import state_dir

    return path if path is not None else state_dir() / "annotate.sqlite3"


@app.command("candidates")
def candidates_command(
    traces: Path = typer.Option(..., "--traces", help="Trace folder (ProactiveBench test_data layout) or one file."),
    models: str = typer.Option(..., "--models", help="Comma-separated model specs, e.g. local/a,local/b."),
    out: Path = typer.Option(..., "--out", help="Output folder (one trace file per input trace, run.json)."),
    per_event: int = typer.Option(5, "--per-event", help="Most diverse candidates kept per event."),
    samples: int = typer.Option(1, "--samples", help="Answers asked of each model per event (needs --temperature)."),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature."),
    max_tokens: int = typer.Option(320, "--max-tokens", help="Generation cap per answer."),
) -> None:
    """Run several models on each trace and keep, per event, the most diverse proposals (resumable per trace)."""
    from proactive.annotate.candidates import CandidateConfig, run_candidates
    from proactive.models.base import check_spec
    from proactive.models.embeddings import embed

    specs = [spec.strip() for spec in models.split(",") if spec.strip()]
    if not specs:
        raise UserError("--models: pass at least one model spec, e.g. --models local/qwen2.5-coder-0.5b")
    if len(set(specs)) != len(specs):
        raise UserError(f"--models {models}: a model is named twice; use --samples N to ask one model again")
    for spec in specs:
        check_spec(spec)
    check_int("--per-event", per_event, 1, 50)
    check_int("--samples", samples, 1, 100)
    check_int("--max-tokens", max_tokens, 16, 32768)
    check_out_dir("--out", out)
    if out.resolve() == (traces if traces.is_dir() else traces.parent).resolve():
        raise UserError(f"--out {out}: is the --traces folder; pass a new folder so the input stays intact")
    config = CandidateConfig(models=specs, per_event=per_event, samples=samples, temperature=temperature,
                             max_tokens=max_tokens)  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:

        def start(description: str, total: int) -> Callable[[], None]:
            task = progress.add_task(description, total=total)
            return lambda: progress.advance(task)

        record = run_candidates(traces, out, config, lambda texts: embed(texts), start)
    done = record["traces"]
    total = sum(t["candidates"] for t in done.values())
    failed = sum(t["failed_answers"] for t in done.values())
    console.print(f"{len(done)} traces, {total} candidates, {failed} failed answers -> {out}")


@app.command("serve")
def serve_command(
    tasks: Path = typer.Option(..., "--tasks", help="Trace folder: `annotate candidates` output or test_data."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    behind_tls: bool = typer.Option(
        False, "--behind-tls", help="Annotators reach the app through a TLS proxy: cookies are Secure, and "
        "--host may be beyond loopback."
    ),
) -> None:
    """Serve the annotation web app (imports the traces' steps as items first)."""
    check_int("--port", port, 1, 65535)
    if not tasks.exists():
        raise UserError(f"--tasks {tasks}: not found; pass a trace folder or file")
    from proactive.annotate.web import serve

    serve(tasks, _db(db), host, port, behind_tls=behind_tls)


@app.command("add-user")
def add_user_command(
    name: str = typer.Argument(..., help="Annotator name (their login)."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    reset: bool = typer.Option(False, "--reset", help="Issue a new password for an existing annotator."),
) -> None:
    """Add an annotator and print a one-time password (shown once; store only its hash)."""
    from proactive.annotate.store import Store

    password = Store(_db(db)).add_user(name, reset=reset)
    console.print(f"annotator '{name.strip()}' password (shown once): {password}")


@app.command("users")
def users_command(db: Path | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List annotators and how many labels each gave."""
    from proactive.annotate.store import Store

    table = Table("name", "labels", "disabled")
    for user in Store(_db(db)).users():
        table.add_row(user.name, str(user.labels), "yes" if user.disabled else "")
    console.print(table)


@app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", help="Reward-row JSONL to write (ProactiveBench format)."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write reward rows for every item with three labels (majority rule: docs/annotate.md)."""
    from proactive.annotate.export import export_rows
    from proactive.annotate.store import Store

    path = _db(db)
    check_existing_file("--db", path)
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; pass a .jsonl file path")
    result = export_rows(Store(path), out)
    console.print(f"{len(result.rows)} rows from {result.items} items -> {out}; "
                  f"{result.incomplete} items still need labels (left out)")  # fmt: skip


@app.command("agreement")
def agreement_command(
    db: Path | None = typer.Option(None, "--db", help="Annotation database to report on."),
    rows: Path | None = typer.Option(None, "--rows", help="Reward-row JSONL instead (e.g. the released train data)."),
    raters: int = typer.Option(
        3, "--raters", help="Annotations per row to use (rows with another count are left out)."
    ),
) -> None:
    """Pairwise percent agreement and Fleiss' kappa, overall, by row kind and per setting."""
    from proactive.annotate.agreement import rater_counts, report, rows_from_db, rows_from_file

    if (db is None) == (rows is None):
        raise UserError("pass exactly one of --db FILE or --rows FILE")
    check_int("--raters", raters, 2, 100)
    if rows is not None:
        check_existing_file("--rows", rows)
        found = rows_from_file(rows)
    else:
        found = rows_from_db(_db(db))
    counts = ", ".join(f"{n} with {k}" for k, n in sorted(rater_counts(found).items()))
    console.print(f"{len(found)} rows ({counts or 'none'}); using rows with {raters} annotations")
    table = Table("group", "rows", "left out", "pairwise", "Fleiss kappa", "accept rate")
    for figures in report(found, raters):
        table.add_row(figures.group, str(figures.subjects), str(figures.left_out), _fmt(figures.pairwise),
                      _fmt(figures.kappa), _fmt(figures.accept_rate))  # fmt: skip
    console.print(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
