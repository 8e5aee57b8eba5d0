"""`proactive bench score`: metrics from saved predictions in the authors' released format.

Works on a run folder (its `predictions/`), or on any folder of released-format trace
files, read by the one parser of that format (`proactive.data.released`). Every event
is matched to its human label by trace identity and event (or, if times were rewritten,
by text within the same trace); events without a label are counted and reported, and
entries that cannot be read are listed per file with their index, never dropped silently
and never a reason to refuse the rest of the folder.

A run folder (one with run.json) is different: its prediction files are our own output,
rebuilt from records/ on every start of the run, so an unreadable entry there means a
damaged file, not another system's habits. Scoring it would rewrite metrics.json from
part of the events under a header that still counts them all; it is refused instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proactive.bench.metrics import BOOTSTRAP_SAMPLES, EventOutcome, summarize
from proactive.bench.store import MANIFEST
from proactive.data.loaders import load_splits
from proactive.data.released import (
    ReleasedFile,
    ReleasedStep,
    UnreadableEntry,
    describe_unreadable,
    read_released,
    released_files,
)
from proactive.errors import DataError, UserError
from proactive.judge.content import LabelBook, content_verdict


@dataclass(frozen=True)
class ScoredTrace:
    """One prediction file turned into outcomes, plus where it belongs."""

    trace_id: str  # the test trace it matched (file stem when it matched none)
    outcomes: list[EventOutcome]
    unlabelled: list[str]  # texts of events without a human label
    file: str = ""  # the prediction file's name
    unreadable: list[UnreadableEntry] = field(default_factory=list)  # entries skipped, with reasons


def prediction_files(source: Path) -> list[Path]:
    """Released-format files of a run folder (predictions/) or of a plain folder."""
    return released_files(source)


def _outcome(trace_id: str, step: ReleasedStep, released: ReleasedFile, book: LabelBook, with_content: bool
             ) -> tuple[EventOutcome, bool]:  # fmt: skip
    """The step's outcome, and whether its event has a human label."""
    label = book.for_step(trace_id, released.history(step))
    proposed = step.proposed
    content = None
    if with_content and proposed and label is not None and label.help_needed:
        verdict = content_verdict(proposed[0], label)
        if verdict is not None:
            content = (verdict.nearest_accepted, verdict.similarity_accepted)
    verdicts = step.judgement
    judged = tuple((t is not None, v) for t, v in zip(step.tasks, verdicts, strict=False)) if verdicts else ()
    outcome = EventOutcome(
        trace=trace_id, proposed=bool(proposed), help_needed=label.help_needed if label else None,
        judged=judged, content=content,
    )  # fmt: skip
    return outcome, label is not None


def score_file(path: Path, book: LabelBook, with_content: bool = True) -> ScoredTrace:
    """Outcomes of the readable steps of one released-format prediction file."""
    released = read_released(path)
    trace_id = path.stem
    if released.events:
        first = released.events[0]
        trace_id = book.trace_of_key.get(f"{first.time.strip()}|{first.text.strip()}", path.stem)
    outcomes: list[EventOutcome] = []
    unlabelled: list[str] = []
    for step in released.steps:
        outcome, labelled = _outcome(trace_id, step, released, book, with_content)
        outcomes.append(outcome)
        if not labelled:
            unlabelled.append(released.history(step)[-1].text)
    return ScoredTrace(trace_id=trace_id, outcomes=outcomes, unlabelled=unlabelled, file=path.name,
                       unreadable=list(released.unreadable))  # fmt: skip


def score_traces(
    scored: Sequence[ScoredTrace], splits: dict[str, list[str]], book: LabelBook, samples: int = BOOTSTRAP_SAMPLES
) -> dict[str, Any]:
    """{"splits": {name: {timing, paper, content, counts}}} over the splits the files cover."""
    result: dict[str, Any] = {}
    for name, members in splits.items():
        chosen = [s for s in scored if s.trace_id in members]
        if not chosen:
            continue
        outcomes = [o for s in chosen for o in s.outcomes]
        summary = summarize(outcomes, samples)
        expected = sum(len(book.traces[t].events) for t in members if t in book.traces)
        summary["counts"] = {
            "traces": summary.pop("traces"),
            "events_scored": summary.pop("events_scored"),
            "events_unlabelled": summary.pop("events_unlabelled"),
            "events_judged": summary.pop("events_judged"),
            "events_in_split": expected,
            "traces_in_split": len(members),
        }
        result[name] = summary
    return {"splits": result}


def score_source_traces(
    source: Path, data: Path, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[dict[str, Any], list[ScoredTrace]]:
    """Metrics of a run folder or released-format folder, and the scored traces behind them."""
    book = LabelBook.load(data)
    files = prediction_files(source)
    scored = [score_file(path, book) for path in files]
    if (source / MANIFEST).is_file():
        _refuse_damaged(source, files, scored)
    if not any(s.outcomes for s in scored):
        problems = "; ".join(filter(None, (unreadable_note(s) for s in scored)))
        raise UserError(f"{source}: no readable prediction in any file ({problems or 'all files are empty'})")
    readable = [s for s in scored if s.outcomes]
    metrics = score_traces(readable, load_splits(data), book, samples)
    metrics["unlabelled_events"] = {s.trace_id: len(s.unlabelled) for s in readable if s.unlabelled}
    metrics["unmatched_files"] = sorted({s.trace_id for s in readable} - set(book.traces))
    metrics["unreadable_entries"] = {
        s.file: [entry.model_dump() for entry in s.unreadable] for s in scored if s.unreadable
    }
    return metrics, scored


def _refuse_damaged(source: Path, files: list[Path], scored: list[ScoredTrace]) -> None:
    """A DataError naming the first damaged prediction file of a run folder and where it breaks."""
    for path, trace in zip(files, scored, strict=True):
        if trace.unreadable:
            first = trace.unreadable[0]
            where = "" if first.index is None else f"entry {first.index}"  # a torn file's reason names the line
            raise DataError(
                path, where, "",
                f"{first.reason}; this run's prediction file is damaged, so nothing was scored or written: "
                f"rerun `proactive bench run` with --out {source} and the same options to rebuild it from records/",
            )  # fmt: skip


def unreadable_note(scored: ScoredTrace) -> str | None:
    """'file X: entries 3, 7 unreadable (reason)' for a report, or None."""
    return describe_unreadable(scored.file, scored.unreadable)


def score_source(source: Path, data: Path, samples: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Score a run folder or a folder of released-format files against the human labels."""
    return score_source_traces(source, data, samples)[0]
