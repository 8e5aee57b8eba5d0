"""`proactive gate`: train the when-to-speak gate and evaluate it leave-one-trace-out."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="The when-to-speak gate: train, evaluate leave-one-trace-out.", no_args_is_help=True)
console = Console(highlight=False)


def _exclusions(values: list[str], bench: Path | None) -> set[str]:
    """Trace keys from trace JSON / reward JSONL files, text files of keys (one per line) or test trace ids."""
    from proactive.cli.options import excluded_trace_keys, key_list
    from proactive.data.labels import trace_key_of_events
    from proactive.data.loaders import TEST_DIR, load_trace_file
    from proactive.errors import UserError
    from proactive.settings import data_dir

    keys: set[str] = set()
    for value in values:
        path = Path(value)
        if path.suffix in (".json", ".jsonl") and path.is_file():
            keys.update(excluded_trace_keys("--exclude-traces", path))
        elif path.is_file():
            keys.update(key_list("--exclude-traces", path))
        else:
            candidate = data_dir(bench) / TEST_DIR / f"{value}.json"
            if not candidate.is_file():
                raise UserError(f"--exclude-traces {value}: not a trace file, a key list or a test trace id")
            keys.add(trace_key_of_events(load_trace_file(candidate).events))
    return keys


@app.command()
def train(
    out: Path = typer.Option(..., "--out", help="Folder to write the gate (or the LOTO set) into."),
    data: Path | None = typer.Option(
        None, "--data", help="Reward-format JSONL (default: <bench>/reward_data/train_data.jsonl)."
    ),
    exclude_traces: list[str] = typer.Option(
        [], "--exclude-traces", help="Trace JSON file, file of trace keys, or test trace id (repeatable)."
    ),
    loto: bool = typer.Option(
        False, "--loto", help="Write one gate per test trace trained without it, plus a full gate and index.json."
    ),
    bench: Path | None = typer.Option(None, "--bench-data", help="ProactiveBench folder (for --loto and ids)."),
    blocks: str | None = typer.Option(None, "--blocks", help="Comma-separated feature blocks (default: all cheap)."),
    from_assist: Path | None = typer.Option(
        None,
        "--from-assist",
        help="Refit from a person's answers in the assistant's database (e.g. <state>/assist.sqlite3): accepted "
        "offers are 1, dismissed 0, ignored left out; the shipped gate's recipe (docs/gate.md).",
    ),
    with_default_rows: bool = typer.Option(
        False, "--with-default-rows", help="With --from-assist: fit the shipped gate's rows alongside the answers."
    ),
) -> None:
    """Train the feature gate; the threshold is chosen by grouped CV over the training traces."""
    from proactive.cli.options import check_out_dir
    from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
    from proactive.errors import UserError
    from proactive.gate.features import check_blocks
    from proactive.gate.loto import train_gate_folder, train_loto_set
    from proactive.gate.training import TrainSpec
    from proactive.settings import data_dir

    check_out_dir("--out", out)
    if from_assist is not None:
        if loto or blocks is not None or exclude_traces:
            raise UserError("--from-assist fits the shipped gate's recipe on one person's log: drop --loto, "
                            "--blocks and --exclude-traces")  # fmt: skip
        _train_from_assist(from_assist, out, data or data_dir(bench) / REWARD_FILE if with_default_rows else None)
        return
    if with_default_rows:
        raise UserError("--with-default-rows blends the shipped rows into a refit: pass it with --from-assist DB")
    spec = TrainSpec() if blocks is None else TrainSpec(block_sets=[check_blocks(blocks.split(","))])
    excluded = _exclusions(exclude_traces, bench)
    rows = load_reward_rows(data or data_dir(bench) / REWARD_FILE)
    if loto:
        traces = load_test_traces(data_dir(bench))
        index = train_loto_set(rows, traces, out, spec, excluded, console)
        console.print(f"wrote {len(index.entries)} leave-one-trace-out gates + full gate to {out}")
        return
    manifest = train_gate_folder(rows, out, spec, excluded)
    console.print(
        f"wrote {out}: {manifest.examples} histories from {len(manifest.training_traces)} traces, "
        f"threshold {manifest.threshold:.3f}, inner-CV F1 {manifest.inner_cv['f1']:.3f}"
    )


def _train_from_assist(db: Path, out: Path, reward_file: Path | None) -> None:
    """Refit the shipped gate's recipe on the answers logged in `db` (plus the shipped rows from `reward_file`)."""
    from proactive.assist.store import AssistStore
    from proactive.errors import UserError
    from proactive.gate.default import DEFAULT_SPEC, training_rows
    from proactive.gate.from_assist import (
        AnsweredHistory,
        AssistSource,
        answers_fingerprint,
        check_enough,
        train_from_answers,
    )

    if not db.is_file():
        raise UserError(f"--from-assist {db}: no such file; pass the assistant's database (<state dir>/assist.sqlite3)")
    with AssistStore(db) as store:
        proposals = store.proposals()
    answers = [AnsweredHistory(p.id, tuple(p.history), p.answer == "accepted")
               for p in proposals if p.answer in ("accepted", "dismissed")]  # fmt: skip
    accepted = sum(a.accepted for a in answers)
    check_enough(db, accepted, len(answers) - accepted, len(proposals) - len(answers))  # before any rows load
    source = AssistSource(
        db=str(db.resolve()), proposal_ids=[a.proposal_id for a in answers], fingerprint=answers_fingerprint(answers),
        accepted=accepted, dismissed=len(answers) - accepted, ignored_left_out=len(proposals) - len(answers),
        reward_file=str(reward_file) if reward_file is not None else None,
    )  # fmt: skip
    # The shipped gate's own rows: the reward rows and its hand-labelled training traces.
    rows = training_rows(reward_file) if reward_file is not None else []
    manifest = train_from_answers(answers, out, DEFAULT_SPEC, source, rows)
    console.print(
        f"wrote {out}: {source.accepted} accepted and {source.dismissed} dismissed answers "
        f"({source.ignored_left_out} ignored or unanswered, left out), {manifest.assist.default_rows} shipped "
        f"histories, threshold {manifest.threshold:.3f}, inner-CV F1 {manifest.inner_cv['f1']:.3f}"
    )


