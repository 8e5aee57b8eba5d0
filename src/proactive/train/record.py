"""training.json: what a fine-tuned artifact was trained from, written next to every artifact.

The bench reads `training_traces` from it (adapter folder, merged folder, `<file.gguf>.training.json`)
and refuses a model whose data touched a scored trace, so every copy must carry it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from proactive.errors import DataError
from proactive.fileio import write_atomic

RECORD_FILE = "training.json"


class LossPoint(BaseModel):
    """The trainer's logged loss at one optimizer step."""

    step: int
    loss: float


class TrainingRecord(BaseModel):
    """Provenance of a fine-tuned model (adapter, merged folder or GGUF)."""

    kind: str = Field(description="'sft' or 'kto'.")
    base: str = Field(description="The base model as given (folder, alias or .gguf path).")
    data: list[str] = Field(description="Dataset folders trained on.")
    training_traces: list[str] = Field(description="Union of the datasets' trace keys (the bench checks these).")
    steps: int = Field(description="Optimizer steps done in total (across resumes).")
    seed: int
    lora: dict[str, Any] = Field(description="LoRA settings (r, alpha, dropout, target modules).")
    hyper: dict[str, Any] = Field(default_factory=dict, description="Learning rate, batch, lengths, bf16, epochs.")
    losses: list[LossPoint] = Field(default_factory=list, description="Loss per logging step.")
    seconds_per_step: float | None = Field(default=None, description="Wall seconds per optimizer step, last run.")
    started: str
    finished: str | None = None
    code_version: str
    derived: list[str] = Field(default_factory=list, description="Later steps applied (merge, export-gguf ...).")






def write_record(path: Path, record: TrainingRecord) -> None:
    """Write `record` to `path` (a folder gets `training.json`, a file path is used as is)."""
    target = path / RECORD_FILE if path.is_dir() else path
    write_atomic(target, record.model_dump_json(indent=2) + "\n")


def read_record(path: Path) -> TrainingRecord:
    """The record in a folder (`training.json`) or at a file path; one line when missing or bad."""
    target = path / RECORD_FILE if path.is_dir() else path
    if not target.is_file():
        raise DataError(target, "", "", "no training record; was this made by `proactive train sft|kto`?")
    try:
        return TrainingRecord.model_validate_json(target.read_text(encoding="utf-8"))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise DataError(target, "", field, f"{first['msg']}; retrain or restore the file") from None
