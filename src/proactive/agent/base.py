"""The agent role: after each event, a proposal (a task) or silence, with what it cost."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from proactive.models.base import Usage
from proactive.registry import Registry

# Observation and AgentConfig live in proactive.types: gates read them too, and the gate
# room must not import the agent room (the agent builds on gates, not the reverse).
from proactive.types import AgentConfig, Observation, Proposal

__all__ = ["AGENTS", "Agent", "AgentConfig", "AgentStep", "Observation", "get_agent"]


class AgentStep(BaseModel):
    """What an agent returns after one event: the proposal, and what producing it cost."""

    proposal: Proposal = Field(description="The task offered, or silence.")
    usage: Usage | None = Field(default=None, description="Tokens of the model calls made for it (None: no call).")
    cached: bool = Field(default=False, description="True when the model's answer came from the response cache.")
    invalid: bool = Field(default=False, description="True when the model's answer failed its schema.")
    problem: str = Field(default="", description="Why the answer was invalid, when it was.")


@runtime_checkable
class Agent(Protocol):
    """An async callable: observation -> step (proposal + cost). Events of one trace arrive in order."""

    name: str

    async def __call__(self, observation: Observation) -> AgentStep: ...


AGENTS = Registry("agent")
AGENTS.register("always", "proactive.agent.baselines:always")
AGENTS.register("never", "proactive.agent.baselines:never")
AGENTS.register("llm", "proactive.agent.llm_agent:create")
AGENTS.register("gated", "proactive.agent.gated:create")

#: The agent `bench run`, `scripts/run.sh` and `proactive assist` use when none is named.
DEFAULT_AGENT = "gated"
#: The chat model of model-backed agents when none is named (the embedded default, `proactive models pull`).
DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"

#: Agents that write with a chat model and cannot run without `--model` (the gated agent's
#: writer too), so a run without one is refused before its folder is written.
AGENTS_NEEDING_MODEL = frozenset({"llm", "gated"})
#: Agents built around a gate: evaluation code picks the gate per trace and passes it in.
AGENTS_WITH_GATE = frozenset({"gated"})


def get_agent(name: str, config: AgentConfig | None = None, **parts: Any) -> Agent:
    """Build the agent registered under `name`; `parts` (e.g. `gate=`) go to factories that take them."""
    factory = AGENTS.factory(name)
    agent: Agent = factory(config or AgentConfig(), **parts) if parts else factory(config or AgentConfig())
    return agent
