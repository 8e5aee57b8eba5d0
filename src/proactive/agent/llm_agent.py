"""The `llm` agent: the paper's protocol with our own prompt.

The conversation is a system prompt, then per event one user turn holding that event,
with the agent's earlier answers as assistant turns in between. Each answer is a JSON
object (purpose, thoughts, task or null, message), grammar-constrained through the
model layer's schema support; a task of null, "", "null" or "none" is silence.

Speed: step k's conversation is step k-1's conversation plus its answer (the raw text
the model wrote, not a re-serialisation) plus one new user turn, and earlier turns are
never rewritten, so llama.cpp reuses the KV cache and only evaluates the new tokens.
String caps keep answers short: generation is the slow part on a CPU.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, Field

from proactive.agent.base import AgentConfig, Observation
from proactive.errors import UserError
from proactive.models.base import ChatModel, Message, Usage, get_model
from proactive.models.structured import ModelOutputError
from proactive.types import Event, Proposal, is_silence

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
SYSTEM_TEMPLATE = "agent_llm_system.j2"
EVENT_TEMPLATE = "agent_llm_event.j2"
_templates = Environment(loader=FileSystemLoader(PROMPTS), undefined=StrictUndefined, keep_trailing_newline=False)


class AgentAnswer(BaseModel):
    """What the model writes after each event (field order is the order it writes them)."""

    purpose: str = Field(max_length=60, description="What the person is trying to do.")
    thoughts: str = Field(max_length=80, description="Whether they need help now, in one sentence.")
    task: str | None = Field(max_length=120, description="The task to offer, or null for silence.")
    message: str = Field(max_length=80, description="The one-line offer shown to the person, or ''.")


class WriterAnswer(BaseModel):
    """What the writer of the `gated` agent writes: the gate already decided to speak, so a task is required."""

    purpose: str = Field(max_length=60, description="What the person is trying to do.")
    thoughts: str = Field(max_length=80, description="What would help most right now, in one sentence.")
    task: str = Field(min_length=3, max_length=120, description="The task to offer.")
    message: str = Field(max_length=80, description="The one-line offer shown to the person.")


WRITER_SYSTEM_TEMPLATE = "agent_writer_system.j2"


def _clock(event: Event) -> str:
    seconds = event.seconds
    if seconds is None:
        return event.time
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _gap(previous: Event | None, event: Event) -> str | None:
    """Time since the previous event ('4s', '2m05s'), or None when unknown."""
    if previous is None or previous.seconds is None or event.seconds is None:
        return None
    seconds = max(0, round(event.seconds - previous.seconds))
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"


def event_turn(history: list[Event], index: int) -> str:
    """The user turn for event `index` (rendered from the template, deterministic)."""
    event = history[index]
    previous = history[index - 1] if index else None
    return _templates.get_template(EVENT_TEMPLATE).render(
        clock=_clock(event), gap=_gap(previous, event), event=event.text
    ).strip()


def answer_text(proposal: Proposal) -> str:
    """An earlier proposal as the JSON the model would have written (used after a resume)."""
    return json.dumps({
        "purpose": proposal.purpose, "thoughts": proposal.thoughts,
        "task": None if proposal.is_silence else proposal.task, "message": proposal.message,
    })  # fmt: skip


#: Idle models per spec, handed to the next trace's agent (one trace per model at a time),
#: so consecutive traces share one loaded model and its cached system prompt.
_idle_models: dict[str, list[ChatModel]] = {}


class LLMAgent:
    """One trace's agent: one model, one growing conversation."""

    name = "llm"

    def __init__(self, config: AgentConfig, model: ChatModel, must_propose: bool = False) -> None:
        self.config = config
        self.model = model
        # must_propose: the writer of the gated agent. The gate has decided *when*; letting
        # the writer re-decide made a 1.5B writer fall silent where the gate opened.
        self.schema: type[AgentAnswer] | type[WriterAnswer] = WriterAnswer if must_propose else AgentAnswer
        template = WRITER_SYSTEM_TEMPLATE if must_propose else SYSTEM_TEMPLATE
        self.system = _templates.get_template(template).render().strip()
        self.answers: list[str] = []  # raw answer texts, one per earlier event
        self.last_usage: Usage | None = None
        self.last_cached = False

    def messages(self, observation: Observation) -> list[Message]:
        """System prompt, then event turns and answer turns alternating, ending on the new event."""
        history = observation.history
        if len(self.answers) != len(history) - 1:  # resumed mid-trace: rebuild from saved proposals
            if len(observation.previous) != len(history) - 1:
                raise UserError("llm agent: observation.previous must hold one proposal per earlier event")
            self.answers = [answer_text(p) for p in observation.previous]
        messages: list[Message] = [{"role": "system", "content": self.system}]
        for index in range(len(history)):
            messages.append({"role": "user", "content": event_turn(history, index)})
            if index < len(history) - 1:
                messages.append({"role": "assistant", "content": self.answers[index]})
        return messages

    async def __call__(self, observation: Observation) -> Proposal:
        messages = self.messages(observation)
        try:
            result = await self.model.generate(
                messages, schema=self.schema, temperature=self.config.temperature, max_tokens=self.config.max_tokens
            )
        except ModelOutputError as exc:
            # A malformed answer is silence, recorded as such; the run goes on.
            proposal = Proposal(task=None, thoughts=f"invalid answer: {str(exc)[:120]}")
            self.answers.append(answer_text(proposal))
            self.last_usage, self.last_cached = None, False
            return proposal
        self.last_usage, self.last_cached = result.usage, result.cached
        answer: AgentAnswer | WriterAnswer = result.parsed
        self.answers.append(result.text)
        task = None if is_silence(answer.task) else (answer.task or "").strip()
        return Proposal(task=task, purpose=answer.purpose, thoughts=answer.thoughts, message=answer.message)

    def close(self) -> None:
        """Give the model back for the next trace."""
        if self.config.model:
            _idle_models.setdefault(self.config.model, []).append(self.model)


def create(config: AgentConfig | None = None, must_propose: bool = False) -> LLMAgent:
    """Factory registered as `llm`; needs `config.model`. `must_propose` makes it a writer."""
    config = config or AgentConfig()
    if not config.model:
        raise UserError("agent 'llm' needs a model: pass --model, e.g. --model local/qwen2.5-coder-1.5b")
    idle = _idle_models.get(config.model)
    model = idle.pop() if idle else get_model(config.model)
    return LLMAgent(config, model, must_propose=must_propose)
