"""`proactive bench score`: metrics from saved predictions in the authors' released format.

Works on a run folder (its `predictions/`), or on any folder of released-format trace
files (one JSON list of steps per trace, each step with `observation`, `agent_response`
and optionally `judgement`). Every event is matched to its human label by trace identity
and event (or, if times were rewritten, by text within the same trace); events without
a label are counted and reported, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proactive.bench.content import LabelBook, content_verdict
from proactive.bench.metrics import BOOTSTRAP_SAMPLES, EventOutcome, summarize
from proactive.bench.store import MANIFEST, PREDICTIONS
from proactive.data.loaders import load_splits
from proactive.errors import DataError, UserError
from proactive.types import Event, is_silence

SKIP_FILES = frozenset({"splits.json", MANIFEST, "metrics.json"})


@dataclass(frozen=True)
class ScoredTrace:
    """One prediction file turned into outcomes, plus where it belongs."""

    trace_id: str  # the test trace it matched (file stem when it matched none)
    outcomes: list[EventOutcome]
    unlabelled: list[str]  # texts of events without a human label


def prediction_files(source: Path) -> list[Path]:
    """Released-format files of a run folder (predictions/) or of a plain folder."""
    folder = source / PREDICTIONS if (source / MANIFEST).is_file() else source
    if not folder.is_dir():
        raise UserError(f"{source}: not a folder; pass a run folder or a folder of released-format trace files")
    files = sorted(p for p in folder.glob("*.json") if p.name not in SKIP_FILES)
    if not files:
        raise UserError(f"{folder}: no prediction files (*.json); run `proactive bench run` first")
    return files


def _predictions(step: dict[str, Any], path: Path, where: str) -> list[str | None]:
    """The step's predictions, silence as None ("null", "", "none" too: not the authors' bug)."""
    response = step.get("agent_response")
    if response is None or isinstance(response, dict):
        return [None]
    if isinstance(response, str):
        response = [response]
    if not isinstance(response, list) or not all(r is None or isinstance(r, str) for r in response):
        raise DataError(path, where, "agent_response", "expected a list of task strings or nulls")
    tasks = [None if is_silence(r) else r for r in response]
    return tasks or [None]


def _judgements(step: dict[str, Any], path: Path, where: str) -> list[bool] | None:
    verdicts = step.get("judgement")
    if verdicts is None:
        return None
    if not isinstance(verdicts, list) or not all(isinstance(v, bool) for v in verdicts):
        raise DataError(path, where, "judgement", "expected a list of booleans")
    return verdicts


def _read_steps(path: Path) -> list[dict[str, Any]]:
    try:
        steps = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"line {exc.lineno}", "", f"invalid JSON ({exc.msg})") from None
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise DataError(path, "", "", "expected a JSON list of steps (released trace format)")
    return steps


def _event(step: dict[str, Any], path: Path, where: str) -> Event:
    observation = step.get("observation")
    if not isinstance(observation, dict) or not isinstance(observation.get("event"), str):
        raise DataError(path, where, "observation.event", "missing; expected {time, event}")
    return Event(time=str(observation.get("time", "")), text=observation["event"])


def score_file(path: Path, book: LabelBook, with_content: bool = True) -> ScoredTrace:
    """Outcomes of one released-format prediction file."""
    steps = _read_steps(path)
    history: list[Event] = []
    outcomes: list[EventOutcome] = []
    unlabelled: list[str] = []
    trace_id = path.stem
    for index, step in enumerate(steps):
        where = f"[{index}]"
        history.append(_event(step, path, where))
        if index == 0:
            trace_id = book.trace_of_key.get(f"{history[0].time.strip()}|{history[0].text.strip()}", path.stem)
        tasks = _predictions(step, path, where)
        verdicts = _judgements(step, path, where)
        label = book.for_step(trace_id, history)
        proposed = [t for t in tasks if t is not None]
        content = None
        if with_content and proposed and label is not None and label.help_needed:
            verdict = content_verdict(proposed[0], label)
            if verdict is not None:
                content = (verdict.nearest_accepted, verdict.similarity_accepted)
        if label is None:
            unlabelled.append(history[-1].text)
        judged = tuple((t is not None, v) for t, v in zip(tasks, verdicts, strict=False)) if verdicts else ()
        outcomes.append(EventOutcome(
            trace=trace_id, proposed=bool(proposed), help_needed=label.help_needed if label else None,
            judged=judged, content=content,
        ))  # fmt: skip
    return ScoredTrace(trace_id=trace_id, outcomes=outcomes, unlabelled=unlabelled)


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
    scored = [score_file(path, book) for path in prediction_files(source)]
    metrics = score_traces(scored, load_splits(data), book, samples)
    metrics["unlabelled_events"] = {s.trace_id: len(s.unlabelled) for s in scored if s.unlabelled}
    metrics["unmatched_files"] = sorted({s.trace_id for s in scored} - set(book.traces))
    return metrics, scored


def score_source(source: Path, data: Path, samples: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Score a run folder or a folder of released-format files against the human labels."""
    return score_source_traces(source, data, samples)[0]
