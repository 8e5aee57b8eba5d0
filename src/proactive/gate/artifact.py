"""Gate artifacts on disk: one trained gate per folder, and leave-one-trace-out sets.

A gate folder holds ``manifest.json`` (feature blocks, threshold, the trace keys it was
trained on, its inner-CV figures) and ``weights.npz`` (standardisation and logistic
weights: plain arrays, no pickle). A LOTO set is a folder with ``index.json`` naming one
gate per test trace (trained without that trace) and an optional ``full`` gate trained
on every trace.

`pick_gate_folder` is the one place that decides which folder may score a trace: a gate
that saw the trace is refused unless the caller allows it explicitly.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from proactive.errors import DataError, UserError
from proactive.fileio import write_atomic, write_atomic_bytes
from proactive.provenance import LotoIndex, pick_for_trace

MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
INDEX = "index.json"
#: Arrays of a trained gate (`gate.training.fit_logistic`); `idf` too when there is a `vocabulary`.
REQUIRED_ARRAYS = ("mean", "scale", "coef", "intercept")
RETRAIN = "retrain with `proactive gate train`"


class GateManifest(BaseModel):
    """What a trained gate is and what it saw."""

    kind: str = Field(default="trained", description="Gate implementation name in the GATES registry.")
    blocks: list[str] = Field(description="Feature blocks, in canonical order (see gate/features.py).")
    regularization: float = Field(description="Inverse L2 strength C of the logistic regression.")
    threshold: float = Field(description="Probability at or above which the gate opens (chosen by grouped CV).")
    training_traces: list[str] = Field(description="Trace keys ('time|text' of the first event) trained on.")
    examples: int = Field(description="Distinct annotated histories trained on.")
    positives: int = Field(description="How many of them needed help.")
    inner_cv: dict[str, float] = Field(
        default_factory=dict, description="Out-of-fold figures on the training traces (F1 at the threshold, AUC)."
    )
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def save_gate(folder: Path, manifest: GateManifest, arrays: dict[str, np.ndarray]) -> None:
    """Write a gate folder (manifest last, so a folder with a manifest is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    savez: Any = np.savez  # numpy's stub reads **arrays as the allow_pickle flag
    weights = io.BytesIO()
    savez(weights, **arrays)
    write_atomic_bytes(folder / WEIGHTS, weights.getvalue())
    write_atomic(folder / MANIFEST, manifest.model_dump_json(indent=2))


def load_manifest(folder: Path) -> GateManifest:
    """The manifest of a gate folder, or a one-line error."""
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(path, "", "", "gate manifest not found; train one with `proactive gate train`")
    try:
        return GateManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(path, "", "", f"invalid gate manifest ({str(exc).splitlines()[0]})") from None


def load_arrays(folder: Path) -> dict[str, np.ndarray]:
    """The weight arrays of a gate folder."""
    path = folder / WEIGHTS
    if not path.is_file():
        raise DataError(path, "", "", "gate weights not found; retrain with `proactive gate train`")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # not a (complete) .npz
        raise DataError(path, "", "", f"corrupt gate weights ({type(exc).__name__}); {RETRAIN}") from None
    _check_arrays(path, arrays)
    return arrays


def _check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The arrays `predict_logistic` and the word block need, with matching lengths."""
    needed = [*REQUIRED_ARRAYS, *(["idf"] if "vocabulary" in arrays else [])]
    for name in needed:
        if name not in arrays:
            raise DataError(path, "", name, f"array missing; {RETRAIN}")
    width = arrays["coef"].shape[-1] if arrays["coef"].ndim else 0
    for name in ("mean", "scale"):
        if arrays[name].shape[-1:] != (width,):
            raise DataError(path, "", name, f"shape {arrays[name].shape} does not match coef ({width},); {RETRAIN}")
    if arrays["intercept"].size < 1:
        raise DataError(path, "", "intercept", f"empty; {RETRAIN}")


def check_gate_folder(folder: Path) -> None:
    """Load every gate a folder (single gate or LOTO set) may use, so a broken one is refused
    before a run starts rather than at the first trace that needs it."""
    if not folder.is_dir():
        raise UserError(f"{folder}: gate folder not found; train one with `proactive gate train --out DIR`")
    index = load_index(folder)
    names = ["."]
    if index is not None:
        names = [entry.folder for entry in index.entries] + ([index.full] if index.full else [])
    for name in names:
        load_manifest(folder / name)
        load_arrays(folder / name)


def save_index(folder: Path, index: LotoIndex) -> None:
    """Write the index of a LOTO set."""
    write_atomic(folder / INDEX, index.model_dump_json(indent=2))


def load_index(folder: Path) -> LotoIndex | None:
    """The LOTO index of `folder`, or None when it is a single gate."""
    path = folder / INDEX
    if not path.is_file():
        return None
    try:
        return LotoIndex.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(path, "", "", f"invalid gate index ({str(exc).splitlines()[0]})") from None


def pick_gate_folder(folder: Path, trace_key: str | None, allow_seen: bool) -> tuple[Path, bool]:
    """The gate folder that may score the trace `trace_key`, and whether it saw that trace.

    A LOTO set gives the gate trained without the trace; a trace outside every entry (or
    unknown, `trace_key` None, as in live use) gets the `full` gate. A gate whose
    training traces include `trace_key` is refused unless `allow_seen`.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: gate folder not found; train one with `proactive gate train --out DIR`")
    return pick_for_trace(
        folder, load_index(folder), trace_key, allow_seen, lambda f: load_manifest(f).training_traces, "gate"
    )
