"""The one place a gate spec becomes a gate: a folder, a LOTO set, `llm`, or `default`.

Specs: `default` (the shipped set, `gate/default.py`, built on first use), `llm` (the
yes/no gate on the writer's model), or a folder from `proactive gate train [--loto]`.
Evaluation code passes the identity of the trace it scores, so a LOTO set gives the
member fitted without that trace and a gate that saw it is refused unless `allow_seen`;
live use passes none and gets the `full` member. Agents never see trace identities.
"""

from __future__ import annotations

from pathlib import Path

from proactive.errors import UserError
from proactive.gate.base import Gate

DEFAULT_GATE = "default"


#: The default set each (data folder, state folder) resolved to first in this process. Its name
#: carries a fingerprint of the feature code on disk, so a run that resolved it again per trace
#: loaded a set fitted on code edited meanwhile (a 17-column gate in a 16-column process); a run
#: keeps the set it started with.
_PINNED_DEFAULT: dict[tuple[Path, Path], Path] = {}


def gate_folder(spec: str, data: Path | None = None) -> Path:
    """The folder a trained-gate spec names (`default` resolves, and is built on first use)."""
    if spec == DEFAULT_GATE:
        from proactive.gate.default import default_gate_folder
        from proactive.settings import data_dir, state_dir

        key = (data_dir(data).resolve(), state_dir().resolve())
        pinned = _PINNED_DEFAULT.get(key)
        if pinned is None or not pinned.is_dir():
            pinned = _PINNED_DEFAULT[key] = default_gate_folder(key[0])
        return pinned
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"--gate {spec}: no such gate folder; train one with `proactive gate train --loto --out DIR`, "
            "or pass --gate default or --gate llm"
        )
    return folder


def choose_gate(
    spec: str | None,
    model: str | None = None,
    threshold: float | None = None,
    trace_key: str | None = None,
    allow_seen: bool = False,
    data: Path | None = None,
) -> Gate:
    """The gate for one trace (`trace_key`) or for live use (None)."""
    spec = spec or DEFAULT_GATE
    if spec == "llm":
        from proactive.gate.llm_gate import DEFAULT_MODEL, DEFAULT_THRESHOLD, LlmGate
        from proactive.models.base import shared_model

        return LlmGate(shared_model(model or DEFAULT_MODEL), DEFAULT_THRESHOLD if threshold is None else threshold)
    from proactive.gate.artifact import pick_gate_folder
    from proactive.gate.trained import TrainedGate

    folder, seen = pick_gate_folder(gate_folder(spec, data), trace_key, allow_seen)
    gate = TrainedGate.load(folder, saw_trace=seen)
    if threshold is not None:
        gate.threshold = threshold
    return gate
