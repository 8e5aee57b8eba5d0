"""The agent's conversation as SFT data, and cutting long ones to a token budget.

An example is exactly what the `llm` agent sends at bench time (system prompt, one user
turn per event, its earlier answers as assistant turns, built by
`proactive.agent.llm_agent.conversation`) followed by the target answer as the last
assistant turn. Cutting drops the oldest whole (user, assistant) pairs, so a model never
learns from half a turn, and the system prompt, the last user turn and the target stay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.agent.llm_agent import answer_text, conversation, system_prompt
from proactive.errors import UserError
from proactive.models.base import Message
from proactive.types import Event, Proposal

#: Tokens a chat template adds around each message (role markers, separators); Qwen's adds 5.
MESSAGE_OVERHEAD = 5
DEFAULT_TOKENIZER = "qwen2.5-coder-0.5b"

TokenCounter = Callable[[Message], int]


class SftExample(BaseModel):
    """One SFT example: the conversation ending on its target, and where it came from."""

    messages: list[dict[str, str]] = Field(description="system, user/assistant turns, the target last.")
    source: str = Field(description="'gym' or 'rows'.")
    trace_key: str = Field(description="Identity of the source trace (first event 'time|text').")
    event_index: int = Field(description="0-based index of the event the target answers.")
    attempts: int = Field(default=1, description="Teacher answers written for this event (gym).")
    reason: str = Field(default="", description="The judge's reason for accepting the target (gym).")
    cut_pairs: int = Field(default=0, description="(user, assistant) pairs cut from the front.")
    over_budget: bool = Field(default=False, description="Still over the budget with nothing left to cut.")


class KtoRow(BaseModel):
    """One unpaired preference row (TRL's KTO format) with its origin."""

    prompt: list[dict[str, str]] = Field(description="The conversation up to the judged moment.")
    completion: list[dict[str, str]] = Field(description="One assistant message: the judged answer.")
    label: bool = Field(description="Accepted (True) or rejected (False).")
    source: str = Field(description="'gym', 'rows' or 'assist'.")
    trace_key: str | None = Field(default=None, description="Source trace, when known.")

    def export(self) -> dict[str, object]:
        """The row as TRL reads it: prompt, completion, label only."""
        return {"prompt": self.prompt, "completion": self.completion, "label": self.label}


def prompt_messages(history: Sequence[Event], answers: Sequence[str]) -> list[Message]:
    """The agent's conversation after the last event of `history` (one answer per earlier event)."""
    return conversation(system_prompt(), list(history), list(answers))


def plain(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Chat messages as plain dicts (what the export files hold)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def silence_answer() -> str:
    """The JSON of a silent answer with empty fields, as the agent writes it after an invalid answer."""
    return answer_text(Proposal(task=None))


def fixed_answer(task: str | None, purpose: str = "", thoughts: str = "", message: str = "") -> str:
    """The JSON answer for a decided task (None: silence) with the given words."""
    return json.dumps({"purpose": purpose, "thoughts": thoughts, "task": task, "message": message if task else ""})


def _pairs_start(messages: Sequence[Message]) -> int:
    return 1 if messages and messages[0]["role"] == "system" else 0


def cut_to_budget(messages: Sequence[Message], budget: int, count: TokenCounter) -> tuple[list[Message], int, bool]:
    """`messages` cut from the front to at most `budget` tokens: (kept, pairs cut, still over budget).

    `messages` is [system?, user, assistant, ..., user, assistant(target)]. Whole (user,
    assistant) pairs are dropped oldest first; the system prompt and the last pair (the
    last user turn and the target) are always kept, even when they alone exceed the budget
    (the third value says so). `count` gives one message's tokens.
    """
    start = _pairs_start(messages)
    body = list(messages[start:])
    if len(body) < 2 or len(body) % 2 or any(m["role"] != ("user", "assistant")[i % 2] for i, m in enumerate(body)):
        raise ValueError("a conversation must alternate user/assistant turns after the system prompt")
    sizes = [count(m) for m in messages]
    total = sum(sizes)
    cut = 0
    # Pairs are (body[2k], body[2k+1]); the last pair is never cut.
    while total > budget and 2 * cut + 2 < len(body):
        total -= sizes[start + 2 * cut] + sizes[start + 2 * cut + 1]
        cut += 1
    kept = [*messages[:start], *body[2 * cut :]]
    return kept, cut, total > budget


def tokenizer_counter(spec: str = DEFAULT_TOKENIZER) -> TokenCounter:
    """A message counter from the tokenizer of `spec`: a GGUF alias, a .gguf file, or a Hugging Face folder.

    Loaded once; counts are cached per message text (the same turns recur in every later
    example of a trace).
    """
    tokenizer = _load_tokenizer(spec)

    @lru_cache(maxsize=65536)
    def tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    def count(message: Message) -> int:
        return tokens(message["content"]) + MESSAGE_OVERHEAD

    return count


def _load_tokenizer(spec: str) -> Any:
    from transformers import AutoTokenizer

    from proactive.models.store import resolve

    folder = Path(spec).expanduser()
    try:
        if folder.is_dir():
            return AutoTokenizer.from_pretrained(folder)
        gguf = resolve(spec)
        return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"--tokenizer {spec}: cannot load a tokenizer ({type(exc).__name__}: {str(exc)[:120]}); "
            "pass a GGUF alias, a .gguf file or a Hugging Face model folder"
        ) from None
