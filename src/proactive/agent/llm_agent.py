"""The `llm` agent: the paper's protocol with our own prompt.

The conversation is a system prompt, then per event one user turn holding that event,
with the agent's earlier answers as assistant turns in between. Each answer is a JSON
object (purpose, thoughts, task or null, message), grammar-constrained through the
model layer's schema support; a task of null, "", "null" or "None." is silence.

An answer that still fails its schema after the model layer's repair retry is an
*invalid answer*: the returned `AgentStep.invalid` says so, and the bench counts it. The `llm` agent
records it as silence. A writer that must propose (`annotate candidates`) never returns
silence: it keeps the task the invalid answer did complete, else asks once more for the
task alone (`agent_writer_strict.j2`), else raises `ModelOutputError`.

Speed: step k's conversation is step k-1's conversation plus its answer (the raw text
the model wrote, not a re-serialisation) plus one new user turn, and earlier turns are
never rewritten, so llama.cpp reuses the KV cache and only evaluates the new tokens.
String caps keep answers short: generation is the slow part on a CPU.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator

from proactive.agent.base import AgentConfig, AgentStep, Observation
from proactive.errors import UserError
from proactive.models.base import ChatModel, Message, Usage, get_model
from proactive.models.structured import ModelOutputError, add_usage
from proactive.prompts import render
from proactive.types import Event, Proposal, is_silence

SYSTEM_TEMPLATE = "agent_llm_system.j2"
EVENT_TEMPLATE = "agent_llm_event.j2"


class AgentAnswer(BaseModel):
    """What the model writes after each event (field order is the order it writes them)."""

    purpose: str = Field(max_length=60, description="What the person is trying to do.")
    thoughts: str = Field(max_length=80, description="Whether they need help now, in one sentence.")
    task: str | None = Field(max_length=120, description="The task to offer, or null for silence.")
    message: str = Field(max_length=80, description="The one-line offer shown to the person, or ''.")


def required_task(task: str) -> str:
    """A writer's task, refused when it spells silence: the gate already decided to speak."""
    if is_silence(task):
        raise ValueError("a task is required here; null, 'none' and 'N/A' mean silence")
    return task.strip()


class WriterAnswer(BaseModel):
    """What a must-propose writer (annotate candidates) writes: a task is required."""

    purpose: str = Field(max_length=60, description="What the person is trying to do.")
    thoughts: str = Field(max_length=80, description="What would help most right now, in one sentence.")
    task: str = Field(min_length=3, max_length=120, description="The task to offer (required; never null or 'none').")
    message: str = Field(max_length=80, description="The one-line offer shown to the person.")

    _task_required = field_validator("task")(required_task)


class WriterTask(BaseModel):
    """The writer's last try after two invalid answers: the task alone."""

    task: str = Field(min_length=3, max_length=80, description="The task to offer (required; never null or 'none').")

    _task_required = field_validator("task")(required_task)


WRITER_SYSTEM_TEMPLATE = "agent_writer_system.j2"
WRITER_STRICT_TEMPLATE = "agent_writer_strict.j2"
#: A complete string value of an answer field (closing quote seen; escapes allowed).
_FIELD_VALUE = r'"{name}"\s*:\s*"((?:[^"\\]|\\.)*)"'


def complete_fields(answer: str) -> dict[str, str]:
    """The string fields an invalid answer did write in full, each cut to its schema's cap.

    With grammar-constrained decoding an answer is invalid mostly because `max_tokens`
    cut it: fields written before the cut are the model's own complete words.
    """
    fields: dict[str, str] = {}
    for name, info in WriterAnswer.model_fields.items():
        match = re.search(_FIELD_VALUE.format(name=name), answer)
        if match is None:
            continue
        try:
            value = str(json.loads(f'"{match.group(1)}"')).strip()
        except json.JSONDecodeError:
            continue
        cap = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
        fields[name] = value[:cap].strip() if cap else value
    return fields


def salvaged_task(answer: str) -> str | None:
    """The task an invalid answer did write in full (another field broke it), or None."""
    task = complete_fields(answer).get("task", "")
    return None if len(task) < 3 or is_silence(task) else task


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
    return render(EVENT_TEMPLATE, clock=_clock(event), gap=_gap(previous, event), event=event.text).strip()


def answer_text(proposal: Proposal) -> str:
    """An earlier proposal as the JSON the model would have written (used after a resume)."""
    return json.dumps({
        "purpose": proposal.purpose, "thoughts": proposal.thoughts,
        "task": None if proposal.is_silence else proposal.task, "message": proposal.message,
    })  # fmt: skip


def system_prompt() -> str:
    """The `llm` agent's system prompt, exactly as it sends it."""
    return render(SYSTEM_TEMPLATE).strip()


def conversation(system: str, history: list[Event], answers: list[str]) -> list[Message]:
    """System prompt, then one user turn per event with `answers[i]` after event i, ending on the last event.

    Public so training data (`proactive.train`) is exactly the conversation the agent sends.
    """
    messages: list[Message] = [{"role": "system", "content": system}]
    for index in range(len(history)):
        messages.append({"role": "user", "content": event_turn(history, index)})
        if index < len(history) - 1:
            messages.append({"role": "assistant", "content": answers[index]})
    return messages


