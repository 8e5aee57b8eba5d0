"""`proactive judge`: train the trained judge, score judges against people, compare two judges."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from proactive.cli.options import check_int, check_out_dir, check_positive
from proactive.errors import UserError
from proactive.models.base import check_spec

app = typer.Typer(help="Judges: train, evaluate against people, compare.", no_args_is_help=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )


def _reward_file(data: Path | None) -> Path:
    """A reward-row file: the path given, or reward_data/train_data.jsonl of a data folder."""
    from proactive.data.loaders import REWARD_FILE
    from proactive.settings import data_dir

    if data is not None and not data.is_dir():
        return data  # a file (the loader names it in a one-line error if it is missing)
    return data_dir(data) / REWARD_FILE


def _excluded(files: list[Path]) -> set[str]:
    from proactive.cli.options import excluded_trace_keys

    keys: set[str] = set()
    for path in files:
        keys |= excluded_trace_keys("--exclude-traces", path)
    return keys


@app.command("train")
def train_command(
    data: Path | None = typer.Option(None, "--data", help="Reward-row JSONL (default: the ProactiveBench train file)."),
    out: Path | None = typer.Option(None, "--out", help="Artifact folder (default: state dir judge-trained)."),
    exclude_traces: list[Path] = typer.Option(
        [], "--exclude-traces", help="Trace JSON or reward JSONL whose traces are dropped (repeatable)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed (fits are deterministic given it)."),
    c: float = typer.Option(0.05, "--C", help="Inverse L2 strength of the task model."),
    cv: bool = typer.Option(True, "--cv/--no-cv", help="Score leave-one-trace-out CV into the manifest."),
    loto: bool = typer.Option(
        False, "--loto", help="One judge per test trace fitted without it, a full judge and index.json."
    ),
    bench_data: Path | None = typer.Option(
        None,
        "--bench-data",
        help="ProactiveBench folder whose test traces --loto holds out (default: $PROACTIVEBENCH_DIR).",
    ),
) -> None:
    """Fit the trained judge on annotated rows and save model.json + manifest.json (--loto: one per test trace)."""
    from proactive.judge.train import train_artifact

    if out is not None:
        check_out_dir("--out", out)
    check_positive("--C", c)
    source = _reward_file(data)
    if loto:
        _train_loto(
            source,
            out,
            _excluded(exclude_traces),
            seed,
            c,
            cv,
            bench_data or (data if data and data.is_dir() else None),
        )
        return
    with _progress() as progress:
        manifest = train_artifact(source, out, _excluded(exclude_traces), seed=seed, c=c, cv=cv, progress=progress)
    where = out or "the state dir"
    summary = f"trained on {manifest.rows} rows from {len(manifest.training_traces)} traces"
    summary += f" ({manifest.excluded_rows} rows of {len(manifest.excluded_traces)} excluded traces dropped) -> {where}"
    typer.echo(summary)
    if manifest.cv:
        typer.echo(
            "leave-one-trace-out on the training rows: "
            + ", ".join(f"{k} {manifest.cv[k]:.3f}" for k in ("accuracy", "f1", "balanced_accuracy"))  # type: ignore[str-format]
        )


def _train_loto(
    source: Path, out: Path | None, excluded: set[str], seed: int, c: float, cv: bool, bench: Path | None
) -> None:
    from proactive.data.loaders import load_test_traces
    from proactive.judge.artifact import default_loto_dir
    from proactive.judge.loto_set import train_loto_set
    from proactive.judge.trained import TrainedSettings
    from proactive.settings import data_dir

    folder = out or default_loto_dir()
    traces = load_test_traces(data_dir(bench))
    with _progress() as progress:
        index, kept = train_loto_set(source, traces, folder, excluded, TrainedSettings(C=c, seed=seed), cv, progress)
    fitted = len(index.entries) + 1 - len(kept)
    typer.echo(
        f"wrote {len(index.entries)} leave-one-trace-out judges + full judge to {folder} "
        f"({fitted} fitted, {len(kept)} kept from an earlier run); pass it as --judge {folder}"
    )


@app.command("eval")
def eval_command(
    data: Path = typer.Option(..., "--data", help="Reward-row JSONL to score (any file of that shape)."),
    judge: str | None = typer.Option(None, "--judge", help="Judge name (trained, llm) or a trained-judge folder."),
    loto_train: Path | None = typer.Option(
        None, "--loto-train", help="Fit per trace on this file minus the trace (leave-one-trace-out)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model spec for the llm judge, e.g. local/qwen2.5-coder-1.5b."
    ),
    examples: Path | None = typer.Option(
        None, "--examples", help="Reward rows the llm judge retrieves few-shot examples from."
    ),
    limit: int = typer.Option(0, "--limit", help="Score only the first N rows (0 = all)."),
    unanimous: bool = typer.Option(False, "--unanimous", help="Score only rows whose annotators all agreed."),
    seed: int = typer.Option(0, "--seed", help="Seed for fits and bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
) -> None:
    """Agreement with people per category, accuracy, precision, recall, F1 (95% bootstrap CIs)."""
    from proactive.data.loaders import load_reward_rows
    from proactive.judge.evaluate import report_markdown
    from proactive.judge.train import eval_with_judge, eval_with_loto

    if (judge is None) == (loto_train is None):
        raise UserError("judge eval: give exactly one of --judge NAME_OR_DIR or --loto-train TRAIN_FILE")
    check_int("--limit", limit, 0)
    if model:
        check_spec(model)
    rows = load_reward_rows(data)
    if unanimous:
        rows = [row for row in rows if len(set(row.annotations)) == 1]
    if limit:
        rows = rows[:limit]
    if not rows:
        raise UserError(f"{data}: no rows to score")
    with _progress() as progress:
        if loto_train is not None:
            report, spec = eval_with_loto(loto_train, rows, seed, progress)
        else:
            options: dict[str, object] = {}
            if model:
                options["model"] = model
            if examples:
                options["examples"] = examples
            report, spec = eval_with_judge(str(judge), rows, options, seed, progress)
    if report.overlap_rows:
        err.print(
            f"warning: {report.overlap_rows} of {report.rows} scored rows come from traces the judge was "
            "trained on; these figures leak (use --loto-train or --exclude-traces)",
            markup=False,
        )
    if as_json:
        typer.echo(json.dumps({"judge": judge or "loto-train", "judge_spec": spec, **report.flat()}))
    else:
        typer.echo(report_markdown(report, f"judge: {spec}"))


@app.command("agree")
def agree_command(
    run_dir: Path = typer.Argument(..., help="A bench run folder (predictions/<trace>.json)."),
    judges: list[str] = typer.Option(..., "--judges", help="Two judges: names or trained-judge folders."),
    model: str | None = typer.Option(None, "--model", help="Model spec for an llm judge."),
    as_json: bool = typer.Option(False, "--json", help="Print the agreement as JSON."),
) -> None:
    """Agreement of two judges on the proposals of a bench run (Cohen's kappa, per kind)."""
    from proactive.judge.agree import agreement_between, judge_pairs, load_run_pairs
    from proactive.judge.base import get_judge
    from proactive.judge.train import progress_callback

    if len(judges) != 2:
        raise UserError("judge agree: give exactly two judges, e.g. --judges trained --judges llm")
    if model:
        check_spec(model)
    unreadable: list[str] = []
    steps = load_run_pairs(run_dir, unreadable)
    for line in unreadable:  # skipped entries are named, never dropped unseen
        typer.echo(f"skipped: {line}", err=True)
    pairs = [pair for _, _, pair in steps]
    verdicts = []
    with _progress() as progress:
        for name in judges:
            options: dict[str, object] = {"model": model} if model and name == "llm" else {}
            instance = get_judge(name, **options)
            results = asyncio.run(judge_pairs(instance, pairs, progress_callback(progress, f"judge {name}")))
            verdicts.append([accepted for accepted, _ in results])
    result = agreement_between(judges, verdicts[0], verdicts[1], [offer is not None for _, offer in pairs])
    if as_json:
        typer.echo(result.model_dump_json())
        return
    typer.echo(f"{result.steps} steps from {run_dir}; agreement {result.agreement:.3f}, kappa {result.cohen_kappa}")
    for name, rate in result.accept_rate.items():
        typer.echo(f"  {name} accepts {rate:.3f}")
    typer.echo(f"  on tasks {result.agreement_tasks}, on silences {result.agreement_silences}; {result.both}")
