"""Persistent response cache and exchange recorder, wrapped around every real backend.

Re-running a finished step costs nothing: answers are stored in SQLite
(`state_dir()/cache.sqlite`) under a hash of the request, so long runs resume where they
stopped and repeated test runs are deterministic. The same hash (without the model
spec and identity) keys recorded exchanges in replay files, see `replay.py`.

The key holds everything that decides an answer: the request (messages, schema,
temperature, max_tokens, choices, and the call's seed when one is given), the model
spec, and the backend's `cache_identity()` when it has one: for `local/` the GGUF's
verified sha256 (else its size and mtime_ns) and the options that change answers (n_ctx,
n_batch, seed, max_string_length, the llama-cpp-python version, and for answers it decodes
from their opening, `answer_identity`'s decoding version). A model file replaced
at the same path is a new key, never a stale answer. A call without a seed has the key
it had before calls took one, so existing caches and replay files stay valid.

Record real exchanges for tests: set `PROACTIVE_RECORD=<file.jsonl>` (or pass
`record=path` to `get_model`) and every answer the model gives is appended as one JSON
line that `replay/<file.jsonl>` can serve.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from proactive.errors import UserError
from proactive.models.base import ChatModel, ChatResult, Message, Usage
from proactive.models.structured import ModelOutputError, schema_fingerprint
from proactive.settings import state_dir
from proactive.sqlite_schema import create_private

RECORD_ENV = "PROACTIVE_RECORD"
SCHEMA_VERSION = 1


def request_key(
    messages: Sequence[Message],
    schema: type[BaseModel] | None = None,
    temperature: float = 0.0,
    max_tokens: int = 512,
    spec: str | None = None,
    choices: Sequence[str] | None = None,
    identity: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> str:
    """sha256 of everything that determines an answer (spec=None and identity=None for replay files)."""
    payload: dict[str, Any] = {
        "spec": spec,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "schema": schema_fingerprint(schema),
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "choices": list(choices) if choices is not None else None,
    }
    if identity is not None:  # absent, not null, so replay keys and identity-less backends keep their keys
        payload["identity"] = dict(identity)
    if seed is not None:  # likewise: an unseeded call keeps the key it had before calls took a seed
        payload["seed"] = int(seed)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _parsed_json(result: ChatResult) -> Any:
    return result.parsed.model_dump(mode="json") if isinstance(result.parsed, BaseModel) else result.parsed


def revive(entry: dict[str, Any], schema: type[BaseModel] | None) -> ChatResult:
    """A ChatResult from a stored entry (cache row or replay line), marked as cached."""
    parsed = entry.get("parsed")
    if schema is not None and parsed is not None:
        parsed = schema.model_validate(parsed)
    return ChatResult(
        text=entry["text"], parsed=parsed, usage=Usage(**(entry.get("usage") or {})), latency=0.0, cached=True
    )


class ResponseCache:
    """key -> JSON answer, in one SQLite file shared by all processes (WAL mode)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "cache.sqlite"
        create_private(self.path, "the response cache", "check $PROACTIVE_HOME")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, spec TEXT NOT NULL, "
                "answer TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, spec: str, answer: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, spec, answer, created) VALUES (?, ?, ?, ?)",
                (key, spec, json.dumps(answer), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


class Recorder:
    """Appends exchanges to a JSONL file in the replay format, inside the state dir only, mode 0600.

    Recorded requests hold raw activity text; a path anywhere else (a shared folder, a
    synced drive) would copy it out of the person's private state dir, so it is refused.
    """

    def __init__(self, path: Path) -> None:
        home = state_dir().resolve()
        resolved = path.expanduser().resolve()
        if not resolved.is_relative_to(home):
            raise UserError(
                f"{path}: {RECORD_ENV} must name a file inside the state dir {home} "
                "(set PROACTIVE_HOME to a scratch folder to record test data, then move the file)"
            )
        self.path = resolved
        self._lock = threading.Lock()
        resolved.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(resolved, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(descriptor, 0o600)
        os.close(descriptor)

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


@runtime_checkable
class Identified(Protocol):
    """A backend that can say what, besides the request, decides its answers."""

    def cache_identity(self) -> Mapping[str, Any]:
        """JSON-able values: the model file's identity and the options that change answers."""
        ...


class CachedModel:
    """A ChatModel wrapper adding the response cache and/or the recorder."""

    def __init__(self, inner: ChatModel, cache: ResponseCache | None, recorder: Recorder | None) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.cache = cache
        self.recorder = recorder

    def _identity(self) -> Mapping[str, Any] | None:
        # Asked per call: cheap (a stat at most) and never older than the backend's own view.
        return self.inner.cache_identity() if isinstance(self.inner, Identified) else None

    def key_for(  # the request of `generate`, with its defaults
        self, messages: Sequence[Message], schema: type[BaseModel] | None = None, temperature: float = 0.0,
        max_tokens: int = 512, seed: int | None = None,
    ) -> str:  # fmt: skip
        """The cache key of a `generate` request to this backend."""
        identity = self._identity()
        answer_identity = getattr(self.inner, "answer_identity", None)
        if identity is not None and callable(answer_identity):  # how this kind of answer is decoded
            identity = {**identity, **answer_identity(schema, temperature)}
        return request_key(messages, schema, temperature, max_tokens, spec=self.spec, identity=identity, seed=seed)

    def _generate_record(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> dict[str, Any]:
        """The fields every recorded `generate` exchange starts with (its replay key and the request)."""
        request: dict[str, Any] = {"messages": list(messages), "schema": schema.__name__ if schema else None,
                                   "temperature": temperature, "max_tokens": max_tokens}  # fmt: skip
        if seed is not None:
            request["seed"] = seed
        return {
            "key": request_key(messages, schema, temperature, max_tokens, seed=seed),
            "kind": "generate",
            "model": self.spec,
            "request": request,
        }

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """Answer from the cache when this exact request was answered before, else ask the model."""
        key = self.key_for(messages, schema, temperature, max_tokens, seed)
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            result = revive(stored, schema)
        else:
            try:
                result = await self.inner.generate(messages, schema, temperature, max_tokens, seed)
            except ModelOutputError as exc:
                if self.recorder is not None:  # an invalid answer is a real answer too: replay fails the same way
                    self.recorder.append({
                        **self._generate_record(messages, schema, temperature, max_tokens, seed),
                        "text": exc.answer, "error": str(exc),
                        "problem": exc.problem, "usage": exc.usage.model_dump() if exc.usage else None,
                    })  # fmt: skip
                raise
            if self.cache is not None:
                answer = {"text": result.text, "parsed": _parsed_json(result), "usage": result.usage.model_dump()}
                self.cache.put(key, self.spec, answer)
        if self.recorder is not None:
            self.recorder.append(
                {
                    **self._generate_record(messages, schema, temperature, max_tokens, seed),
                    "text": result.text,
                    "parsed": _parsed_json(result),
                    "usage": result.usage.model_dump(),
                }
            )
        return result

    async def prefill(self, messages: Sequence[Message]) -> Usage | None:
        """Pass a prefill through to a backend that has one (nothing is cached or recorded); its usage."""
        prefill = getattr(self.inner, "prefill", None)
        if callable(prefill):
            usage = await prefill(messages)
            return usage if isinstance(usage, Usage) else None
        return None

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """Cached like generate; the key includes the choices."""
        key = request_key(messages, spec=self.spec, choices=choices, identity=self._identity())
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            probabilities: dict[str, float] = stored["probabilities"]
        else:
            probabilities = await self.inner.choice_probabilities(messages, choices)
            if self.cache is not None:
                self.cache.put(key, self.spec, {"probabilities": probabilities})
        if self.recorder is not None:
            self.recorder.append(
                {
                    "key": request_key(messages, choices=choices),
                    "kind": "choices",
                    "model": self.spec,
                    "request": {"messages": list(messages), "choices": list(choices)},
                    "probabilities": probabilities,
                }
            )
        return probabilities


_cache_by_default = True


@contextlib.contextmanager
def response_cache_off() -> Iterator[None]:
    """Models built inside this block cache no answer unless told (`cache=`).

    The live assistant runs inside it: its answers are written from a person's activity, and
    nothing of that is kept in a cache (the assistant's own store keeps what it must, redacted).
    The default comes back after the block, for whatever else runs in the same process.
    """
    global _cache_by_default
    previous, _cache_by_default = _cache_by_default, False
    try:
        yield
    finally:
        _cache_by_default = previous


def wrap(model: ChatModel, cache: bool | ResponseCache | None = None, record: str | Path | None = None) -> ChatModel:
    """Add the response cache (cache=None: on, except inside `response_cache_off()`) and
    a recorder (record=path or $PROACTIVE_RECORD)."""
    cache = _cache_by_default if cache is None else cache
    response_cache = cache if isinstance(cache, ResponseCache) else (ResponseCache() if cache else None)
    record_path = record or os.environ.get(RECORD_ENV) or None
    recorder = Recorder(Path(record_path)) if record_path else None
    if response_cache is None and recorder is None:
        return model
    return CachedModel(model, response_cache, recorder)


WRAPPER_OPTIONS = frozenset({"cache", "record"})


def build_wrapped(
    spec: str, options: dict[str, Any], backend_options: Collection[str], build: Callable[..., ChatModel]
) -> ChatModel:
    """Check a provider's options, build the backend from its own options, then wrap it.

    Shared by the provider factories so every backend rejects unknown options the same
    way and gets the same cache and recorder.
    """
    unknown = set(options) - set(backend_options) - WRAPPER_OPTIONS
    if unknown:
        known = sorted(set(backend_options) | WRAPPER_OPTIONS)
        raise UserError(f"model '{spec}': unknown option(s) {sorted(unknown)}; known: {known}")
    wrapper = {k: v for k, v in options.items() if k in WRAPPER_OPTIONS}
    own = {k: v for k, v in options.items() if k not in WRAPPER_OPTIONS}
    return wrap(build(**own), **wrapper)
