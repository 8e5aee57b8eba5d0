"""Human labels for ProactiveBench test events, and trace identity for annotated rows.

Every test event has annotated reward rows whose history ends with that event (same time
and text). From them: was help needed (majority of rows), and which proposed tasks the
annotators accepted or rejected. `task_status` in the trace files is NOT used: it agrees
with the annotations on only 148 of 233 events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from proactive.types import AnnotatedRow, Event, EventLabel, Trace


def event_key(event: Event) -> tuple[str, str]:
    """Identity of an event across files: (time text, sentence)."""
    return (event.time.strip(), event.text.strip())


def trace_key_of_events(events: Sequence[Event]) -> str:
    """Trace identity used everywhere: the first event's time and text."""
    first = events[0]
    return f"{first.time.strip()}|{first.text.strip()}"


def row_trace_key(row: AnnotatedRow) -> str:
    """Trace identity of an annotated row (its history's first event)."""
    return trace_key_of_events(row.history)


def group_rows_by_trace(rows: Iterable[AnnotatedRow]) -> dict[str, list[AnnotatedRow]]:
    """Rows grouped by trace identity, in first-seen order."""
    groups: dict[str, list[AnnotatedRow]] = defaultdict(list)
    for row in rows:
        groups[row_trace_key(row)].append(row)
    return dict(groups)


def trace_keys_by_id(traces: Iterable[Trace]) -> dict[str, str]:
    """Trace file stem -> trace identity key, for matching reward rows to test traces."""
    return {trace.id: trace_key_of_events(trace.events) for trace in traces}


def event_labels(traces: Sequence[Trace], rows: Sequence[AnnotatedRow]) -> dict[tuple[str, int], EventLabel]:
    """Per test event (trace id, index): the human label, when annotated rows exist for it.

    A row labels the event its history ends with, but only within the same trace (the
    same sentence can occur in two traces).
    """
    by_last: dict[tuple[str, tuple[str, str]], list[AnnotatedRow]] = defaultdict(list)
    for row in rows:
        by_last[(row_trace_key(row), event_key(row.history[-1]))].append(row)
    labels: dict[tuple[str, int], EventLabel] = {}
    for trace in traces:
        key = trace_key_of_events(trace.events)
        for index, event in enumerate(trace.events):
            matched = by_last.get((key, event_key(event)))
            if not matched:
                continue
            votes = sum(row.help_needed for row in matched)
            accepted = sorted({r.task for r in matched if r.task is not None and r.valid})
            rejected = sorted({r.task for r in matched if r.task is not None and not r.valid})
            labels[(trace.id, index)] = EventLabel(
                trace_id=trace.id,
                index=index,
                help_needed=votes * 2 > len(matched),
                accepted_tasks=accepted,
                rejected_tasks=rejected,
            )
    return labels
