"""Leave-one-trace-out evaluation of gates against the human help-needed labels.

For each of the 12 ProactiveBench test traces, a gate trained on the other traces' rows
(never a row of the scored trace: checked, not assumed) scores every event of it. The
timing metrics treat "gate opens" as "propose" and `help_needed` as the truth, and their
95% intervals come from resampling whole traces.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from proactive.data.grouping import drop_traces
from proactive.data.labelled import LabelledTrace
from proactive.data.labels import event_labels, trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
from proactive.gate.training import GateExample, TrainSpec, examples_from_rows
from proactive.metrics import (
    BOOTSTRAP_SAMPLES,
    SEED,
    auc,
    bootstrap_groups,
    classification_metrics,
    confusion_counts,
    zero_undefined,
)
from proactive.types import AnnotatedRow, Trace

METRICS = ("f1", "precision", "recall", "accuracy", "balanced_accuracy")


class TraceScores(BaseModel):
    """One held-out trace: per labelled event, the gate's probability, decision and the truth."""

    trace_id: str
    probabilities: list[float]
    opened: list[bool]
    truth: list[bool]
    seconds: float = Field(description="Wall time spent scoring this trace's events.")
    training_traces: list[str] = Field(description="Trace keys the scoring gate was trained on.")
    chosen: str = Field(default="", description="Blocks and C the inner CV picked for this trace's gate.")


class GateReport(BaseModel):
    """Pooled LOTO figures with 95% trace-bootstrap intervals."""

    gate: str
    events: int
    positives: int
    f1: float
    precision: float
    recall: float
    accuracy: float
    balanced_accuracy: float
    auc: float
    opened: int
    ms_per_event: float
    intervals: dict[str, tuple[float, float]]
    always_propose_f1: float
    per_trace: dict[str, float] = Field(description="F1 per held-out trace.")
    notes: list[str] = Field(default_factory=list)


