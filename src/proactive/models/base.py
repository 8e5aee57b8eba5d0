"""The one chat-model interface every room uses, and the registry of providers.

A model is picked by a "provider/model" string:

- ``local/<alias or path.gguf>``: embedded llama.cpp (``proactive[local]``)
- ``openai/<model>``: any OpenAI-compatible server (``proactive[openai]``)
- ``replay/<file>``: answers recorded in a file, for tests of code above this layer

Providers are loaded lazily from the table below, so a missing optional package only
matters when its provider is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from pydantic import BaseModel, Field

from proactive.errors import UserError


class Message(TypedDict):
    """One chat turn."""

    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    """Token accounting for one call."""

    prompt_tokens: int = Field(default=0, description="Tokens in the prompt.")
    new_prompt_tokens: int = Field(
        default=0, description="Prompt tokens actually evaluated (the rest came from the KV cache)."
    )
    completion_tokens: int = Field(default=0, description="Tokens generated.")


class ChatResult(BaseModel):
    """What a model returned for one call."""

    text: str = Field(description="The raw text of the answer.")
    parsed: Any = Field(default=None, description="The answer validated into the requested schema, if any.")
    usage: Usage = Field(default_factory=Usage, description="Token counts.")
    latency: float = Field(default=0.0, description="Seconds the call took (0 for a cache hit).")
    cached: bool = Field(default=False, description="True when the answer came from the response cache.")


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model. Implementations live in models/<provider>.py."""

    spec: str

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """Answer the conversation; with `schema`, `parsed` holds a validated instance.

        `seed` is the sampling seed of this call only (None: the backend's own), so one
        loaded model gives N different samples at `temperature > 0` under N seeds, and the
        same seed the same sample. It is part of the response-cache and replay keys.
        """
        ...

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """Probability of each choice as the answer's first token (normalised over `choices`).

        Read from token log-probabilities, never from sampled text; used by LLM gates and judges.
        """
        ...


#: provider name -> "module:factory"; the factory takes (model_name, **options).
PROVIDERS: dict[str, str] = {
    "local": "proactive.models.llama:create",
    "openai": "proactive.models.openai_compat:create",
    "replay": "proactive.models.replay:create",
    "hf": "proactive.models.hf:create",
}


def _provider(spec: str) -> tuple[Any, str, str]:
    """(provider module, factory attribute, model name) of a spec, or a one-line error."""
    provider, sep, name = spec.partition("/")
    if not sep or not name:
        raise UserError(f"model '{spec}': expected 'provider/model', e.g. 'local/qwen2.5-coder-1.5b'")
    target = PROVIDERS.get(provider)
    if target is None:
        raise UserError(f"model '{spec}': unknown provider '{provider}'; choose one of {sorted(PROVIDERS)}")
    module_name, _, factory = target.partition(":")
    return importlib.import_module(module_name), factory, name


def check_spec(spec: str) -> None:
    """Refuse a spec that cannot work (unknown provider, missing or non-GGUF file, model not
    pulled) without building the model: a provider may define `check(name)` for its cheap checks."""
    module, _, name = _provider(spec)
    check = getattr(module, "check", None)
    if callable(check):
        check(name)


def get_model(spec: str, **options: Any) -> ChatModel:
    """Build the model named by a "provider/model" string, e.g. "local/qwen2.5-coder-1.5b"."""
    module, factory, name = _provider(spec)
    model: ChatModel = getattr(module, factory)(name, **options)
    return model


#: Models handed out by `shared_model`: one per (spec, state dir) for the life of the process.
_shared: dict[tuple[str, str], ChatModel] = {}


def shared_model(spec: str) -> ChatModel:
    """One model object per spec, shared by every caller in this process.

    The LLM gate and the offer writer of one agent, and the agents of consecutive traces,
    then use one loaded llama.cpp model and its KV cache (the prompt prefix they share is
    evaluated once), instead of loading the weights again for each.
    """
    from proactive.settings import state_dir

    # The state dir is part of the key: a model's response cache lives there.
    key = (spec, str(state_dir()))
    model = _shared.get(key)
    if model is None:
        model = _shared[key] = get_model(spec)
    return model
