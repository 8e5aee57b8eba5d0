"""`proactive train build`: SFT and preference data from gym traces and annotated rows."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from proactive.cli.options import check_int, check_out_dir

err = Console(stderr=True, highlight=False, soft_wrap=True)


def build(
    out: Path = typer.Option(..., "--out", help="Folder for the data set (resumable: re-run the same command)."),
    traces: Path | None = typer.Option(None, "--traces", help="A `proactive gym run` output folder."),
    rows: Path | None = typer.Option(None, "--rows", help="Reward-format JSONL of annotated rows (train_data.jsonl)."),
    kto_rows: Path | None = typer.Option(None, "--kto-rows", help="Rows of `proactive assist export --format kto`."),
    model: str | None = typer.Option(None, "--model", help="Teacher model spec, e.g. local/qwen2.5-coder-1.5b."),
    judge: str | None = typer.Option(None, "--judge", help="Judge name (trained, llm, ...) or trained-judge folder."),
    max_retries: int = typer.Option(2, "--max-retries", help="Regenerations after a rejected target."),
    token_budget: int = typer.Option(2048, "--token-budget", help="Cut conversations from the front to this size."),
    tokenizer: str = typer.Option("qwen2.5-coder-0.5b", "--tokenizer", help="GGUF alias or HF folder to count with."),
    keep_test_traces: bool = typer.Option(
        False, "--keep-test-traces", help="Keep rows of the 12 test traces (the bench then refuses the model)."
    ),
    data: Path | None = typer.Option(None, "--data", help="ProactiveBench folder (default $PROACTIVEBENCH_DIR)."),
    max_tokens: int = typer.Option(320, "--max-tokens", help="Generation cap per teacher answer."),
) -> None:
    """Build agent SFT data (TRL + LLaMA-Factory) and KTO rows with a manifest of every trace used."""
    from proactive.train.build import BuildOptions, check_options
    from proactive.train.build import build as run_build

    check_out_dir("--out", out)
    check_int("--max-retries", max_retries, 0, 20)
    check_int("--token-budget", token_budget, 64)
    check_int("--max-tokens", max_tokens, 16, 32768)
    options = BuildOptions(
        out=out.expanduser(), traces=traces, rows=rows, kto_rows=kto_rows, model=model, judge=judge,
        max_retries=max_retries, token_budget=token_budget, tokenizer=tokenizer,
        keep_test_traces=keep_test_traces, data=data, max_tokens=max_tokens,
    )  # fmt: skip
    check_options(options)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
    task = progress.add_task("events", total=0)

    def total(more: int) -> None:
        # Started only once the inputs are read and the judge is loaded: bad input before that
        # stays the one line the user reads, with no bar above it.
        if not progress.live.is_started:
            progress.start()
        progress.update(task, total=(progress.tasks[0].total or 0) + more)

    try:
        result = run_build(options, advance=lambda n: progress.advance(task, n), total=total)
    finally:
        if progress.live.is_started:
            progress.stop()
    counts = result.manifest.counts
    err.print(
        f"{result.examples} SFT examples, {result.kto_rows} KTO rows in {out} "
        f"({len(result.manifest.trace_keys)} traces used; {result.manifest.excluded_test_rows} test-trace rows "
        f"excluded; {len(result.manifest.training_traces)} traces seen in all)"
    )
    for note in result.notes:
        err.print(f"  {note}")
    err.print("  counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def writer_data(
    out: Path = typer.Option(..., "--out", help="Folder for the data set (resumable: re-run the same command)."),
    traces: list[Path] = typer.Option(
        None, "--traces", help="Folders of hand-labelled traces (default: the gate's training traces)."
    ),
    rows: Path | None = typer.Option(None, "--rows", help="Reward-format JSONL of annotated rows (train_data.jsonl)."),
    teacher: str = typer.Option("local/qwen2.5-coder-1.5b", "--teacher", help="Model spec of the teacher writer."),
    samples: int = typer.Option(3, "--samples", help="Sampled candidates per moment after the greedy one."),
    keep_test_traces: bool = typer.Option(
        False, "--keep-test-traces", help="Keep rows of the 12 test traces (the bench then refuses the model)."
    ),
    data: Path | None = typer.Option(None, "--data", help="ProactiveBench folder (default $PROACTIVEBENCH_DIR)."),
) -> None:
    """Build offer-writer SFT data at moments of need (targets that name the work), with a manifest."""
    from proactive.data.labelled import load_labelled_traces
    from proactive.data.loaders import load_reward_rows
    from proactive.gate.default import TRAIN_TRACES
    from proactive.models.base import get_model
    from proactive.train import writer_data as wd
    from proactive.train.build import split_test_rows

    check_out_dir("--out", out)
    check_int("--samples", samples, 0, 16)
    folders = traces or [TRAIN_TRACES]
    labelled = [t for folder in folders for t in load_labelled_traces(folder.expanduser())]
    moments = wd.labelled_moments(labelled)
    sources = [wd.labelled_source(folder.expanduser()) for folder in folders]
    excluded = 0
    if rows is not None:
        annotated, excluded = split_test_rows(load_reward_rows(rows.expanduser()), keep_test_traces, data)
        moments += wd.row_moments(annotated)
        sources.append(wd.rows_source(rows.expanduser()))
    needs_teacher = any(m.source == "labelled" for m in moments)
    wd.check_settings(out.expanduser(), teacher if needs_teacher else None, samples, sources)
    model = get_model(teacher) if needs_teacher else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:  # fmt: skip
        task = progress.add_task("moments of need", total=len(moments))
        manifest = wd.build_writer_data(
            out.expanduser(), moments, model, teacher if model else None, samples, sources, excluded,
            advance=lambda n: progress.advance(task, n),
        )  # fmt: skip
    counts = manifest.counts
    err.print(
        f"{counts['examples']} writer SFT examples in {out} from {len(manifest.trace_keys)} traces "
        f"({excluded} test-trace rows excluded); " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )


def register(app: typer.Typer) -> None:
    """Add the data-building commands to the `train` app."""
    app.command("build")(build)
    app.command("writer-data")(writer_data)
