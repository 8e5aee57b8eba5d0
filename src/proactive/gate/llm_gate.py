"""The LLM gate: the embedded model is asked "would an offer of help be welcome now?" (yes/no).

The probability is P(yes) read from the first-token log-probabilities over {yes, no}
(`ChatModel.choice_probabilities`), never from sampled text. The question is appended to
the activity log the offer writer reads (`prompts/activity.py`), so the gate and the
writer share one prompt prefix: llama.cpp evaluates only the new event and the question
for the gate, and only the writer's question when the gate opens.
"""

from __future__ import annotations

from collections.abc import Sequence

from proactive.models.base import ChatModel, Message, shared_model
from proactive.prompts.activity import GATE_TEMPLATE, shared_prefix, with_question
from proactive.types import AgentConfig, Event, Observation

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
DEFAULT_THRESHOLD = 0.5


def gate_messages(observation: Observation) -> list[Message]:
    """The yes/no question about the latest event, after the (recent) activity log."""
    return with_question(shared_prefix(observation), GATE_TEMPLATE)


class LlmGate:
    """Gate protocol implementation asking a chat model."""

    name = "llm"

    def __init__(self, model: ChatModel, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model
        self.threshold = threshold

    async def ask(self, observation: Observation) -> float:
        """P(yes) for 'would help be welcome now?'."""
        choices = await self.model.choice_probabilities(gate_messages(observation), ["yes", "no"])
        return float(choices["yes"])

    async def probability(self, history: Sequence[Event]) -> float:
        """P(yes) for a bare history (no earlier offers): what training and evaluation score."""
        return await self.ask(Observation(history=list(history)))

    async def __call__(self, observation: Observation) -> float:
        return await self.ask(observation)

    @property
    def provenance(self) -> str:
        """One line for run reports (no training: nothing to leak)."""
        return f"gate llm on {self.model.spec}: no training, threshold {self.threshold:.3f}"


def create(config: AgentConfig) -> LlmGate:
    """Gate registry factory: `config.model` (default qwen2.5-coder-1.5b), `config.threshold`."""
    model = shared_model(config.model or DEFAULT_MODEL)
    return LlmGate(model, config.threshold if config.threshold is not None else DEFAULT_THRESHOLD)
