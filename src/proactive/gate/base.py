"""The gate role: probability that the person needs help right now (cheap; decides *when*)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from proactive.registry import Registry
from proactive.types import AgentConfig, Observation


@runtime_checkable
class Gate(Protocol):
    """An async callable: observation -> probability in [0, 1] that help is needed now."""

    name: str
    threshold: float

    async def __call__(self, observation: Observation) -> float: ...


GATES = Registry("gate")
GATES.register("trained", "proactive.gate.trained:create")
GATES.register("llm", "proactive.gate.llm_gate:create")


def build_gate(config: AgentConfig) -> Gate:
    """The gate `config.gate` names, for live use (a LOTO set gives its `full` member)."""
    from proactive.gate.choose import choose_gate

    return choose_gate(config.gate, config.model, config.threshold)
