"""The LLM gate: the embedded model is asked "does the person need help now?" (yes/no).

The probability is P(yes) read from the first-token log-probabilities over {yes, no}
(`ChatModel.choice_probabilities`), never from sampled text. The whole history goes in
one user message, oldest event first, so consecutive events of a trace share a prompt
prefix and llama.cpp re-evaluates only the new tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from importlib import resources

import jinja2
import numpy as np

from proactive.agent.base import AgentConfig, Observation
from proactive.gate.evaluate import LotoData, TraceScores
from proactive.models.base import ChatModel, Message, get_model
from proactive.types import Event

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
DEFAULT_THRESHOLD = 0.5
MAX_EVENTS = 30

_env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _template(name: str) -> jinja2.Template:
    text = resources.files("proactive.prompts").joinpath(name).read_text(encoding="utf-8")
    return _env.from_string(text)


def gate_messages(history: Sequence[Event]) -> list[Message]:
    """The yes/no question about the latest event, with the (recent) history."""
    events = list(history)[-MAX_EVENTS:]
    return [
        {"role": "system", "content": _template("gate_llm_system.j2").render().strip()},
        {"role": "user", "content": _template("gate_llm_user.j2").render(events=events).strip()},
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


def run_llm_loto(
    data: LotoData, model_spec: str, progress: Callable[[str], None] | None = None
) -> tuple[list[TraceScores], list[str]]:
    """Score every labelled test event with the LLM gate; thresholds by leave-one-trace-out.

    The LLM gate has no training, but its threshold does: for each trace it is the
    F1-best threshold on the *other* test traces' probabilities, so no trace picks its own.
    """
    from proactive.gate.training import best_threshold

    gate = LlmGate(get_model(model_spec))
    raw: dict[str, tuple[list[float], list[bool], float]] = {}
    for trace in data.traces:
        if progress is not None:
            progress(trace.id)
        labelled = data.truth[trace.id]
        started = time.perf_counter()
        probabilities = [asyncio.run(gate.probability(trace.events[: i + 1])) for i, _ in labelled]
        raw[trace.id] = (probabilities, [t for _, t in labelled], time.perf_counter() - started)
    scores: list[TraceScores] = []
    for trace in data.traces:
        others = [tid for tid in raw if tid != trace.id]
        pooled = np.array([p for tid in others for p in raw[tid][0]])
        truth = np.array([t for tid in others for t in raw[tid][1]], dtype=bool)
        threshold, _ = best_threshold(pooled, truth)
        probabilities, labels, seconds = raw[trace.id]
        scores.append(
            TraceScores(
                trace_id=trace.id,
                probabilities=probabilities,
                opened=[p >= threshold for p in probabilities],
                truth=labels,
                seconds=seconds,
                training_traces=[],
            )
        )
    notes = [f"model {model_spec}; threshold per trace chosen on the other test traces (LOTO)"]
    return scores, notes
