"""`openai/<model>`: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server).

Base URL and key come from options or `OPENAI_BASE_URL` / `OPENAI_API_KEY` (a local
server needs no real key). Transient failures (connection refused, timeouts, 429, 5xx)
are retried with exponential backoff; calls are limited by a semaphore; structured
output uses the strongest `response_format` the server accepts (json_schema, then
llama.cpp's json_object+schema, then none with the schema in the prompt) and is always
validated, with one repair retry.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import BaseModel

from proactive.errors import UserError, missing_extra
from proactive.models import structured as so
from proactive.models.base import ChatModel, ChatResult, Message, Usage
from proactive.models.base_url import openai_base_url

StructuredMode = Literal["auto", "json_schema", "json_object", "none"]
_MODES_AFTER: dict[str, str] = {"json_schema": "json_object", "json_object": "none"}


@dataclass
class OpenAIOptions:
    """Options of the OpenAI-compatible backend (keyword options of `get_model("openai/...")`)."""

    base_url: str | None = None  # default: $OPENAI_BASE_URL, else api.openai.com (models.base_url)
    api_key: str | None = None  # default: $OPENAI_API_KEY, else a placeholder for local servers
    timeout: float = 120.0  # seconds per attempt
    retries: int = 3  # extra attempts after a transient failure
    backoff: float = 0.5  # first wait in seconds; doubles each retry
    concurrency: int = 4  # calls in flight at once
    structured: StructuredMode = "auto"  # response_format to use; auto steps down on 400/422
    max_string_length: int = so.DEFAULT_MAX_STRING_LENGTH
    top_logprobs: int = 20


class RequestRejected(UserError):
    """The server refused the request itself (4xx other than 429)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class _LoopState:
    """Client and semaphore for one event loop (httpx clients must not cross loops)."""

    def __init__(self, options: OpenAIOptions) -> None:
        try:
            from openai import AsyncOpenAI
        except ImportError:
            raise missing_extra("openai", "openai") from None
        self.client = AsyncOpenAI(
            base_url=openai_base_url(options.base_url),
            api_key=options.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=options.timeout,
            max_retries=0,  # retries are ours: counted, configurable, with a clear final error
        )
        self.semaphore = asyncio.Semaphore(options.concurrency)


