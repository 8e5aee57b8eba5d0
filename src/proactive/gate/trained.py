"""The trained gate: history features -> logistic regression -> probability help is needed.

Loaded from a gate folder (see gate/artifact.py). Each event sentence is encoded once
per process and kept in memory, so scoring the next prefix of a trace costs one MiniLM
encode of the new event plus a dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from proactive.gate.artifact import GateManifest, load_arrays, load_manifest
from proactive.gate.features import Encoder, featurize
from proactive.gate.training import default_encoder, gate_matrix, predict_logistic, words_of
from proactive.types import AgentConfig, Event, Observation


class TrainedGate:
    """Gate protocol implementation backed by a saved logistic model."""

    name = "trained"

    def __init__(
        self,
        manifest: GateManifest,
        arrays: dict[str, np.ndarray],
        encode: Encoder | None = None,
        folder: Path | None = None,
        saw_trace: bool = False,
    ) -> None:
        self.manifest = manifest
        self.arrays = arrays
        self.threshold = manifest.threshold
        self.folder = folder
        #: True when this gate was trained on the trace it is scoring (allowed only by a flag).
        self.saw_trace = saw_trace
        self._encode = encode
        self._words = words_of(arrays)

    @classmethod
    def load(cls, folder: Path, encode: Encoder | None = None, saw_trace: bool = False) -> TrainedGate:
        """A gate from one gate folder."""
        return cls(load_manifest(folder), load_arrays(folder), encode, folder, saw_trace)

    def probabilities(self, histories: Sequence[Sequence[Event]]) -> np.ndarray:
        """Probability that help is needed after the last event of each history."""
        if self._encode is None:
            self._encode = default_encoder()
        base = featurize(histories, self.manifest.blocks, self._encode)
        return predict_logistic(self.arrays, gate_matrix(histories, base, self.manifest.blocks, self._words))

    async def __call__(self, observation: Observation) -> float:
        return float(self.probabilities([observation.history])[0])

    @property
    def provenance(self) -> str:
        """One line for run reports: which gate, and whether it saw the scored trace."""
        where = f"gate {self.folder}" if self.folder else "gate (in memory)"
        blocks = "+".join(self.manifest.blocks)
        if self.saw_trace:
            return f"{where} ({blocks}): TRAINED ON THE SCORED TRACE (allowed by --allow-seen)"
        return f"{where} ({blocks}, threshold {self.threshold:.3f}): trained without the scored trace"


def create(config: AgentConfig) -> TrainedGate:
    """Gate registry factory: `config.gate` is a gate folder or a LOTO set (its `full` gate)."""
    from proactive.gate.choose import choose_gate

    if not config.gate:
        from proactive.errors import UserError

        raise UserError("the trained gate needs a gate folder: pass --gate DIR (from `proactive gate train`)")
    gate = choose_gate(config.gate, config.model, config.threshold)
    if not isinstance(gate, TrainedGate):
        from proactive.errors import UserError

        raise UserError(f"--gate {config.gate}: not a trained gate folder; pass a folder from `proactive gate train`")
    return gate
