"""The trained judge on disk: `model.json` (arrays as lists) + `manifest.json` (provenance).

Plain JSON on purpose: no pickle to trust, readable by any version, a few hundred KB.
Any damage (missing file, bad JSON, wrong fields, hash mismatch) becomes one `UserError`
line naming the file and the fix.

A leave-one-trace-out set (`proactive judge train --loto`) is a folder with `index.json`
naming one judge per test trace (fitted without it) and a `full` judge on every row, as
the gate's LOTO sets (gate/artifact.py). `pick_judge_folder` is the one place that
decides which judge may score a trace: a judge whose manifest lists the trace is
refused unless the caller allows it explicitly.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from proactive.errors import UserError
from proactive.fileio import write_atomic
from proactive.judge.trained import JudgeModel
from proactive.provenance import LotoIndex as BaseLotoIndex
from proactive.provenance import file_sha256, pick_for_trace
from proactive.settings import state_dir

MODEL_FILE = "model.json"
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.json"
FORMAT = "proactive-trained-judge/1"


class Manifest(BaseModel):
    """Where a trained judge came from: data, excluded traces, settings, code, grouped-CV scores."""

    format: str = Field(default=FORMAT, description="Artifact format tag.")
    created: str = Field(description="UTC time of training (ISO 8601).")
    code_version: str = Field(description="proactive version (plus git commit when known).")
    data_file: str = Field(description="Training file as given.")
    data_sha256: str = Field(description="sha256 of the training file's bytes.")
    rows: int = Field(description="Rows used for fitting (after exclusions).")
    excluded_traces: list[str] = Field(default_factory=list, description="Trace keys dropped before fitting.")
    excluded_rows: int = Field(default=0, description="Rows dropped with those traces.")
    training_traces: list[str] = Field(description="Trace keys the judge has seen (for overlap warnings).")
    settings: dict[str, object] = Field(description="TrainedSettings used.")
    cv: dict[str, object] = Field(default_factory=dict, description="Leave-one-trace-out scores on the training rows.")
    model_sha256: str = Field(default="", description="sha256 of model.json, checked on load.")


class LotoIndex(BaseLotoIndex):
    """Index of a leave-one-trace-out judge set."""

    format: str = Field(default=f"{FORMAT}-loto", description="Index format tag.")


def default_artifact_dir() -> Path:
    """Where `proactive judge train` writes when no --out is given, and `trained` loads from."""
    return state_dir() / "judge-trained"


def default_loto_dir() -> Path:
    """Where `proactive judge train --loto` writes when no --out is given, and `trained-loto` loads from."""
    return state_dir() / "judge-loto"








def save_artifact(folder: Path, model: JudgeModel, manifest: Manifest) -> None:
    """Write model.json then manifest.json (with the model's hash) into `folder`."""
    model_path = folder / MODEL_FILE
    write_atomic(model_path, model.model_dump_json())
    manifest.model_sha256 = file_sha256(model_path)
    write_atomic(folder / MANIFEST_FILE, manifest.model_dump_json(indent=2))


def _read_json(path: Path, fix: str) -> object:
    if not path.is_file():
        raise UserError(f"{path}: missing; {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt judge artifact ({type(exc).__name__}); {fix}") from None


def load_artifact(folder: Path) -> tuple[JudgeModel, Manifest]:
    """Load and check a trained-judge folder; one-line UserError when anything is wrong."""
    fix = "retrain it with `proactive judge train --data FILE --out DIR`"
    if not folder.is_dir():
        raise UserError(f"{folder}: no trained judge here; {fix}")
    raw_manifest = _read_json(folder / MANIFEST_FILE, fix)
    raw_model = _read_json(folder / MODEL_FILE, fix)
    try:
        manifest = Manifest.model_validate(raw_manifest)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise UserError(f"{folder / MANIFEST_FILE}: field '{field}' invalid or missing; {fix}") from None
    if manifest.format != FORMAT:
        raise UserError(f"{folder / MANIFEST_FILE}: format '{manifest.format}' is not {FORMAT}; {fix}")
    if manifest.model_sha256 and manifest.model_sha256 != file_sha256(folder / MODEL_FILE):
        raise UserError(f"{folder / MODEL_FILE}: does not match the manifest's sha256 (damaged); {fix}")
    try:
        model = JudgeModel.model_validate(raw_model)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise UserError(f"{folder / MODEL_FILE}: field '{field}' invalid or missing; {fix}") from None
    return model, manifest


def save_index(folder: Path, index: LotoIndex) -> None:
    """Write the index of a LOTO set (after its judges, so an index names only complete folders)."""
    write_atomic(folder / INDEX_FILE, index.model_dump_json(indent=2))


def load_index(folder: Path) -> LotoIndex | None:
    """The LOTO index of `folder`, or None when it holds a single judge."""
    path = folder / INDEX_FILE
    if not path.is_file():
        return None
    fix = "retrain the set with `proactive judge train --loto --out DIR`"
    raw = _read_json(path, fix)
    try:
        return LotoIndex.model_validate(raw)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise UserError(f"{path}: field '{field}' invalid or missing; {fix}") from None


def load_manifest(folder: Path) -> Manifest:
    """The manifest of one judge folder (checked as `load_artifact` checks it)."""
    return load_artifact(folder)[1]


def pick_judge_folder(folder: Path, trace_key: str | None, allow_seen: bool) -> tuple[Path, bool]:
    """The judge folder that may score the trace `trace_key`, and whether it saw that trace.

    A LOTO set gives the judge fitted without the trace; a trace outside every entry (or
    unknown, `trace_key` None, as in `judge eval`) gets the `full` judge. A judge whose
    manifest lists `trace_key` among its training traces is refused unless `allow_seen`.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: no trained judge here; train one with `proactive judge train [--loto] --out DIR`")
    return pick_for_trace(
        folder, load_index(folder), trace_key, allow_seen, lambda f: load_manifest(f).training_traces, "judge"
    )
