"""The agent role: after each event, a proposal (a task) or silence."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from proactive.registry import Registry

# Observation and AgentConfig live in proactive.types: gates read them too, and the gate
# room must not import the agent room (the agent builds on gates, not the reverse).
from proactive.types import AgentConfig, Observation, Proposal

__all__ = ["AGENTS", "Agent", "AgentConfig", "Observation", "get_agent"]


@runtime_checkable
class Agent(Protocol):
    """An async callable: observation -> proposal. Events of one trace arrive in order."""

    name: str

    async def __call__(self, observation: Observation) -> Proposal: ...


AGENTS = Registry("agent")
AGENTS.register("always", "proactive.agent.baselines:always")
AGENTS.register("never", "proactive.agent.baselines:never")
AGENTS.register("llm", "proactive.agent.llm_agent:create")
AGENTS.register("gated", "proactive.agent.gated:create")

#: Agents that write with a chat model and cannot run without `--model` (the gated agent's
#: writer too), so a run without one is refused before its folder is written.
AGENTS_NEEDING_MODEL = frozenset({"llm", "gated"})


def get_agent(name: str, config: AgentConfig | None = None) -> Agent:
    """Build the agent registered under `name`."""
    agent: Agent = AGENTS.factory(name)(config or AgentConfig())
    return agent
