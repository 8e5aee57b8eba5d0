"""Writing gates to disk: one gate, or a leave-one-trace-out set the bench can use safely.

A LOTO set holds, per test trace, a gate trained on every other trace (its manifest
lists the trace keys it saw), plus a `full` gate on everything for live use. Training is
resumable: a folder whose manifest already lists the intended training traces is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from rich.console import Console

from proactive.data.grouping import drop_traces
from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.gate.artifact import (
    MANIFEST,
    GateManifest,
    load_manifest,
    save_gate,
    save_index,
)
from proactive.gate.features import FEATURE_BLOCKS
from proactive.gate.training import HAND_BLOCKS, TrainSpec, default_encoder, examples_from_rows, train_gate
from proactive.provenance import LotoEntry, LotoIndex
from proactive.types import AnnotatedRow, Trace


def candidate_block_sets() -> list[list[str]]:
    """A wider set for --select-blocks: the defaults plus sentence-embedding variants."""
    return [
        ["words"],
        ["words", *HAND_BLOCKS],
        list(HAND_BLOCKS),
        ["embed_last", "similarity", *HAND_BLOCKS],
        ["words", "embed_last", "similarity", *HAND_BLOCKS],
    ]


def train_gate_folder(
    rows: Sequence[AnnotatedRow], out: Path, spec: TrainSpec, excluded: Collection[str] = ()
) -> GateManifest:
    """Train one gate on `rows` minus the excluded traces and save it to `out`."""
    from proactive.errors import UserError

    kept = drop_traces(rows, set(excluded))
    examples = examples_from_rows(kept)
    if not examples:
        raise UserError(f"{out}: no annotated rows left after excluding {len(excluded)} trace(s)")
    manifest, arrays = train_gate(examples, spec, default_encoder())
    leaked = set(manifest.training_traces) & set(excluded)
    if leaked:
        raise AssertionError(f"excluded traces were trained on: {sorted(leaked)}")
    save_gate(out, manifest, arrays)
    return manifest


def _already_trained(folder: Path, expected: set[str]) -> bool:
    if not (folder / MANIFEST).is_file():
        return False
    return set(load_manifest(folder).training_traces) == expected


def train_loto_set(
    rows: Sequence[AnnotatedRow],
    traces: Sequence[Trace],
    out: Path,
    spec: TrainSpec,
    excluded: Collection[str] = (),
    console: Console | None = None,
) -> LotoIndex:
    """One gate per test trace trained without it, a `full` gate, and `index.json`."""
    from rich.progress import Progress

    all_keys = {row_trace_key(r) for r in rows} - set(excluded)
    entries = []
    jobs = [(t.id, trace_key_of_events(t.events)) for t in traces] + [("full", "")]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training gates", total=len(jobs))
        for name, key in jobs:
            folder = out / name
            drop = set(excluded) | ({key} if key else set())
            if not _already_trained(folder, all_keys - drop):
                train_gate_folder(rows, folder, spec, drop)
            if key:
                entries.append(LotoEntry(trace_id=name, trace_key=key, folder=name))
            progress.advance(task)
    index = LotoIndex(entries=entries, full="full")
    save_index(out, index)
    return index


__all__ = ["FEATURE_BLOCKS", "candidate_block_sets", "train_gate_folder", "train_loto_set"]