class OpenAICompatModel:
    """A chat model behind an OpenAI-compatible HTTP API."""

    def __init__(self, name: str, options: OpenAIOptions) -> None:
        self.spec = f"openai/{name}"
        self.name = name
        self.options = options
        self.mode: str = options.structured
        self.attempts = 0  # HTTP attempts made, including retries (for accounting and tests)
        self.retries = 0
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def cache_identity(self) -> dict[str, Any]:
        """What besides the request decides an answer: which server (the same model name on
        another endpoint is another model) and the options that change the text."""
        opts = self.options
        return {
            "base_url": openai_base_url(opts.base_url),
            "structured": opts.structured,
            "max_string_length": opts.max_string_length,
        }

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(self.options)
        return state

    async def _create(self, messages: Sequence[Message], **kwargs: Any) -> Any:
        """One chat completion with retries on transient failures."""
        import openai

        state = self._state()
        transient = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
        wait = self.options.backoff
        payload: list[Any] = list(messages)  # our Message dicts are what the SDK's TypedDicts describe
        for attempt in range(self.options.retries + 1):
            try:
                self.attempts += 1
                async with state.semaphore:
                    return await state.client.chat.completions.create(model=self.name, messages=payload, **kwargs)
            except transient as exc:
                if isinstance(exc, openai.InternalServerError) and "response_format" in str(exc):
                    # llama.cpp's server answers 500 to a response_format it doesn't know: not transient
                    raise RequestRejected(f"model '{self.spec}': server refused response_format: {exc}", 500) from None
                if attempt == self.options.retries:
                    raise UserError(
                        f"model '{self.spec}': {state.client.base_url} failed after {attempt + 1} attempts "
                        f"({type(exc).__name__}: {exc}); start the server or fix base_url / OPENAI_BASE_URL"
                    ) from None
                self.retries += 1
                await asyncio.sleep(wait)
                wait *= 2
            except openai.APIStatusError as exc:
                raise RequestRejected(
                    f"model '{self.spec}': server said {exc.status_code}: {exc.message}", exc.status_code
                ) from None
        raise AssertionError("unreachable")

    def _response_format(self, mode: str, schema: type[BaseModel]) -> dict[str, Any] | None:
        capped = so.capped_schema(schema, self.options.max_string_length)
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": capped}}
        if mode == "json_object":  # llama.cpp server: grammar from the schema
            return {"type": "json_object", "schema": capped}
        return None

    async def _structured_call(self, messages: Sequence[Message], schema: type[BaseModel], **kwargs: Any) -> Any:
        """Call with the best response_format the server accepts, stepping down on 400/422."""
        mode = "json_schema" if self.mode == "auto" else self.mode
        while True:
            response_format = self._response_format(mode, schema)
            prompt = list(messages)
            if response_format is None:
                prompt = so.with_schema_hint(messages, schema, self.options.max_string_length)
            try:
                extra = {"response_format": response_format} if response_format else {}
                response = await self._create(prompt, **kwargs, **extra)
            except RequestRejected as exc:
                refused_format = exc.status_code in (400, 422) or "response_format" in str(exc)
                if self.mode != "auto" or mode not in _MODES_AFTER or not refused_format:
                    raise
                mode = _MODES_AFTER[mode]
                continue
            if self.mode == "auto":
                self.mode = mode  # remember what this server accepts
            return response

    @staticmethod
    def _usage(response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        return Usage(
            prompt_tokens=prompt,
            new_prompt_tokens=prompt,  # servers don't report prefix reuse reliably; count it all
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    async def _ask(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None,
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
    ) -> tuple[str, Usage]:
        kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        if seed is not None:  # left out otherwise: the request stays what it always was
            kwargs["seed"] = seed
        if schema is None:
            response = await self._create(messages, **kwargs)
        else:
            response = await self._structured_call(messages, schema, **kwargs)
        message = getattr(self._first_choice(response), "message", None)
        return str(getattr(message, "content", None) or ""), self._usage(response)

    def _first_choice(self, response: Any) -> Any:
        """The first choice of a chat completion; a server that sent none gets a one-line error."""
        choices = getattr(response, "choices", None)
        if not choices:
            where = openai_base_url(self.options.base_url)
            raise UserError(
                f"model '{self.spec}': {where} answered with an empty 'choices' list (no answer); "
                f"check that the server serves model '{self.name}' and read its log"
            )
        return choices[0]

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """Answer the conversation; with `schema`, `parsed` holds a validated instance."""
        started = time.perf_counter()

        async def ask(conversation: Sequence[Message]) -> tuple[str, Usage]:
            return await self._ask(conversation, schema, temperature, max_tokens, seed)

        text, parsed, usage = await so.ask_validated(self.spec, schema, messages, ask)
        return ChatResult(text=text, parsed=parsed, usage=usage, latency=time.perf_counter() - started)

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """First-token probabilities of the choices from the server's top_logprobs."""
        response = await self._create(
            messages, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.options.top_logprobs
        )
        logprobs = getattr(self._first_choice(response), "logprobs", None)
        if logprobs is None or not logprobs.content:
            raise UserError(f"model '{self.spec}': the server returned no logprobs; it cannot score choices")
        mass: dict[str, float] = {}
        for entry in logprobs.content[0].top_logprobs:
            token = entry.token.strip().lower()
            owners = [c for c in choices if token and c.lower().startswith(token)]
            if len(owners) == 1:  # a token shared by two choices says nothing about either
                mass[owners[0]] = mass.get(owners[0], 0.0) + math.exp(entry.logprob)
        return so.normalise(self.spec, choices, mass)


_OPTION_NAMES = {f.name for f in fields(OpenAIOptions)}


def check(name: str) -> None:
    """Cheap check before a run (`models.base.check_spec`): the SDK is installed; the server
    itself is only asked when the run starts."""
    del name
    if importlib.util.find_spec("openai") is None:
        raise missing_extra("openai", "openai")


def create(name: str, **options: Any) -> ChatModel:
    """Factory for `get_model("openai/<model>", **options)`."""
    from proactive.models.cache import build_wrapped

    return build_wrapped(
        f"openai/{name}", options, _OPTION_NAMES, lambda **own: OpenAICompatModel(name, OpenAIOptions(**own))
    )
