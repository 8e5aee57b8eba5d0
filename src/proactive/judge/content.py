"""Human labels of test events, and the content check of a proposed task against them.

The content check is shared by the content metric and the `human-labels` judge: a
proposed task is "right" when its nearest annotated candidate (MiniLM cosine) is one
the annotators accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proactive.data.fetch import folder_hash
from proactive.data.labels import event_key, event_labels, trace_key_of_events
from proactive.data.loaders import REWARD_FILE, TEST_DIR, load_reward_rows, load_splits, load_trace_file
from proactive.types import Event, EventLabel, Trace


@functools.lru_cache(maxsize=4)
def _load_book(data: str, digest: str) -> LabelBook:
    # `digest` is part of the key so edited data files are read again.
    return LabelBook.build(Path(data))


@dataclass(frozen=True)
class ContentVerdict:
    """How a proposed task compares with the annotated candidates of its event."""

    nearest_accepted: bool
    similarity_accepted: float  # cosine to the closest accepted candidate (0 when none)
    similarity_rejected: float  # cosine to the closest rejected candidate (-1 when none)


def content_verdict(task: str, label: EventLabel) -> ContentVerdict | None:
    """Compare `task` with the event's accepted and rejected candidates; None when there are none."""
    if not label.accepted_tasks and not label.rejected_tasks:
        return None
    from proactive.models.embeddings import embed

    vectors = embed([task, *label.accepted_tasks, *label.rejected_tasks])
    sims = vectors[1:] @ vectors[0]
    accepted = sims[: len(label.accepted_tasks)]
    rejected = sims[len(label.accepted_tasks) :]
    best_accepted = float(np.max(accepted)) if len(accepted) else -1.0
    best_rejected = float(np.max(rejected)) if len(rejected) else -1.0
    return ContentVerdict(
        nearest_accepted=bool(len(accepted)) and best_accepted > best_rejected,
        similarity_accepted=max(best_accepted, 0.0) if len(accepted) else 0.0,
        similarity_rejected=best_rejected,
    )


class LabelBook:
    """Human labels of every ProactiveBench test event, found by trace identity + event.

    Labels are looked up by (trace key, event time and text), so a history taken from
    any file is matched to the right test event; a released prediction file whose event
    times were rewritten is matched by text within the same trace as a fallback.
    """

    def __init__(self, traces: Sequence[Trace], labels: dict[tuple[str, int], EventLabel]) -> None:
        self.traces = {trace.id: trace for trace in traces}
        self.by_event: dict[tuple[str, tuple[str, str]], EventLabel] = {}
        self.by_text: dict[tuple[str, str], EventLabel | None] = {}
        self.trace_of_key: dict[str, str] = {}
        for trace in traces:
            key = trace_key_of_events(trace.events)
            self.trace_of_key[key] = trace.id
            for index, event in enumerate(trace.events):
                label = labels.get((trace.id, index))
                if label is None:
                    continue
                self.by_event[(key, event_key(event))] = label
                text_key = (trace.id, event.text.strip())
                # The same sentence twice in one trace is ambiguous by text: no fallback.
                self.by_text[text_key] = None if text_key in self.by_text else label

    @classmethod
    def load(cls, data: Path) -> LabelBook:
        """Labels of every trace named in splits.json, from the reward rows (cached per folder)."""
        return _load_book(str(data.resolve()), folder_hash(data))

    @classmethod
    def build(cls, data: Path) -> LabelBook:
        """Labels of every trace named in splits.json, read from the files now."""
        stems = dict.fromkeys(stem for names in load_splits(data).values() for stem in names)
        traces = [load_trace_file(data / TEST_DIR / f"{stem}.json") for stem in stems]
        rows = load_reward_rows(data / REWARD_FILE)
        return cls(traces, event_labels(traces, rows))

    def for_history(self, history: Sequence[Event]) -> EventLabel | None:
        """Label of the last event of `history`, matched by trace key and event."""
        return self.by_event.get((trace_key_of_events(history), event_key(history[-1])))

    def for_step(self, trace_id: str, history: Sequence[Event]) -> EventLabel | None:
        """Label of a prediction-file step: exact match first, else same text in the same trace."""
        exact = self.for_history(history)
        if exact is not None:
            return exact
        test_id = self.trace_of_key.get(trace_key_of_events(history), trace_id)
        return self.by_text.get((test_id, history[-1].text.strip()))

    @property
    def help_needed_count(self) -> int:
        """Number of labelled events where help was needed."""
        return sum(label.help_needed for label in self.by_event.values())
