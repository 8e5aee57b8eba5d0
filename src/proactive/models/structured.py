"""Structured output shared by every backend: schema capping, validation, one repair retry.

A pydantic model becomes a JSON schema. String fields get a `maxLength` (and arrays a
`maxItems`) when they lack one, so a grammar-constrained answer always closes its JSON
before `max_tokens` runs out instead of rambling inside a string.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from proactive.errors import UserError
from proactive.models.base import Message, Usage

DEFAULT_MAX_STRING_LENGTH = 300
DEFAULT_MAX_ITEMS = 12


class ModelOutputError(UserError):
    """The model's answer did not fit the requested schema, even after one repair retry.

    `answer` is the last answer's raw text and `problem` the validation error, so a
    caller that must not give up (the must-propose writer of `annotate candidates`) can salvage or retry.
    """

    def __init__(self, message: str, answer: str = "", problem: str = "", usage: Usage | None = None) -> None:
        super().__init__(message)
        self.answer = answer
        self.problem = problem
        self.usage = usage  # tokens both tries used: a failed answer still cost them


def capped_schema(
    schema: type[BaseModel],
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """JSON schema of `schema` with length caps added where the model left them open."""
    document = schema.model_json_schema()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "string" and "maxLength" not in node and "enum" not in node and "const" not in node:
                node["maxLength"] = max_string_length
            if kind == "array" and "maxItems" not in node:
                node["maxItems"] = max_items
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)
    return document


def schema_fingerprint(schema: type[BaseModel] | None) -> str | None:
    """Stable text of a schema, for cache keys (changes when the pydantic model changes)."""
    if schema is None:
        return None
    return json.dumps(schema.model_json_schema(), sort_keys=True)


def strip_fences(text: str) -> str:
    """Answers from unconstrained servers often wrap JSON in ``` fences; drop them."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped.strip()


def validate(schema: type[BaseModel], text: str) -> tuple[BaseModel | None, str | None]:
    """(instance, None) when `text` is valid JSON for `schema`, else (None, short error)."""
    try:
        return schema.model_validate_json(strip_fences(text)), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return None, problems


def repair_messages(messages: Sequence[Message], answer: str, error: str) -> list[Message]:
    """The conversation plus the invalid answer and a request to fix it."""
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": f"That answer is not valid JSON for the required schema ({error}). "
            "Reply again with only the corrected JSON object.",
        },
    ]


def output_error(spec: str, schema: type[BaseModel], error: str, answer: str) -> ModelOutputError:
    snippet = answer.strip().replace("\n", " ")[:120]
    return ModelOutputError(
        f"model '{spec}': answer does not fit schema {schema.__name__} after one repair retry ({error}); "
        f"answer began: {snippet!r}. Try a larger max_tokens or a stronger model",
        answer=answer,
        problem=error,
    )


def add_usage(first: Usage, second: Usage) -> Usage:
    return Usage(
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        new_prompt_tokens=first.new_prompt_tokens + second.new_prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
    )


async def ask_validated(
    spec: str,
    schema: type[BaseModel] | None,
    messages: Sequence[Message],
    ask: Callable[[Sequence[Message]], Awaitable[tuple[str, Usage]]],
) -> tuple[str, BaseModel | None, Usage]:
    """Ask once; with a schema, validate, and on failure ask once more with the error shown.

    Every backend answers through this, so the repair protocol (one retry, then a
    `ModelOutputError`) is the same whichever provider is behind `ask`.
    """
    text, usage = await ask(messages)
    if schema is None:
        return text, None, usage
    parsed, error = validate(schema, text)
    if error is not None:
        text, more = await ask(repair_messages(messages, text, error))
        usage = add_usage(usage, more)
        parsed, error = validate(schema, text)
        if error is not None:
            failure = output_error(spec, schema, error, text)
            failure.usage = usage
            raise failure
    return text, parsed, usage


def choice_variants(choice: str) -> list[str]:
    """Spellings that count as answering `choice` (case and a leading space do not matter)."""
    forms = {choice, choice.lower(), choice.capitalize(), choice.upper()}
    return sorted(forms | {" " + form for form in forms})


def with_schema_hint(messages: Sequence[Message], schema: type[BaseModel], max_string_length: int) -> list[Message]:
    """The conversation plus a system line giving the JSON schema: for backends with no grammar or
    response_format (transformers, an OpenAI-compatible server without structured output)."""
    capped = capped_schema(schema, max_string_length)
    hint = "Answer with only a JSON object for this JSON schema: " + json.dumps(capped)
    return [*messages, {"role": "system", "content": hint}]


def first_token_mass(
    spec: str, choices: Sequence[str], first_token: Callable[[str], int | None], probability: Callable[[int], float]
) -> dict[str, float]:
    """Probability mass on each choice's first tokens (over its `choice_variants` spellings).

    `first_token(text)` is the backend's first token id of `text` (None if it has none) and
    `probability(token)` the next-token probability. Two choices sharing a first token
    cannot be told apart: a one-line error asks for distinct first words.
    """
    owner: dict[int, str] = {}
    for choice in choices:
        for form in choice_variants(choice):
            token = first_token(form)
            if token is not None and owner.setdefault(token, choice) != choice:
                raise UserError(
                    f"model '{spec}': choices '{owner[token]}' and '{choice}' start with the "
                    "same token; use choices with distinct first words (e.g. 'yes'/'no', 'A'/'B')"
                )
    mass: dict[str, float] = {}
    for token, choice in owner.items():
        mass[choice] = mass.get(choice, 0.0) + probability(token)
    return mass


def normalise(spec: str, choices: Sequence[str], mass: dict[str, float]) -> dict[str, float]:
    """Scale the probability mass of each choice to sum to one; error if the model put none on them."""
    total = sum(mass.values())
    if total <= 0 or not math.isfinite(total):
        raise UserError(f"model '{spec}': no probability on any of the choices {list(choices)}; rephrase the prompt")
    return {choice: mass.get(choice, 0.0) / total for choice in choices}
