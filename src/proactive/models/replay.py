"""`replay/<file.jsonl>`: answers recorded from real models, for tests of code above this layer.

Each line is one exchange written by the recorder (`PROACTIVE_RECORD=<file.jsonl>`,
see cache.py): the request key (`cache.request_key` without a model spec), the
request itself for humans, and the answer (text, parsed, usage, or probabilities).
A request that is not in the file is an error naming the file, never a made-up answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from proactive.errors import DataError, UserError
from proactive.fileio import read_jsonl
from proactive.models.base import ChatModel, ChatResult, Message, Usage
from proactive.models.cache import RECORD_ENV, request_key, revive
from proactive.models.structured import ModelOutputError


def load_exchanges(path: Path) -> dict[str, dict[str, Any]]:
    """key -> recorded entry (a later line wins over an earlier one with the same key)."""
    if not path.is_file():
        raise UserError(f"{path}: replay file not found; record one with {RECORD_ENV}={path}")
    exchanges: dict[str, dict[str, Any]] = {}
    for where, entry in read_jsonl(path):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise DataError(path, where, "key", "expected a JSON object with a string 'key'")
        exchanges[entry["key"]] = entry
    return exchanges


class ReplayModel:
    """Serves recorded answers; unknown requests raise UserError."""

    def __init__(self, name: str) -> None:
        self.spec = f"replay/{name}"
        self.path = Path(name).expanduser()
        self.exchanges = load_exchanges(self.path)

    def _lookup(self, key: str, messages: Sequence[Message], field: str) -> dict[str, Any]:
        entry = self.exchanges.get(key)
        if entry is None or field not in entry:
            last = messages[-1]["content"].replace("\n", " ")[:80] if messages else ""
            raise UserError(
                f"{self.path}: no recorded answer for this request (key {key[:12]}…, last message {last!r}); "
                f"re-record with {RECORD_ENV}={self.path} and a real model"
            )
        return entry

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """The recorded answer to exactly this request."""
        key = request_key(messages, schema, temperature, max_tokens, seed=seed)
        entry = self._lookup(key, messages, "text")
        if "error" in entry:  # a recorded invalid answer (failed after the repair retry) fails again
            usage = Usage(**entry["usage"]) if entry.get("usage") else None
            raise ModelOutputError(entry["error"], answer=entry["text"], problem=entry.get("problem", ""), usage=usage)
        return revive(entry, schema)

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """The recorded probabilities for exactly these messages and choices."""
        key = request_key(messages, choices=choices)
        probabilities: dict[str, float] = self._lookup(key, messages, "probabilities")["probabilities"]
        return probabilities


def check(name: str) -> None:
    """Cheap check before a run starts: the replay file exists (`check_spec` calls this)."""
    path = Path(name).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: replay file not found; record one with {RECORD_ENV}={path}")


def create(name: str, **options: Any) -> ChatModel:
    """Factory for `get_model("replay/<file.jsonl>")`; never cached or re-recorded.

    Options are accepted and ignored, so code that passes backend options (n_ctx, cache…)
    runs unchanged on a replay file.
    """
    del options
    return ReplayModel(name)
