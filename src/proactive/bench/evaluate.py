"""Assemble a report for a run folder (or a folder of released-format predictions).

The scored agent comes first, then the always / never baselines (from the run's
`baselines/` folders when `bench run` produced them with the same judge, else computed
from the labels without a judge), then the published agents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proactive.agent.baselines import GENERIC_TASK
from proactive.bench.metrics import BOOTSTRAP_SAMPLES, EventOutcome
from proactive.bench.published import load_published
from proactive.bench.report import DIFFERENT_JUDGE, Report, ReportRow
from proactive.bench.score import ScoredTrace, score_source, score_source_traces, score_traces
from proactive.bench.store import MANIFEST, RunFolder
from proactive.data.fetch import folder_hash
from proactive.data.loaders import load_splits
from proactive.data.released import UnreadableEntry, describe_unreadable
from proactive.judge.content import LabelBook, content_verdict

BASELINES = ("always", "never")
BASELINE_DIR = "baselines"


def baseline_scored(name: str, book: LabelBook, covered: dict[str, int] | None = None) -> list[ScoredTrace]:
    """Outcomes of `always` or `never` from the labels (no judge).

    `covered` (trace id -> number of leading events) restricts them to the events the
    scored agent saw, so a partial run is compared with baselines on the same events.
    """
    scored = []
    for trace in book.traces.values():
        count = len(trace.events) if covered is None else min(covered.get(trace.id, 0), len(trace.events))
        if not count:
            continue
        outcomes = []
        for index in range(count):
            label = book.for_step(trace.id, trace.events[: index + 1])
            content = None
            if name == "always" and label is not None and label.help_needed:
                verdict = content_verdict(GENERIC_TASK, label)
                content = (verdict.nearest_accepted, verdict.similarity_accepted) if verdict else None
            outcomes.append(EventOutcome(
                trace=trace.id, proposed=name == "always", help_needed=label.help_needed if label else None,
                content=content,
            ))  # fmt: skip
        scored.append(ScoredTrace(trace_id=trace.id, outcomes=outcomes, unlabelled=[]))
    return scored


def _describe(manifest: dict[str, Any] | None, source: Path) -> tuple[str, str]:
    if manifest is None:
        return source.name, "as stored in the files"
    name = manifest.get("agent", source.name)
    if manifest.get("model"):
        name += f" ({manifest['model']})"
    return name, str(manifest.get("judge") or "none")


def _baseline_name(name: str, manifest: dict[str, Any]) -> str:
    """The baseline's row name; a baseline run that stopped early says so (its figures cover fewer events)."""
    if manifest.get("status") == "finished":
        return name
    done, total = manifest.get("events_done"), manifest.get("events_total")
    return f"{name} (unfinished: {done} of {total} events)"


def _baseline_rows(
    source: Path, data: Path, book: LabelBook, samples: int, skip: str | None, covered: dict[str, int]
) -> list[ReportRow]:
    rows = []
    for name in BASELINES:
        if name == skip:
            continue
        folder = source / BASELINE_DIR / name
        if (folder / MANIFEST).is_file():
            manifest = RunFolder(folder).read_manifest() or {}
            metrics = score_source(folder, data, samples)
            rows.append(ReportRow(name=_baseline_name(name, manifest), judge=str(manifest.get("judge") or "none"),
                                  metrics=metrics))  # fmt: skip
        else:
            metrics = score_traces(baseline_scored(name, book, covered), load_splits(data), book, samples)
            rows.append(ReportRow(name=name, judge="none (labels only)", metrics=metrics))
    return rows


def _published_rows(data: Path) -> list[ReportRow]:
    rows = []
    for agent, splits in load_published(data).items():
        metrics = {"splits": {s: {"paper": figures, "timing": None, "content": None} for s, figures in splits.items()}}
        rows.append(ReportRow(name=agent, judge=DIFFERENT_JUDGE, metrics=metrics, published=True))
    return rows


