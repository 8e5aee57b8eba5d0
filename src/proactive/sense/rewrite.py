"""Optional LLM rewrite of the deterministic sentences into smoother English.

Any model spec works (`local/...`, `openai/...`); the answer is grammar-constrained to a
one-field schema by the models' structured-output path. The input is the already
redacted sentence; the output is redacted again (a model may echo or invent a secret-
looking string). Whatever goes wrong for one sentence (bad JSON, an empty or overlong
answer, a server error), that sentence keeps its deterministic text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import BaseModel, Field

from proactive.models.base import ChatModel, Message, check_spec, get_model
from proactive.sense.config import check_local_only
from proactive.sense.redact import redact
from proactive.types import Event

log = logging.getLogger(__name__)

MAX_SENTENCE = 200

_SYSTEM = (
    "You rewrite one line of a computer activity log as one short, natural English sentence "
    "that starts with 'The user'. Keep every name, file, project, site and quoted text exactly; "
    "add no facts. Answer with JSON."
)


class Rewritten(BaseModel):
    """The model's answer: the rewritten sentence."""

    sentence: str = Field(max_length=MAX_SENTENCE, description="The activity as one English sentence.")


def prepare(spec: str, local_only: bool, **options: object) -> ChatModel:
    """The rewrite model, refused up front when --local-only forbids it or the spec cannot work."""
    if local_only:
        base_url = options.get("base_url")
        check_local_only(spec, base_url if isinstance(base_url, str) else None)
    check_spec(spec)
    # No response cache: it would keep every sensed sentence in a shared database.
    return get_model(spec, **{"cache": False, **options})


def _accept(original: str, answer: str) -> str | None:
    """The model's sentence, cleaned and redacted, or None when it is not a usable sentence."""
    text = " ".join(answer.split())
    if not text or len(text) > MAX_SENTENCE or "\n" in answer.strip():
        return None
    if text.count("The user") > 1:  # a second sentence: small models go on inventing activity
        return None
    if not text.endswith((".", "!", "?")):
        text += "."
    text = redact(text)
    # A sentence that lost every quoted name of the original tells less than the original.
    quoted = [part for index, part in enumerate(original.split("'")) if index % 2 == 1 and part]
    if quoted and not any(part in text for part in quoted):
        return None
    return text


async def rewrite_one(model: ChatModel, event: Event) -> Event:
    """One event with its sentence rewritten, or unchanged when the rewrite fails."""
    messages: list[Message] = [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Log line: {event.text}"},
    ]
    try:
        result = await model.generate(messages, schema=Rewritten, temperature=0.0, max_tokens=120)
        parsed = result.parsed
        answer = parsed.sentence if isinstance(parsed, Rewritten) else ""
    except Exception as exc:  # any failure (bad JSON, server down, llama error): the deterministic sentence stays
        log.info("rewrite failed, keeping the deterministic sentence: %s", exc)
        return event
    text = _accept(event.text, answer)
    return event if text is None else event.model_copy(update={"text": text})


async def rewrite_all(model: ChatModel, events: Sequence[Event]) -> list[Event]:
    """Every event rewritten in order (one at a time: a local model has one context)."""
    return [await rewrite_one(model, event) for event in events]


def rewrite_events(model: ChatModel, events: Sequence[Event]) -> list[Event]:
    """Synchronous wrapper for the CLI."""
    if not events:
        return []
    return asyncio.run(rewrite_all(model, events))
