"""`proactive bench`: run an agent on ProactiveBench, score saved predictions, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from proactive.agent.base import DEFAULT_AGENT, DEFAULT_MODEL
from proactive.bench.metrics import BOOTSTRAP_SAMPLES
from proactive.cli.options import (
    CONCURRENCY_LIMIT,
    MAX_TOKENS_LIMIT,
    SAMPLES_LIMIT,
    check_float,
    check_int,
    check_out_dir,
)
from proactive.settings import data_dir

if TYPE_CHECKING:
    from proactive.bench.runner import RunSettings

app = typer.Typer(help="Score proactive agents on ProactiveBench.", no_args_is_help=True)

DataOption = typer.Option(None, "--data", help="ProactiveBench folder (default: $PROACTIVEBENCH_DIR).")
SamplesOption = typer.Option(BOOTSTRAP_SAMPLES, "--samples", help="Bootstrap resamples for the 95% intervals.")


class EventsPerSecond(ProgressColumn):
    """Events per second over the recent past (rich's own speed estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("-- events/s" if speed is None else f"{speed:.2f} events/s", style="cyan")


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        EventsPerSecond(), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console,
    )  # fmt: skip


def _agent_defaults(agent: str, model: str | None, gate: str | None) -> tuple[str | None, str | None]:
    """The model and gate an agent runs with when none is named: the embedded 1.5B, the shipped gate."""
    from proactive.agent.base import AGENTS_NEEDING_MODEL, AGENTS_WITH_GATE
    from proactive.gate.choose import DEFAULT_GATE

    if agent in AGENTS_NEEDING_MODEL and model is None:
        model = DEFAULT_MODEL
    if agent in AGENTS_WITH_GATE and gate is None:
        gate = DEFAULT_GATE
    return model, gate


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip().removesuffix(".json") for value in values for v in value.split(",") if v.strip()]


