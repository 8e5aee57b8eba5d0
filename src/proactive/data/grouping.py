"""Whole-trace splits: leave-one-trace-out folds and exclusion of traces by file.

Annotated rows from one trace share events, topic and often the very same last event,
so any split that puts one trace on both sides leaks. Every fold and every exclusion
here works on trace keys (`proactive.data.labels.row_trace_key`), never on rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.data.loaders import load_reward_rows, load_trace_file
from proactive.errors import DataError
from proactive.types import AnnotatedRow


def row_trace_keys(rows: Sequence[AnnotatedRow]) -> list[str]:
    """The trace key of every row, in row order."""
    return [row_trace_key(row) for row in rows]


def trace_order(keys: Sequence[str]) -> list[str]:
    """Distinct trace keys in first-seen order (stable, so folds are deterministic)."""
    return list(dict.fromkeys(keys))


def leave_one_trace_out(keys: Sequence[str]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (held-out trace key, train indices, test indices), one fold per trace."""
    array = np.asarray(keys, dtype=object)
    for key in trace_order(keys):
        test = np.flatnonzero(array == key)
        train = np.flatnonzero(array != key)
        yield key, train, test


def grouped_folds(keys: Sequence[str], n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_folds` (train, test) index pairs with whole traces assigned to one fold each."""
    traces = trace_order(keys)
    order = np.random.default_rng(seed).permutation(len(traces))
    fold_of = {traces[i]: rank % n_folds for rank, i in enumerate(order)}
    assignment = np.array([fold_of[k] for k in keys])
    return [(np.flatnonzero(assignment != f), np.flatnonzero(assignment == f)) for f in range(n_folds)]


def trace_keys_in_file(path: Path) -> set[str]:
    """Trace keys named by a file: a released trace JSON (list of steps) or reward-row JSONL.

    A JSON list is read as one trace; anything else is read line by line as reward rows.
    """
    if not path.is_file():
        raise DataError(path, "", "", "file not found; pass a trace JSON or a reward-row JSONL file")
    text = path.read_text(encoding="utf-8").lstrip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            trace = load_trace_file(path)
            if not trace.events:
                raise DataError(path, "", "", "trace has no steps; nothing to exclude")
            return {trace_key_of_events(trace.events)}
    return {row_trace_key(row) for row in load_reward_rows(path)}


def drop_traces(rows: Sequence[AnnotatedRow], excluded: set[str]) -> list[AnnotatedRow]:
    """Rows whose trace is not in `excluded` (whole traces go, never single rows)."""
    return [row for row in rows if row_trace_key(row) not in excluded]
