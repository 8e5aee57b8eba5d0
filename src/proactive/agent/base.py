"""The agent role: after each event, a proposal (a task) or silence."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from proactive.registry import Registry
from proactive.types import Event, Judgement, Proposal


class Observation(BaseModel):
    """Everything an agent may look at when deciding after the latest event."""

    history: list[Event] = Field(description="Events so far, the latest last.")
    previous: list[Proposal] = Field(
        default_factory=list, description="The agent's own proposals after each earlier event."
    )
    feedback: list[Judgement | None] = Field(
        default_factory=list,
        description="Per earlier proposal, how it was received (None when nobody judged it).",
    )


class AgentConfig(BaseModel):
    """Options shared by agent factories; each agent reads what it needs."""

    model: str | None = Field(default=None, description="Chat model spec, e.g. 'local/qwen2.5-coder-1.5b'.")
    gate: str | None = Field(default=None, description="Gate name or artifact folder (gated agent).")
    threshold: float | None = Field(default=None, description="Gate threshold override.")
    max_tokens: int = Field(default=320, description="Generation cap per answer.")
    temperature: float = Field(default=0.0, description="Sampling temperature.")
    trace_key: str | None = Field(
        default=None,
        description="Identity of the trace about to be run (first event 'time|text'), so agents with "
        "learned parts can pick or refuse a model that was trained on it.",
    )
    allow_seen: bool = Field(
        default=False, description="Allow learned parts trained on the trace being scored (reported)."
    )


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


def get_agent(name: str, config: AgentConfig | None = None) -> Agent:
    """Build the agent registered under `name`."""
    agent: Agent = AGENTS.factory(name)(config or AgentConfig())
    return agent
