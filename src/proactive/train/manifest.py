"""The manifest of a training data set (`manifest.json` in a `proactive train build --out` folder).

It says what a model fitted on the data has effectively seen: `training_traces` is the
union of the traces the examples came from and the traces the filtering judge was
trained on. The fine-tuning commands copy it into the model's folder, and the bench
refuses (unless `--allow-seen`) a model whose data touched a scored trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from proactive.errors import UserError
from proactive.fileio import write_atomic

MANIFEST_FILE = "manifest.json"


class SourceRef(BaseModel):
    """One input of a build: what kind, where, and the sha256 of its bytes."""

    kind: Literal["gym-traces", "reward-rows", "kto-rows", "labelled-traces"] = Field(
        description="What the input holds."
    )
    path: str = Field(description="The path as given.")
    sha256: str = Field(description="sha256 of the file (for a folder: of its trace files, in name order).")


class DatasetManifest(BaseModel):
    """Provenance of an agent SFT + KTO data set (`train build`) or a writer SFT set (`train writer-data`)."""

    kind: Literal["agent-sft+kto", "writer-sft"] = Field(default="agent-sft+kto", description="Data set kind.")
    created: str = Field(description="UTC time of the build (ISO 8601).")
    code_version: str = Field(description="proactive version (plus git commit when known).")
    sources: list[SourceRef] = Field(default_factory=list, description="Inputs of the build.")
    counts: dict[str, int] = Field(default_factory=dict, description="Examples, rows and drops by kind.")
    judge: str | None = Field(default=None, description="The filtering judge and its provenance line.")
    judge_training_traces: list[str] = Field(default_factory=list, description="Trace keys the judge was fitted on.")
    trace_keys: list[str] = Field(default_factory=list, description="Every source trace the examples came from.")
    training_traces: list[str] = Field(
        default_factory=list, description="trace_keys + judge_training_traces: what a model fitted here has seen."
    )
    teacher: str | None = Field(default=None, description="Model spec of the teacher that wrote targets.")
    token_budget: int = Field(description="Conversations were cut from the front to this many tokens.")
    excluded_test_rows: int = Field(default=0, description="Reward rows dropped because they belong to test traces.")


def save_dataset_manifest(folder: Path, manifest: DatasetManifest) -> None:
    """Write `manifest.json` atomically."""
    write_atomic(folder / MANIFEST_FILE, manifest.model_dump_json(indent=2) + "\n")


def load_dataset_manifest(folder: Path) -> DatasetManifest:
    """The manifest of a data folder; one-line UserError naming the file and the fix when missing or bad."""
    path = Path(folder).expanduser() / MANIFEST_FILE
    fix = "rebuild the folder with `proactive train build --out DIR`"
    if not path.is_file():
        raise UserError(f"{path}: missing; not a training data folder; {fix}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({type(exc).__name__}); {fix}") from None
    try:
        return DatasetManifest.model_validate(raw)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "(root)"
        raise UserError(f"{path}: field '{field}' invalid or missing; {fix}") from None