def _print_report(report: object) -> None:
    from proactive.gate.evaluate import METRICS, GateReport

    assert isinstance(report, GateReport)
    table = Table(title=f"{report.gate} gate, leave-one-trace-out, {report.events} events")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI (traces resampled)", justify="right")
    for name in METRICS:
        low, high = report.intervals[name]
        table.add_row(name, f"{getattr(report, name):.3f}", f"[{low:.3f}, {high:.3f}]")
    table.add_row("AUC", f"{report.auc:.3f}", "")
    table.add_row("opened", f"{report.opened}/{report.events}", "")
    table.add_row("always-propose F1", f"{report.always_propose_f1:.3f}", "")
    table.add_row("ms per event", f"{report.ms_per_event:.1f}", "")
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")


#: What `gate eval` can evaluate: it fits (or prompts) its own gate per held-out trace.
EVAL_GATES = ("trained", "llm")


def _check_eval_gate(gate: str, model: str) -> None:
    from proactive.errors import UserError
    from proactive.models.base import check_spec

    if gate not in EVAL_GATES:
        raise UserError(
            f"--gate {gate}: unknown gate for `gate eval`; choose {' or '.join(EVAL_GATES)} "
            "(a trained gate folder is scored with `proactive bench run --agent gated --gate DIR`)"
        )
    if gate == "llm":
        check_spec(model)


@app.command("eval")
def evaluate(
    data: Path | None = typer.Option(None, "--data", help="ProactiveBench folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    gate: str = typer.Option("trained", "--gate", help="Gate to evaluate: trained or llm."),
    model: str = typer.Option("local/qwen2.5-coder-1.5b", "--model", help="Model for the llm gate."),
    blocks: str | None = typer.Option(None, "--blocks", help="Comma-separated feature blocks (ablations)."),
    select_blocks: bool = typer.Option(
        False, "--select-blocks", help="Let the inner CV choose among block-set candidates too."
    ),
) -> None:
    """Leave-one-trace-out over the 12 test traces: each trace scored by a gate trained without it."""
    from proactive.gate.evaluate import load_loto_data, run_loto, score_trace_with_trained, summarize
    from proactive.gate.features import check_blocks
    from proactive.gate.loto import candidate_block_sets
    from proactive.gate.training import TrainSpec
    from proactive.settings import data_dir

    _check_eval_gate(gate, model)
    loto_data = load_loto_data(data_dir(data))
    progress = None if as_json else (lambda trace_id: console.print(f"scoring {trace_id} ...", style="dim"))
    if gate == "llm":
        from proactive.gate.evaluate import run_llm_loto

        scores, notes = run_llm_loto(loto_data, model, progress)
    else:
        if blocks is not None:
            spec = TrainSpec(block_sets=[check_blocks(blocks.split(","))])
        elif select_blocks:
            spec = TrainSpec(block_sets=candidate_block_sets())
        else:
            spec = TrainSpec()
        scores = run_loto(loto_data, score_trace_with_trained(spec), progress)
        notes = [f"{s.trace_id}: {s.chosen}" for s in scores]
    report = summarize(gate, scores, notes)
    if as_json:
        keys = ("f1", "precision", "recall", "accuracy", "balanced_accuracy", "events", "ms_per_event")
        payload = {k: getattr(report, k) for k in keys}
        payload.update(
            auc=report.auc, opened=report.opened, intervals=report.intervals, always_propose_f1=report.always_propose_f1
        )
        typer.echo(json.dumps(payload))
    else:
        _print_report(report)
