"""The always / never baselines through the agent registry."""

from __future__ import annotations

import asyncio

from proactive.agent.base import AGENTS, AgentConfig, AgentStep, Observation, get_agent
from proactive.types import Event


def test_always_and_never_are_registered_and_answer() -> None:
    assert {"always", "never", "llm"} <= set(AGENTS.names())
    observation = Observation(history=[Event(time="1717377997.0", text="The user opens main.py.")])
    always = asyncio.run(get_agent("always", AgentConfig())(observation))
    never = asyncio.run(get_agent("never", AgentConfig())(observation))
    assert isinstance(always, AgentStep) and isinstance(never, AgentStep)
    assert not always.proposal.is_silence and always.proposal.task
    assert never.proposal.is_silence
    # No model behind either: no tokens spent, nothing cached or invalid.
    for step in (always, never):
        assert step.usage is None and not step.cached and not step.invalid and step.problem == ""
