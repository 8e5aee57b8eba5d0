"""Rendering the gym's prompt templates and asking a model for one validated answer.

Templates live in `proactive/prompts/` (gym_*.j2, scene_*.j2). The text before a line
holding only `---` is the system message, the rest the user message. Variables are
strict: a missing one is a bug and fails loudly, never renders as an empty string.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from proactive.models.base import ChatModel, Message
from proactive.models.structured import ModelOutputError
from proactive.prompts import render

SEPARATOR = "\n---\n"

Answer = TypeVar("Answer", bound=BaseModel)


class CallFailed(Exception):
    """A model answer could not be used (invalid after the model layer's repair retry)."""

    def __init__(self, template: str, reason: str) -> None:
        self.template, self.reason = template, reason
        super().__init__(f"{template}: {reason}")


def render_messages(template: str, **variables: Any) -> list[Message]:
    """System + user messages from one template file."""
    text = render(template, **variables).strip()
    system, separator, user = text.partition(SEPARATOR)
    if not separator:
        return [{"role": "user", "content": system.strip()}]
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


async def ask(
    model: ChatModel,
    template: str,
    schema: type[Answer],
    max_tokens: int,
    temperature: float = 0.0,
    **variables: Any,
) -> Answer:
    """One validated answer, or CallFailed naming the template and the problem.

    The model layer already retries once with the validation error; what still fails
    here is skipped by the caller, so one bad answer never stops a run. Other user
    errors (a missing model file, an unreachable server) are not caught: they would
    fail every scene the same way.
    """
    messages = render_messages(template, **variables)
    try:
        result = await model.generate(messages, schema=schema, temperature=temperature, max_tokens=max_tokens)
    except (ModelOutputError, ValidationError) as exc:
        # ValidationError: a replayed or cached answer that no longer fits the schema.
        raise CallFailed(template, str(exc).replace("\n", " ")[:400]) from None
    parsed = result.parsed
    if isinstance(parsed, schema):
        return parsed
    try:
        return schema.model_validate_json(result.text)
    except ValueError as exc:
        problem = str(exc).replace("\n", " ")[:300]
        raise CallFailed(template, f"answer does not fit {schema.__name__}: {problem}") from None
