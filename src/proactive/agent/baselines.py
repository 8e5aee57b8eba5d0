"""Baseline agents printed beside every score: always propose, never propose.

`always` bounds recall from above (it speaks at every event), `never` shows what
silence alone earns; an agent that does not beat both on timing F1 has learned nothing
about *when* to speak.
"""

from __future__ import annotations

from proactive.agent.base import AgentConfig, AgentStep, Observation
from proactive.types import Proposal

#: The generic offer the `always` agent makes at every event.
GENERIC_TASK = "Offer help with what the user is currently working on."


class AlwaysAgent:
    """Proposes the same generic offer of help after every event."""

    name = "always"

    async def __call__(self, observation: Observation) -> AgentStep:
        proposal = Proposal(
            task=GENERIC_TASK,
            purpose="unknown",
            thoughts="always propose",
            message="Can I help with what you are doing?",
        )
        return AgentStep(proposal=proposal)


class NeverAgent:
    """Stays silent after every event."""

    name = "never"

    async def __call__(self, observation: Observation) -> AgentStep:
        return AgentStep(proposal=Proposal(task=None, purpose="unknown", thoughts="never propose"))


def always(config: AgentConfig | None = None) -> AlwaysAgent:
    """Factory registered as `always` (needs no model)."""
    return AlwaysAgent()


def never(config: AgentConfig | None = None) -> NeverAgent:
    """Factory registered as `never` (needs no model)."""
    return NeverAgent()
