"""The `gated` agent (the default): a gate decides *when*, the offer writer decides *what*, or declines.

After each event the gate gives a probability that help would be welcome now. Below the
person's effective threshold the agent stays silent; meanwhile the writer's model reads the
new event into its KV cache (`OfferWriter.prefill`), so that when the gate does open only
the question and the short answer remain. At or above the threshold, the offer writer
(`agent/writer.py`) writes one task line that names its object, or declines, and then
the agent is silent too and the person sees nothing.

The agent never hears of traces: whoever builds it hands it its gate (the bench picks
each trace's leave-one-trace-out gate; the live assistant the full one). Built from a
config alone, `config.gate` names the gate: a gate folder or LOTO set (its `full` gate),
`llm` (the yes/no gate on `config.model`), or `default` (the shipped gate set, built on
first use: `gate/default.py`).
"""

from __future__ import annotations

from typing import Protocol

from proactive.agent.base import AgentConfig, AgentStep, Observation
from proactive.agent.writer import OfferWriter, WrittenOffer, proposal_of
from proactive.errors import UserError
from proactive.gate.base import Gate
from proactive.gate.threshold import UserThreshold
from proactive.models.base import Usage, shared_model
from proactive.types import Proposal

#: Generation cap of the writer: a JSON object with one short task line.
WRITER_MAX_TOKENS = 48


class Writer(Protocol):
    """What the gate hands an open moment to: `OfferWriter`, or a writer-free stand-in (evaluation)."""

    async def write(self, observation: Observation) -> WrittenOffer: ...

    async def prefill(self, observation: Observation) -> Usage | None: ...


class GatedAgent:
    """Agent protocol implementation: gate + lazily built offer writer."""

    name = "gated"

    def __init__(
        self, gate: Gate, config: AgentConfig, prefill: bool = True, writer: Writer | None = None, name: str = "gated"
    ) -> None:
        self.gate = gate
        self.config = config
        self.name = name
        #: Evaluate the writer's prompt as events arrive (while silent), so an offer only
        #: costs its own question and answer (about 2 s instead of 5-15 s on the 1.5B).
        self.prefill = prefill
        #: Per-user threshold; the live assistant calls `user_threshold.record(outcome)`.
        self.user_threshold = UserThreshold(base=gate.threshold)
        #: Given: used as is (e.g. the writer-free `candidates` agent of `assist simulate`).
        self._writer: Writer | None = writer
        self.writer_calls = 0
        self.declined = 0

    def _writer_for(self) -> Writer:
        if self._writer is None:
            if not self.config.model:
                raise UserError(
                    "agent 'gated' needs a writer model: pass --model, e.g. --model local/qwen2.5-coder-1.5b"
                )
            # One model object per spec (an LLM gate on the same spec gets the same one), so
            # the gate's and the writer's prompts share one KV prefix.
            model = shared_model(self.config.model)
            max_tokens = min(self.config.max_tokens, WRITER_MAX_TOKENS)
            self._writer = OfferWriter(model, max_tokens=max_tokens, temperature=self.config.temperature)
        return self._writer

    async def __call__(self, observation: Observation) -> AgentStep:
        probability = await self.gate(observation)
        if not self.user_threshold.opens(probability):
            usage = None
            if self.prefill and (self.config.model or self._writer is not None):
                # Its tokens are real work: counted, so the bench's token floor includes them.
                usage = await self._writer_for().prefill(observation)
            return AgentStep(proposal=Proposal(task=None, gate_probability=probability), usage=usage)
        self.writer_calls += 1
        offer = await self._writer_for().write(observation)
        if offer.task is None:
            self.declined += 1
        return AgentStep(
            proposal=proposal_of(offer, probability), usage=offer.usage, cached=offer.cached,
            invalid=offer.invalid, problem=offer.problem,
        )  # fmt: skip

    @property
    def provenance(self) -> str:
        """One line for the run report: which gate, and whether it saw the scored trace."""
        note = getattr(self.gate, "provenance", None)
        where = str(note) if note else f"gate {self.gate.name}"
        writer = self.config.model or type(self._writer).__name__
        return f"{where}; writer {writer} declined {self.declined} of {self.writer_calls} openings"

    def close(self) -> None:
        """Nothing to hand back: the writer's model is shared through the model layer."""


def create(config: AgentConfig, gate: Gate | None = None) -> GatedAgent:
    """Agent registry factory: `gate` as given (bench: per trace), else built from `config.gate`."""
    if gate is None:
        from proactive.gate.base import build_gate

        gate = build_gate(config)
    return GatedAgent(gate, config)