def _notes(manifest: dict[str, Any] | None, data: Path, book: LabelBook, main: dict[str, Any]) -> list[str]:
    labelled = len(book.by_event)
    notes = [f"data: {data} (hash {folder_hash(data)}); {labelled} labelled test events, "
             f"{book.help_needed_count} need help (human annotations)"]  # fmt: skip
    if manifest is not None:
        if manifest.get("agent_provenance"):
            notes.append(f"agent's learned parts: {manifest['agent_provenance']}")
        tokens = manifest.get("tokens", {})
        notes.append(
            f"run: {manifest.get('events_done')}/{manifest.get('events_total')} events, "
            f"wall {manifest.get('wall_seconds', 0):.0f} s, prompt tokens {tokens.get('prompt_tokens', 0):.0f} "
            f"(newly evaluated {tokens.get('new_prompt_tokens', 0):.0f}), "
            f"generated {tokens.get('completion_tokens', 0):.0f}"
        )
        notes.append(answers_note(manifest))
    notes += [
        "timing and content need no judge: they compare with the annotators' help_needed labels and the "
        "candidates they accepted or rejected (MiniLM cosine)",
        "paper protocol: null and whole-answer silence strings ('', 'null', 'None.', 'N/A') are silence (the "
        "authors' script counted 'null' as a task); an {Operation, Arguments} object is a proposal, its rendered "
        "call the task; with these definitions false-alarm = 1 - precision",
        f"published rows: the authors' CSVs, {DIFFERENT_JUDGE}, counted by their script: not comparable",
    ]
    unlabelled = sum(main.get("unlabelled_events", {}).values())
    if unlabelled:
        notes.append(f"{unlabelled} predicted events have no human label (text not in the test files): "
                     "counted in the paper protocol only; listed in metrics.json")  # fmt: skip
    if main.get("unmatched_files"):
        notes.append(f"files matching no test trace (not in any split): {', '.join(main['unmatched_files'])}")
    for name, entries in main.get("unreadable_entries", {}).items():
        line = describe_unreadable(name, [UnreadableEntry.model_validate(e) for e in entries])
        whole = any(e.get("index") is None for e in entries)
        rest = "the other files scored" if whole else "every other entry scored (0-based indexes, in metrics.json)"
        notes.append(f"{line}; skipped, {rest}")
    return notes


#: What an invalid answer (schema failed after the repair retry) became, per agent.
INVALID_MEANS = {
    "llm": "recorded as silence",
    "gated": "the writer still proposed: the task it had completed, or the task asked for alone",
}


def answer_counts(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """{"events", "cached", "invalid"} of a run (invalid is None for runs older than that count)."""
    if manifest is None:
        return None
    tokens = manifest.get("tokens", {})
    return {"events": tokens.get("events", manifest.get("events_done")), "cached": tokens.get("cached_answers"),
            "invalid": tokens.get("invalid_answers")}  # fmt: skip


def answers_note(manifest: dict[str, Any]) -> str:
    """'answers: 3 of 35 events answered from the response cache (...); 1 invalid after the repair retry (...)'."""
    counts = answer_counts(manifest) or {}
    cached = counts.get("cached")
    line = f"answers: {cached if cached is not None else 'unknown'} of {counts.get('events')} events answered from the "
    line += "response cache"
    line += " (their tokens are not in the counts above)"
    invalid = counts.get("invalid")
    if invalid is None:
        return line + "; invalid answers not counted (run written before that count existed)"
    meaning = INVALID_MEANS.get(str(manifest.get("agent")), "see the agent's documentation")
    return line + f"; {invalid} invalid after the repair retry ({meaning})"


def judge_header(manifest: dict[str, Any] | None) -> list[str]:
    """The report's first lines: which judge scored the run, per trace for trained judges, and
    what a fine-tuned model's data touched."""
    if manifest is None:
        return ["judge: the judgements stored in the files (paper protocol), none for timing and content"]
    judge = manifest.get("judge") or "none"
    lines = [f"judge: {judge}: {manifest.get('judge_provenance', 'provenance not stated')}"]
    for trace_id, line in (manifest.get("judge_per_trace") or {}).items():
        lines.append(f"judge for {trace_id}: {line}")
    if manifest.get("model_provenance"):
        saw = manifest.get("model_saw_traces") or []
        leak = f"; SAW THE SCORED TRACES {', '.join(saw)} (--allow-seen)" if saw else "; saw none of the scored traces"
        lines.append(f"model: {manifest['model_provenance']}{leak}")
    return lines


def make_report(source: Path, data: Path, samples: int = BOOTSTRAP_SAMPLES) -> Report:
    """Score `source` and everything shown beside it."""
    book = LabelBook.load(data)
    manifest = RunFolder(source).read_manifest() if (source / MANIFEST).is_file() else None
    main_metrics, scored = score_source_traces(source, data, samples)
    main_metrics["answers"] = answer_counts(manifest)
    covered = {s.trace_id: len(s.outcomes) for s in scored}
    name, judge = _describe(manifest, source)
    skip = manifest.get("agent") if manifest and not manifest.get("model") else None
    about = {"source": str(source), "data": str(data), "data_hash": folder_hash(data), "manifest": manifest}
    return Report(
        main=ReportRow(name=name, judge=judge, metrics=main_metrics),
        baselines=_baseline_rows(source, data, book, samples, skip, covered),
        published=_published_rows(data),
        notes=_notes(manifest, data, book, main_metrics),
        header=judge_header(manifest),
        about=about,
    )