@app.command("run")
def run_command(
    agent: str = typer.Option(
        DEFAULT_AGENT, "--agent", help="Agent name: gated (default: gate + offer writer), llm, always, never."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder (created; an existing one is resumed)."),
    model: str | None = typer.Option(
        None, "--model", help="Chat model of llm/gated (default local/qwen2.5-coder-1.5b)."
    ),
    judge: str = typer.Option(
        "human-labels",
        "--judge",
        help="Judge: human-labels, llm, trained, trained-loto, or a trained-judge / LOTO-set folder; 'none' skips.",
    ),
    gate: str | None = typer.Option(
        None, "--gate", help="Gate of the gated agent: default (built on first use), llm, or a gate / LOTO folder."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Gate threshold override."),
    data: Path | None = DataOption,
    split: str = typer.Option("real_average", "--split", help="real_average, real_coding or real_writing."),
    traces: list[str] | None = typer.Option(None, "--traces", help="Only these traces (ids, comma-separated)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N events of each trace."),
    concurrency: int = typer.Option(1, "--concurrency", help="Traces run at once (1 suits 2 shared cores)."),
    max_tokens: int = typer.Option(320, "--max-tokens", help="Generation cap per answer."),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature."),
    allow_seen: bool = typer.Option(
        False, "--allow-seen", help="Allow a judge or gate trained on the scored traces (the report says so)."
    ),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also run always/never with the judge."),
    report: bool = typer.Option(True, "--report/--no-report", help="Score and report when the run ends."),
    samples: int = SamplesOption,
    event_delay: float = typer.Option(0.0, "--event-delay", hidden=True, help="Pause after each event (tests)."),
) -> None:
    """Run AGENT on the test traces event by event (resumable), then score and report."""
    from proactive.bench.evaluate import BASELINE_DIR
    from proactive.bench.runner import RunSettings, run_bench

    folder = data_dir(data)
    console = Console(stderr=True)
    model, gate = _agent_defaults(agent, model, gate)
    settings = RunSettings(
        agent=agent, model=model, judge=None if judge == "none" else judge, gate=gate, threshold=threshold,
        split=split, traces=_split_list(traces), limit=limit, max_tokens=max_tokens, temperature=temperature,
        allow_seen=allow_seen, concurrency=concurrency, event_delay=event_delay,
    )  # fmt: skip
    _check_run(settings, out, samples)
    with _progress(console) as progress:
        try:
            state = run_bench(settings, out, folder, progress)
            if baselines and settings.judge:
                for name in ("always", "never"):
                    if name != agent:
                        base = settings.model_copy(update={"agent": name, "model": None, "event_delay": 0.0})
                        run_bench(base, out / BASELINE_DIR / name, folder, progress)
        except BaseException:
            progress.live.transient = True  # a failed run ends on its error line, not on a stale bar
            raise
    console.print(f"run folder: {out} ({state.done_events}/{state.total_events} events)")
    if report:
        _report(out, folder, samples, out, as_json=False)


def _check_run(settings: RunSettings, out: Path, samples: int) -> None:
    """Every option and name checked before the run folder is touched (one line each)."""
    from proactive.bench.runner import check_settings

    check_out_dir("--out", out)
    check_int("--max-tokens", settings.max_tokens, 1, MAX_TOKENS_LIMIT)
    check_float("--threshold", settings.threshold, 0.0, 1.0)
    check_int("--concurrency", settings.concurrency, 1, CONCURRENCY_LIMIT)
    check_int("--limit", settings.limit, 1)
    check_float("--temperature", settings.temperature, 0.0, 2.0)
    check_float("--event-delay", settings.event_delay, 0.0)
    check_int("--samples", samples, 1, SAMPLES_LIMIT)
    check_settings(settings)


def _report(source: Path, data: Path, samples: int, target: Path | None, as_json: bool) -> None:
    from proactive.bench.evaluate import make_report
    from proactive.bench.report import metrics_document, print_report, write_report_files

    report = make_report(source, data, samples)
    if target is not None:
        paths = write_report_files(report, target)
        Console(stderr=True).print("wrote " + ", ".join(str(p) for p in paths.values()), highlight=False)
    if as_json:
        typer.echo(json.dumps(metrics_document(report), indent=2))
    else:
        console = Console()
        if not console.is_terminal:  # logs and pipes: wide enough for every column
            console = Console(width=140)
        print_report(report, console)


@app.command("score")
def score_command(
    source: Path = typer.Argument(..., help="Run folder, or a folder of released-format trace files."),
    data: Path | None = DataOption,
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json instead of tables."),
    out: Path | None = typer.Option(None, "--out", help="Write metrics.json/csv and f1.png here."),
    samples: int = SamplesOption,
) -> None:
    """Score saved predictions against the human labels (run folders get metrics files written)."""
    from proactive.bench.store import MANIFEST

    check_int("--samples", samples, 1, SAMPLES_LIMIT)
    if out is not None:
        check_out_dir("--out", out)
    target = out if out is not None else (source if (source / MANIFEST).is_file() else None)
    _report(source, data_dir(data), samples, target, as_json)


#: Our own labelled traces, shipped in the repo (data/new_traces/{dev,held,blind,blind2,blind3,blind4,blind5}).
NEW_TRACES = Path(__file__).resolve().parents[3] / "data" / "new_traces"
NEW_TRACE_SETS = ("dev", "held", "blind", "blind2", "blind3", "blind4", "blind5")


@app.command("new-traces")
def new_traces_command(
    out: Path = typer.Option(..., "--out", help="Run folder (created; an existing one is resumed)."),
    folders: list[Path] | None = typer.Argument(
        None,
        help="Folders of labelled traces (default: the repo's data/new_traces/dev, held, blind*).",
    ),
    agent: str = typer.Option(DEFAULT_AGENT, "--agent", help="Agent name: gated (default), llm, always, never."),
    model: str | None = typer.Option(None, "--model", help="Chat model of llm/gated (default the 1.5B)."),
    gate: str | None = typer.Option(None, "--gate", help="Gate: default, llm, or a gate / LOTO folder."),
    threshold: float | None = typer.Option(None, "--threshold", help="Gate threshold override."),
    max_tokens: int = typer.Option(320, "--max-tokens", help="Generation cap per answer."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json instead of a table."),
) -> None:
    """Run AGENT on our own hand-labelled traces (activity nobody trained on) and print its figures."""
    from rich.table import Table

    from proactive.agent.base import AGENTS
    from proactive.bench.new_traces import (
        NewTraceSettings,
        refuse_seen_model,
        run_new_traces,
        score_new_traces,
        write_metrics,
    )
    from proactive.data.labelled import load_labelled_traces

    check_out_dir("--out", out)
    check_int("--max-tokens", max_tokens, 1, MAX_TOKENS_LIMIT)
    check_float("--threshold", threshold, 0.0, 1.0)
    AGENTS.factory(agent)
    chosen = [str(f) for f in (folders or [NEW_TRACES / part for part in NEW_TRACE_SETS])]
    traces = [t for folder in chosen for t in load_labelled_traces(Path(folder))]
    model, gate = _agent_defaults(agent, model, gate)
    settings = NewTraceSettings(agent=agent, model=model, gate=gate, threshold=threshold, max_tokens=max_tokens,
                                folders=chosen)  # fmt: skip
    refuse_seen_model(model, traces)  # before the progress bar: the refusal is the one line printed
    console = Console(stderr=True)
    with _progress(console) as progress:
        task = progress.add_task(agent, total=sum(len(t.trace.events) for t in traces))
        records = run_new_traces(settings, out, lambda n: progress.advance(task, n))
    report = score_new_traces(traces, records)
    path = write_metrics(out, report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{agent} on {len(traces)} new traces ({out})")
    columns = ("events", "need", "spoke", "f1", "always_f1", "balanced_accuracy", "precision", "recall",
               "offers_at_need", "grounded", "distinct", "standing", "prompt_copies",
               "seconds_per_offer_median")  # fmt: skip
    table.add_column("group")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for name, figures in report.items():
        cells = [f"{figures[c]:.3f}" if isinstance(figures[c], float) else str(figures[c]) for c in columns]
        if not figures.get("timed_offers"):
            cells[-1] = "- (cached)"  # every offer's answer came from the response cache: no model time
        table.add_row(name, *cells)
    Console(width=200).print(table)
    console.print(f"wrote {path}")
