"""The LLM gate: the embedded model is asked "does the person need help now?" (yes/no).

The probability is P(yes) read from the first-token log-probabilities over {yes, no}
(`ChatModel.choice_probabilities`), never from sampled text. The whole history goes in
one user message, oldest event first, so consecutive events of a trace share a prompt
prefix and llama.cpp re-evaluates only the new tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from proactive.models.base import ChatModel, Message, get_model
from proactive.prompts import render
from proactive.types import AgentConfig, Event, Observation

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
DEFAULT_THRESHOLD = 0.5
MAX_EVENTS = 30


def gate_messages(history: Sequence[Event]) -> list[Message]:
    """The yes/no question about the latest event, with the (recent) history."""
    events = list(history)[-MAX_EVENTS:]
    return [
        {"role": "system", "content": render("gate_llm_system.j2").strip()},
        {"role": "user", "content": render("gate_llm_user.j2", events=events).strip()},
    ]


class LlmGate:
    """Gate protocol implementation asking a chat model."""

    name = "llm"

    def __init__(self, model: ChatModel, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model
        self.threshold = threshold

    async def probability(self, history: Sequence[Event]) -> float:
        """P(yes) for 'does the person need help now?'."""
        choices = await self.model.choice_probabilities(gate_messages(history), ["yes", "no"])
        return float(choices["yes"])

    async def __call__(self, observation: Observation) -> float:
        return await self.probability(observation.history)


def create(config: AgentConfig) -> LlmGate:
    """Gate registry factory: `config.model` (default qwen2.5-coder-1.5b), `config.threshold`."""
    model = get_model(config.model or DEFAULT_MODEL)
    return LlmGate(model, config.threshold if config.threshold is not None else DEFAULT_THRESHOLD)