#: Idle models per spec, handed to the next trace's agent (one trace per model at a time),
#: so consecutive traces share one loaded model and its cached system prompt.
_idle_models: dict[str, list[ChatModel]] = {}


class LLMAgent:
    """One trace's agent: one model, one growing conversation."""

    name = "llm"

    def __init__(
        self, config: AgentConfig, model: ChatModel, must_propose: bool = False, seed: int | None = None
    ) -> None:
        self.config = config
        self.model = model
        # The sampling seed of every call (None: the model's own); `annotate candidates`
        # draws N samples from one loaded model under N seeds.
        self.seed = seed
        # must_propose: a writer that always proposes (annotate candidates needs one candidate per
        # event); its schema refuses null and the silence strings.
        self.schema: type[AgentAnswer] | type[WriterAnswer] = WriterAnswer if must_propose else AgentAnswer
        template = WRITER_SYSTEM_TEMPLATE if must_propose else SYSTEM_TEMPLATE
        self.system = render(template).strip()
        self.answers: list[str] = []  # raw answer texts, one per earlier event
        self.must_propose = must_propose

    def messages(self, observation: Observation) -> list[Message]:
        """System prompt, then event turns and answer turns alternating, ending on the new event."""
        history = observation.history
        if len(self.answers) != len(history) - 1:  # resumed mid-trace: rebuild from saved proposals
            if len(observation.previous) != len(history) - 1:
                raise UserError("llm agent: observation.previous must hold one proposal per earlier event")
            self.answers = [answer_text(p) for p in observation.previous]
        return conversation(self.system, history, self.answers)

    async def __call__(self, observation: Observation) -> AgentStep:
        messages = self.messages(observation)
        try:
            result = await self.model.generate(
                messages,
                schema=self.schema,
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                seed=self.seed,
            )
        except ModelOutputError as exc:
            proposal, usage = await self._after_invalid(messages, exc)
            # The conversation goes on from a valid answer without diagnostics (a small model
            # copies whatever its earlier turns say); a resume rebuilds the same text.
            self.answers.append(answer_text(proposal))
            return AgentStep(proposal=proposal, usage=usage, invalid=True, problem=exc.problem)
        answer: AgentAnswer | WriterAnswer = result.parsed
        self.answers.append(result.text)
        task = None if is_silence(answer.task) else (answer.task or "").strip()
        proposal = Proposal(task=task, purpose=answer.purpose, thoughts=answer.thoughts, message=answer.message)
        return AgentStep(proposal=proposal, usage=result.usage, cached=result.cached)

    async def _after_invalid(self, messages: list[Message], exc: ModelOutputError) -> tuple[Proposal, Usage | None]:
        """The proposal after an invalid answer (silence for the `llm` agent, a task for a writer), and the tokens."""
        if not self.must_propose:
            return Proposal(task=None), exc.usage
        # The writer keeps whatever the model completed (its purpose, thoughts, task), and
        # asks for the task alone only when the task itself was cut or spelled silence.
        fields = complete_fields(exc.answer)
        kept = Proposal(purpose=fields.get("purpose", ""), thoughts=fields.get("thoughts", ""),
                        message=fields.get("message", ""))  # fmt: skip
        salvaged = salvaged_task(exc.answer)
        if salvaged is not None:
            return kept.model_copy(update={"task": salvaged}), exc.usage
        strict = render(WRITER_STRICT_TEMPLATE, problem=exc.problem[:160]).strip()
        retry: list[Message] = [*messages, {"role": "assistant", "content": exc.answer},
                                {"role": "user", "content": strict}]  # fmt: skip
        try:
            result = await self.model.generate(
                retry,
                schema=WriterTask,
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                seed=self.seed,
            )
        except ModelOutputError as last:
            raise ModelOutputError(
                f"writer '{self.model.spec}' must propose but gave no usable task in four tries "
                f"(answer, repair, task-only answer, repair; last problem: {last.problem[:120]}); "
                "raise --max-tokens or use a stronger model",
                answer=last.answer, problem=last.problem,
            ) from None
        usage = add_usage(exc.usage, result.usage) if exc.usage else result.usage
        return kept.model_copy(update={"task": result.parsed.task}), usage

    def close(self) -> None:
        """Give the model back for the next trace."""
        if self.config.model:
            _idle_models.setdefault(self.config.model, []).append(self.model)


def create(config: AgentConfig | None = None, must_propose: bool = False, seed: int | None = None) -> LLMAgent:
    """Factory registered as `llm`; needs `config.model`. `must_propose` makes it a writer; `seed`
    is the sampling seed of its calls (None: the model's own)."""
    config = config or AgentConfig()
    if not config.model:
        raise UserError("agent 'llm' needs a model: pass --model, e.g. --model local/qwen2.5-coder-1.5b")
    idle = _idle_models.get(config.model)
    model = idle.pop() if idle else get_model(config.model)
    return LLMAgent(config, model, must_propose=must_propose, seed=seed)
