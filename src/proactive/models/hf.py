"""`hf/<dir>[+<adapter_dir>]`: a transformers model (optionally with a LoRA adapter) in-process.

`<dir>` is a Hugging Face model folder (e.g. one `proactive train merge` wrote), or a
GGUF alias / .gguf path that transformers dequantizes; `+<adapter_dir>` puts a peft
adapter (`proactive train sft|kto` OUT/adapter) on top without merging. Made for
checking fine-tuned models in the bench; for speed, export to GGUF and use `local/`.

There is no grammar here: with a schema the JSON schema goes into the prompt and the
answer is validated (one repair retry) by the shared helpers of models/structured.py.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from proactive.errors import UserError, missing_extra
from proactive.models import structured
from proactive.models.base import ChatModel, ChatResult, Message, Usage


@dataclass
class HfOptions:
    """Options of the transformers backend (keyword options of `get_model("hf/...")`)."""

    threads: int | None = None  # torch CPU threads (default 1); ignored on GPU
    dtype: str = "float32"
    seed: int = 0
    max_string_length: int = structured.DEFAULT_MAX_STRING_LENGTH


def split_name(name: str) -> tuple[str, Path | None]:
    """(base, adapter folder or None) of `<base>[+<adapter>]`."""
    base, plus, adapter = name.rpartition("+")
    if not plus:
        return name, None
    if not base or not adapter:
        raise UserError(f"model 'hf/{name}': expected 'hf/<model dir or gguf>[+<adapter dir>]'")
    return base, Path(adapter).expanduser()


def check(name: str) -> None:
    """Cheap checks (`models.base.check_spec`): the base exists and the adapter folder is an adapter."""
    from proactive.models.hf_load import resolve_base

    base, adapter = split_name(name)
    resolve_base(base)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise UserError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json); pass OUT/adapter of train sft")


def _identity_of(path: Path) -> str:
    """Size and mtime of the weight files: what changes when a model is retrained in place."""
    if path.is_file():
        stat = path.stat()
        return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")) + sorted(path.glob("*.gguf"))
    return ";".join(_identity_of(file) for file in files)


class HfModel:
    """A transformers causal LM answering chat conversations."""

    def __init__(self, name: str, options: HfOptions) -> None:
        from proactive.models.hf_load import resolve_base

        self.spec = f"hf/{name}"
        check(name)
        base, self.adapter = split_name(name)
        self.base = base
        self.source = resolve_base(base)
        self.options = options
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    # -- loading ----------------------------------------------------------------------------

    def _model(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded on first use (transformers import and weights are slow)."""
        if self._loaded is None:
            from proactive.models import hf_load as base_model

            base_model.set_cpu_threads(self.options.threads)
            if self.adapter is not None:
                model, tokenizer = base_model.load_with_adapter(self.base, self.adapter, self.options.dtype)
            else:
                model = base_model.load_causal_lm(self.source, self.options.dtype)
                tokenizer = base_model.load_tokenizer(self.source)
            torch = base_model.import_torch()
            if torch.cuda.is_available():
                model = model.to("cuda")
            model.eval()
            self._loaded = (model, tokenizer)
        return self._loaded

    def _encode(self, messages: Sequence[Message]) -> Any:
        model, tokenizer = self._model()
        try:
            ids = tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception as exc:  # jinja raises its own TemplateError subclasses, e.g. for role order
            raise UserError(f"model '{self.spec}': its chat template refused the conversation ({exc})") from None
        return ids["input_ids"].to(model.device)

    # -- blocking calls (worker thread, one at a time) --------------------------------------

    def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None = None
    ) -> tuple[str, Usage]:
        from proactive.models.hf_load import import_torch

        torch = import_torch()
        with self._lock:
            model, tokenizer = self._model()
            input_ids = self._encode(messages)
            sampling: dict[str, Any] = {"do_sample": False}
            if temperature > 0:
                # Seeded per call, under the lock: the sample depends on this call's seed alone.
                torch.manual_seed(self.options.seed if seed is None else seed)
                sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
            eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)} - {None}
            with torch.inference_mode():
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=max_tokens,
                    eos_token_id=sorted(eos),
                    pad_token_id=tokenizer.pad_token_id,
                    **sampling,
                )
        new = output[0, input_ids.shape[1] :]
        text = tokenizer.decode(new, skip_special_tokens=True)
        prompt = int(input_ids.shape[1])
        return text, Usage(prompt_tokens=prompt, new_prompt_tokens=prompt, completion_tokens=int(new.shape[0]))

    def _choice_mass(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        from proactive.models.hf_load import import_torch

        torch = import_torch()
        with self._lock:
            model, tokenizer = self._model()
            input_ids = self._encode(messages)
            with torch.inference_mode():
                logits = model(input_ids=input_ids).logits[0, -1].float()
        probs = torch.softmax(logits, dim=-1)

        def first_token(text: str) -> int | None:
            tokens = tokenizer.encode(text, add_special_tokens=False)
            return int(tokens[0]) if tokens else None

        return structured.first_token_mass(self.spec, choices, first_token, lambda token: float(probs[token]))

    # -- the ChatModel interface ------------------------------------------------------------

    def cache_identity(self) -> dict[str, Any]:
        """What besides the request decides an answer (threads only change speed)."""
        gguf = self.source.folder / self.source.gguf_file if self.source.gguf_file else self.source.folder
        return {
            "base": _identity_of(gguf),
            "adapter": _identity_of(self.adapter) if self.adapter else None,
            "dtype": self.options.dtype,
            "seed": self.options.seed,
            "max_string_length": self.options.max_string_length,
            "transformers": _version("transformers"),
            "peft": _version("peft") if self.adapter else None,
        }

    def _with_schema(self, messages: Sequence[Message], schema: type[BaseModel] | None) -> list[Message]:
        if schema is None:
            return list(messages)
        return structured.with_schema_hint(messages, schema, self.options.max_string_length)

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """Answer the conversation (greedy at temperature 0); with `schema`, validated with one repair retry."""
        started = time.perf_counter()

        async def ask(conversation: Sequence[Message]) -> tuple[str, Usage]:
            prompt = self._with_schema(conversation, schema)
            return await asyncio.to_thread(self._complete, prompt, temperature, max_tokens, seed)

        text, parsed, usage = await structured.ask_validated(self.spec, schema, messages, ask)
        return ChatResult(text=text, parsed=parsed, usage=usage, latency=time.perf_counter() - started)

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """Probability of each choice as the answer's first token (from the logits), normalised."""
        mass = await asyncio.to_thread(self._choice_mass, messages, choices)
        return structured.normalise(self.spec, choices, mass)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@functools.cache
def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


_OPTION_NAMES = set(HfOptions.__dataclass_fields__)


def create(name: str, **options: Any) -> ChatModel:
    """Factory for `get_model("hf/<dir or gguf>[+<adapter>]", **options)`."""
    from proactive.models.cache import build_wrapped

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise missing_extra(exc.name or "transformers", "train") from None
    return build_wrapped(f"hf/{name}", options, _OPTION_NAMES, lambda **own: HfModel(name, HfOptions(**own)))
