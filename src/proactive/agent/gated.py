"""The `gated` agent: a cheap gate decides *when*, the `llm` agent writes *what*.

After each event the gate gives a probability that help is needed. Below the user's
effective threshold the agent stays silent without touching the LLM (the writer is not
even loaded until the gate first opens); at or above it, the `llm` agent writes the task.

The gate comes from `AgentConfig.gate`:

- a folder from `proactive gate train --loto` (one gate per test trace + a full gate):
  the gate trained *without* `config.trace_key` is picked;
- a single gate folder: refused when its manifest lists `config.trace_key`, unless
  `config.allow_seen` (then `gate_saw_trace` is True so the report can say so);
- the name `llm`: the LLM gate on `config.model`.
"""

from __future__ import annotations

from proactive.agent.base import Agent, AgentConfig, Observation, get_agent
from proactive.errors import UserError
from proactive.gate.base import GATES, Gate
from proactive.gate.threshold import UserThreshold
from proactive.types import Proposal


class GatedAgent:
    """Agent protocol implementation: gate + lazily built writer."""

    name = "gated"

    def __init__(self, gate: Gate, config: AgentConfig) -> None:
        self.gate = gate
        self.config = config
        #: Per-user threshold; the live assistant calls `user_threshold.record(outcome)`.
        self.user_threshold = UserThreshold(base=gate.threshold)
        #: True when the gate was trained on the trace being scored (only with allow_seen).
        self.gate_saw_trace = bool(getattr(gate, "saw_trace", False))
        self._writer: Agent | None = None
        self.writer_calls = 0

    def _writer_agent(self) -> Agent:
        if self._writer is None:
            self._writer = get_agent("llm", self.config)
        return self._writer

    async def __call__(self, observation: Observation) -> Proposal:
        probability = await self.gate(observation)
        threshold = self.user_threshold.effective
        if not self.user_threshold.opens(probability):
            return Proposal(
                task=None,
                thoughts=f"gate {probability:.3f} < threshold {threshold:.3f}: stay silent",
                gate_probability=probability,
            )
        self.writer_calls += 1
        proposal = await self._writer_agent()(observation)
        return proposal.model_copy(update={"gate_probability": probability})


def _build_gate(config: AgentConfig) -> Gate:
    spec = config.gate
    if not spec:
        raise UserError("the gated agent needs --gate DIR (from `proactive gate train --loto`) or --gate llm")
    name = "llm" if spec == "llm" else "trained"
    gate: Gate = GATES.factory(name)(config)
    return gate


def create(config: AgentConfig) -> GatedAgent:
    """Agent registry factory."""
    return GatedAgent(_build_gate(config), config)