def timing_metrics(opened: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1, accuracy, balanced accuracy of 'propose when opened'.

    The shared formulas (`proactive.metrics`) the bench's timing figures use too, so a
    gate's LOTO figures and a bench run's timing figures are the same computation.
    """
    return _rates(confusion_counts(opened, truth))


def _rates(counts: np.ndarray) -> dict[str, float]:
    figures = zero_undefined(classification_metrics(counts))
    return {name: figures[name] for name in METRICS}


def bootstrap_intervals(
    scores: Sequence[TraceScores], resamples: int = BOOTSTRAP_SAMPLES, seed: int = SEED
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each metric, resampling whole traces (the shared bootstrap)."""
    per_trace = np.array([confusion_counts(np.array(s.opened), np.array(s.truth)) for s in scores]).reshape(-1, 4)
    estimates = bootstrap_groups(per_trace, _rates, samples=resamples, seed=seed)
    return {
        m: (_or_value(estimates[m].lo, estimates[m].value), _or_value(estimates[m].hi, estimates[m].value))
        for m in METRICS
    }


def _or_value(bound: float | None, value: float | None) -> float:
    # No interval (a single trace, or none): the interval collapses onto the point.
    return float(bound if bound is not None else value or 0.0)


def summarize(gate: str, scores: Sequence[TraceScores], notes: Sequence[str] = ()) -> GateReport:
    """Pool per-trace scores into one report."""
    opened = np.array([o for s in scores for o in s.opened], dtype=bool)
    truth = np.array([t for s in scores for t in s.truth], dtype=bool)
    probabilities = np.array([p for s in scores for p in s.probabilities])
    events = len(truth)
    seconds = sum(s.seconds for s in scores)
    return GateReport(
        gate=gate,
        events=events,
        positives=int(truth.sum()),
        **timing_metrics(opened, truth),
        auc=auc(probabilities, truth),
        opened=int(opened.sum()),
        ms_per_event=1000 * seconds / max(1, events),
        intervals=bootstrap_intervals(scores),
        always_propose_f1=timing_metrics(np.ones_like(truth), truth)["f1"],
        per_trace={s.trace_id: timing_metrics(np.array(s.opened), np.array(s.truth))["f1"] for s in scores},
        notes=list(notes),
    )


class LotoData(BaseModel):
    """Test traces, their labels and the annotated rows, loaded once."""

    model_config = {"arbitrary_types_allowed": True}

    traces: list[Trace]
    rows: list[AnnotatedRow]
    truth: dict[str, list[tuple[int, bool]]] = Field(description="trace id -> (event index, help_needed).")


def load_loto_data(data: Path, split: str = "real_average") -> LotoData:
    """Load the test traces of `split`, all annotated rows, and per-event labels."""
    traces = load_test_traces(data, split)
    rows = load_reward_rows(data / REWARD_FILE)
    labels = event_labels(traces, rows)
    truth = {
        trace.id: [(i, labels[(trace.id, i)].help_needed) for i in range(len(trace.events)) if (trace.id, i) in labels]
        for trace in traces
    }
    return LotoData(traces=traces, rows=rows, truth=truth)


def loto_examples(data: LotoData, trace: Trace) -> list[GateExample]:
    """Training examples for scoring `trace`: every row of every other trace.

    Raises if a row of `trace` slipped through, so the protocol cannot leak silently.
    """
    held_key = trace_key_of_events(trace.events)
    examples = examples_from_rows(drop_traces(data.rows, {held_key}))
    leaked = [e for e in examples if e.trace_key == held_key]
    if leaked:
        raise AssertionError(f"LOTO leak: {len(leaked)} training examples come from held-out trace {trace.id}")
    return examples


ScoreFn = Callable[[Trace, list[GateExample]], TraceScores]


def score_trace_with_trained(spec: TrainSpec) -> ScoreFn:
    """Scorer for the trained gate: train on the examples, score the trace event by event."""
    from proactive.gate.trained import TrainedGate
    from proactive.gate.training import default_encoder, train_gate
    from proactive.models.embeddings import EmbeddingCache

    def score(trace: Trace, examples: list[GateExample]) -> TraceScores:
        manifest, arrays = train_gate(examples, spec, default_encoder())
        # A fresh in-memory cache: each sentence is encoded when its event arrives, as live.
        cold = EmbeddingCache(Path(":memory:"))
        gate = TrainedGate(manifest, arrays, cold.encode)
        started = time.perf_counter()
        probabilities = [float(gate.probabilities([trace.events[: i + 1]])[0]) for i in range(len(trace.events))]
        seconds = time.perf_counter() - started
        return TraceScores(
            trace_id=trace.id,
            probabilities=probabilities,
            opened=[p >= gate.threshold for p in probabilities],
            truth=[],
            seconds=seconds,
            training_traces=manifest.training_traces,
            chosen=f"{'+'.join(manifest.blocks)} C={manifest.regularization:g} t={manifest.threshold:.2f}",
        )

    return score


def run_loto(data: LotoData, score: ScoreFn, progress: Callable[[str], None] | None = None) -> list[TraceScores]:
    """Score every test trace with a gate that never saw it; keep only labelled events."""
    results = []
    for trace in data.traces:
        if progress is not None:
            progress(trace.id)
        examples = loto_examples(data, trace)
        scored = score(trace, examples)
        if trace_key_of_events(trace.events) in set(scored.training_traces):
            raise AssertionError(f"LOTO leak: the gate scoring {trace.id} was trained on it")
        labelled = data.truth[trace.id]
        per_event = len(trace.events)
        results.append(
            scored.model_copy(
                update={
                    "probabilities": [scored.probabilities[i] for i, _ in labelled],
                    "opened": [scored.opened[i] for i, _ in labelled],
                    "truth": [t for _, t in labelled],
                    "seconds": scored.seconds * len(labelled) / max(1, per_event),
                }
            )
        )
    return results


def run_llm_loto(
    data: LotoData, model_spec: str, progress: Callable[[str], None] | None = None
) -> tuple[list[TraceScores], list[str]]:
    """Score every labelled test event with the LLM gate; thresholds by leave-one-trace-out.

    The LLM gate has no training, but its threshold does: for each trace it is the
    F1-best threshold on the *other* test traces' probabilities, so no trace picks its own.
    """
    from proactive.gate.llm_gate import LlmGate
    from proactive.gate.training import best_threshold
    from proactive.models.base import get_model

    gate = LlmGate(get_model(model_spec))
    raw: dict[str, tuple[list[float], list[bool], float]] = {}
    for trace in data.traces:
        if progress is not None:
            progress(trace.id)
        labelled = data.truth[trace.id]
        started = time.perf_counter()
        probabilities = [asyncio.run(gate.probability(trace.events[: i + 1])) for i, _ in labelled]
        raw[trace.id] = (probabilities, [t for _, t in labelled], time.perf_counter() - started)
    scores: list[TraceScores] = []
    for trace in data.traces:
        others = [tid for tid in raw if tid != trace.id]
        pooled = np.array([p for tid in others for p in raw[tid][0]])
        truth = np.array([t for tid in others for t in raw[tid][1]], dtype=bool)
        threshold, _ = best_threshold(pooled, truth)
        probabilities, labels, seconds = raw[trace.id]
        scores.append(
            TraceScores(
                trace_id=trace.id,
                probabilities=probabilities,
                opened=[p >= threshold for p in probabilities],
                truth=labels,
                seconds=seconds,
                training_traces=[],
            )
        )
    notes = [f"model {model_spec}; threshold per trace chosen on the other test traces (LOTO)"]
    return scores, notes


def score_labelled_traces(
    traces: Sequence[LabelledTrace], probabilities: Callable[[Trace], list[float]], threshold: float
) -> list[TraceScores]:
    """Every event of our own labelled traces scored by one gate (which never saw them)."""
    scores = []
    for labelled in traces:
        started = time.perf_counter()
        values = probabilities(labelled.trace)
        scores.append(
            TraceScores(
                trace_id=labelled.trace.id,
                probabilities=values,
                opened=[p >= threshold for p in values],
                truth=list(labelled.help_needed),
                seconds=time.perf_counter() - started,
                training_traces=[],
            )
        )
    return scores


def trained_gate_on_rows(rows: Sequence[AnnotatedRow], spec: TrainSpec) -> Any:
    """A trained gate fitted on every annotated row (for traces outside the annotated 16)."""
    from proactive.gate.trained import TrainedGate
    from proactive.gate.training import default_encoder, train_gate

    manifest, arrays = train_gate(examples_from_rows(rows), spec, default_encoder())
    return TrainedGate(manifest, arrays)
