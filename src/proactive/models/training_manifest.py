"""Which traces a fine-tuned model has seen, read from the training manifest beside it.

`proactive train` writes `training.json` into every adapter and merged-model folder and
`<file>.gguf.training.json` beside an exported GGUF, each with `training_traces`: the
trace keys its data touched (source traces and the traces of the judge that filtered
the data). The bench asks this module, by model spec, so a model fine-tuned on a scored
trace is refused exactly as a judge or gate would be.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from proactive.errors import UserError
from proactive.models import store

TRAINING_FILE = "training.json"
GGUF_SIDECAR_SUFFIX = ".training.json"


class TrainedOn(BaseModel):
    """What a fine-tuned model's manifests say about its training data."""

    manifests: list[str] = Field(description="The manifest files read (adapter, merged folder or GGUF sidecar).")
    training_traces: list[str] = Field(description="Trace keys the training data touched (union over manifests).")
    base: str = Field(default="", description="The base model it was fine-tuned from, as recorded.")

    @property
    def summary(self) -> str:
        """One line for run.json and the report."""
        return (f"fine-tuned from {self.base or 'an unrecorded base'} on data touching "
                f"{len(self.training_traces)} trace(s) ({', '.join(self.manifests)})")  # fmt: skip


def gguf_sidecar(path: Path) -> Path:
    """The training manifest written beside an exported GGUF file."""
    return path.with_name(path.name + GGUF_SIDECAR_SUFFIX)


def _read(path: Path) -> tuple[list[str], str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        traces = raw["training_traces"]
        if not isinstance(traces, list) or not all(isinstance(t, str) for t in traces):
            raise TypeError
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValidationError):
        raise UserError(
            f"{path}: field 'training_traces' is missing or not a list of trace keys; re-run the "
            "`proactive train` command that wrote it (a model without a readable manifest cannot be checked for leaks)"
        ) from None
    return traces, str(raw.get("base", ""))


def _candidates(spec: str) -> list[Path]:
    provider, _, name = spec.partition("/")
    if provider == "local":
        path = Path(name).expanduser()
        return [gguf_sidecar(path if path.suffix == ".gguf" else store.resolve(name))]
    if provider == "hf":
        files = []
        for part in name.split("+"):
            path = Path(part).expanduser()
            if path.is_dir():
                files.append(path / TRAINING_FILE)
            elif path.suffix == ".gguf":
                files.append(gguf_sidecar(path))
        return files
    return []


def trained_on(spec: str) -> TrainedOn | None:
    """The training record of the model `spec` names, or None for a model nobody here fine-tuned."""
    found = [path for path in _candidates(spec) if path.is_file()]
    if not found:
        return None
    traces: set[str] = set()
    base = ""
    for path in found:
        keys, recorded_base = _read(path)
        traces.update(keys)
        base = base or recorded_base
    return TrainedOn(manifests=[str(p) for p in found], training_traces=sorted(traces), base=base)
