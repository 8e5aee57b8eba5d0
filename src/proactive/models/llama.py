"""`local/<alias or path.gguf>`: embedded llama.cpp through llama-cpp-python.

Built for the benchmark's access pattern: each trace is a conversation that grows one
event at a time, so most of every prompt was already evaluated by the previous call.
llama-cpp-python keeps the longest common token prefix of the KV cache between calls,
so only new tokens cost anything, as long as the same trace keeps landing on the same
`Llama` object. With `instances=N` we keep a pool and send each call to the free
instance whose last conversation shares the longest prefix with the new one.

The llama.cpp calls block, so they run in a worker thread; each instance serves one
call at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from proactive.errors import UserError, missing_extra
from proactive.models import store, structured
from proactive.models.base import ChatModel, ChatResult, Message, Usage


@dataclass
class LlamaOptions:
    """Options of the embedded backend (all keyword options of `get_model("local/...")`)."""

    n_threads: int = 1  # two threads collapse when anything else runs on a 2-core machine
    n_ctx: int = 8192  # room for a 30-event trace conversation plus the answer
    n_batch: int = 512
    instances: int = 1
    seed: int = 0
    max_string_length: int = structured.DEFAULT_MAX_STRING_LENGTH
    verbose: bool = False


@dataclass
class _Instance:
    """One Llama object plus what it last saw (for prefix routing)."""

    llama: Any
    busy: bool = False
    transcript: str = ""


def _transcript(messages: Sequence[Message]) -> str:
    # Routing key: the conversation as text. Its common prefix with an instance's last
    # conversation tracks the common token prefix closely, without rendering templates.
    return "".join(f"\x00{m['role']}\x01{m['content']}" for m in messages)


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


def _token_prefix(old: np.ndarray, new: np.ndarray) -> int:
    limit = min(len(old), len(new))
    if limit == 0:
        return 0
    different = np.nonzero(old[:limit] != new[:limit])[0]
    return int(different[0]) if len(different) else limit


class LlamaModel:
    """A GGUF model run in-process by llama.cpp."""

    def __init__(self, name: str, options: LlamaOptions) -> None:
        self.spec = f"local/{name}"
        self.path: Path = check(name)
        self.file_identity = store.file_identity(self.path)  # what every instance of the pool must load
        self.options = options
        self._pool: list[_Instance] = []
        self._condition = threading.Condition()

    # -- pool -------------------------------------------------------------------------------

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise missing_extra("llama-cpp-python", "local") from None
        if store.file_identity(self.path) != self.file_identity:
            # Answers are cached under the file seen at construction; loading another would mix them.
            raise UserError(
                f"{self.path}: the model file changed since model '{self.spec}' was opened; start again to use it"
            )
        opts = self.options
        try:
            return Llama(
                model_path=str(self.path),
                n_ctx=opts.n_ctx,
                n_batch=opts.n_batch,
                n_threads=opts.n_threads,
                n_threads_batch=opts.n_threads,
                seed=opts.seed,
                verbose=opts.verbose,
            )
        except (ValueError, RuntimeError) as exc:  # llama.cpp refused the file (truncated, unknown architecture)
            reason = (str(exc).splitlines() or [type(exc).__name__])[0].replace(f": {self.path}", "")
            raise UserError(
                f"{self.path}: llama.cpp could not load this GGUF ({reason}); "
                "re-download it, or for an alias run `proactive models pull ALIAS`"
            ) from None

    @contextlib.contextmanager
    def _instance_for(self, messages: Sequence[Message]) -> Iterator[_Instance]:
        """Borrow the free instance that shares the longest prefix (create one if allowed)."""
        key = _transcript(messages)
        with self._condition:
            while True:
                free = [inst for inst in self._pool if not inst.busy]
                best = max(free, key=lambda inst: _common_prefix(inst.transcript, key), default=None)
                cold = best is None or _common_prefix(best.transcript, key) == 0
                if cold and len(self._pool) < self.options.instances:
                    best = _Instance(llama=None)
                    self._pool.append(best)
                if best is not None:
                    best.busy = True
                    break
                self._condition.wait()
        try:
            if best.llama is None:
                best.llama = self._load()
            yield best
        finally:
            with self._condition:
                best.busy = False
                self._condition.notify_all()

    # -- blocking calls (run in a worker thread) --------------------------------------------

    def _chat(self, inst: _Instance, messages: Sequence[Message], **kwargs: Any) -> tuple[dict[str, Any], Usage]:
        llama = inst.llama
        before = np.array(llama._input_ids, copy=True)
        try:
            if "prompt" in kwargs:  # the prompt's tokens, rendered by `_prompt_with_opening`
                response = llama.create_completion(**kwargs)
                response["choices"][0]["message"] = {"content": response["choices"][0]["text"]}
            else:
                response = llama.create_chat_completion(messages=list(messages), **kwargs)
        except ValueError as exc:
            if "context window" in str(exc):
                raise UserError(
                    f"model '{self.spec}': conversation does not fit n_ctx={self.options.n_ctx} ({exc}); "
                    "pass a larger n_ctx or shorten the history"
                ) from None
            raise
        prompt_tokens = int(response["usage"]["prompt_tokens"])
        reused = _token_prefix(before, np.asarray(llama._input_ids[:prompt_tokens]))
        # llama.cpp re-evaluates the last token when the whole prompt was cached.
        reused = min(reused, max(prompt_tokens - 1, 0))
        usage = Usage(
            prompt_tokens=prompt_tokens,
            new_prompt_tokens=prompt_tokens - reused,
            completion_tokens=int(response["usage"]["completion_tokens"]),
        )
        inst.transcript = _transcript(messages) + str(response["choices"][0]["message"].get("content") or "")
        return response, usage

    @staticmethod
    def _prompt_with_opening(llama: Any, messages: Sequence[Message], opening: str) -> list[int] | None:
        """The chat prompt's tokens with `opening` as the start of the model's turn, or None when this
        model's chat format is not its own GGUF template (then the answer is generated whole).

        Rendered as llama-cpp-python's chat handler renders it, so the tokens before the
        opening are the ones `create_chat_completion` would evaluate (the KV cache is shared).
        """
        template = llama.metadata.get("tokenizer.chat_template")
        if llama.chat_handler is not None or llama.chat_format != "chat_template.default" or not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return str(llama._model.token_get_text(token)) if token != -1 else ""

        formatter = Jinja2ChatFormatter(
            template=template, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos())
        )
        rendered = formatter(messages=list(messages))  # type: ignore[arg-type]  # our Message is its message dict
        tokens = llama.tokenize((rendered.prompt + opening).encode(), add_bos=not rendered.added_special, special=True)
        return [int(token) for token in tokens]

    def _complete_greedy_schema(
        self, inst: _Instance, messages: Sequence[Message], schema_json: dict[str, Any], from_opening: bool = True,
        **kwargs: Any,
    ) -> tuple[str, Usage]:  # fmt: skip
        """A greedy grammar-constrained answer; for a one-text-field schema, from its opening on
        (`from_opening=False`: decoded whole, as `bench/opening_decoding.py` compares)."""
        from llama_cpp import LogitsProcessorList, StoppingCriteriaList

        from proactive.models.greedy_grammar import GreedyGrammar, ValueClosed, opening_of, value_end

        llama = inst.llama
        opening = opening_of(schema_json) if from_opening else None
        prompt = self._prompt_with_opening(llama, messages, opening) if opening else None
        if opening is None or prompt is None:
            constrain = GreedyGrammar(llama, schema_json)
            try:
                processors = LogitsProcessorList([constrain])
                response, usage = self._chat(inst, messages, logits_processor=processors, **kwargs)
            finally:
                constrain.close()
            return str(response["choices"][0]["message"].get("content") or ""), usage
        said = llama.tokenize(opening.encode(), add_bos=False, special=False)
        constrain = GreedyGrammar(llama, schema_json, opening=said)
        closed = ValueClosed(llama, constrain)
        try:
            _, usage = self._chat(
                inst, messages, prompt=prompt, logits_processor=LogitsProcessorList([constrain]),
                stopping_criteria=StoppingCriteriaList([closed]), **kwargs,
            )  # fmt: skip
        finally:
            constrain.close()
        value = closed.text()
        end = value_end(value)
        # Stopped at the value's last token, before evaluating it: that token is in `chosen`
        # but not in llama.cpp's completion, so the answer and its token count come from `chosen`.
        text = opening + (value[:end] + "}" if end is not None else value)
        usage = usage.model_copy(update={"completion_tokens": len(constrain.chosen)})
        inst.transcript = _transcript(messages) + text
        return text, usage

    def _complete(
        self,
        messages: Sequence[Message],
        temperature: float,
        max_tokens: int,
        schema_json: dict[str, Any] | None,
        seed: int | None = None,
    ) -> tuple[str, Usage]:
        # The seed goes with every call: llama.cpp keeps the last one on the Llama object,
        # and an instance of the pool must not sample on with another call's seed.
        seed = self.options.seed if seed is None else seed
        kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        with self._instance_for(messages) as inst:
            if schema_json is not None and temperature == 0.0:
                # The same grammar and the same greedy pick, checked on the best tokens first.
                return self._complete_greedy_schema(inst, messages, schema_json, **kwargs)
            if schema_json is not None:
                kwargs["response_format"] = {"type": "json_object", "schema": schema_json}
            response, usage = self._chat(inst, messages, **kwargs)
        return str(response["choices"][0]["message"].get("content") or ""), usage

    def _first_token_logits(self, messages: Sequence[Message]) -> tuple[np.ndarray, Any]:
        """Logits of the answer's first token, captured by a logits processor (not sampled text)."""
        from llama_cpp import LogitsProcessorList

        captured: list[np.ndarray] = []

        def capture(_input_ids: Any, scores: Any) -> Any:
            if not captured:
                captured.append(np.array(scores, dtype=np.float64, copy=True))
            return scores

        with self._instance_for(messages) as inst:
            self._chat(inst, messages, max_tokens=1, temperature=0.0, logits_processor=LogitsProcessorList([capture]))
            return captured[0], inst.llama

    def _choice_mass(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        logits, llama = self._first_token_logits(messages)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()

        def first_token(text: str) -> int | None:
            tokens = llama.tokenize(text.encode(), add_bos=False, special=False)
            return int(tokens[0]) if tokens else None

        return structured.first_token_mass(self.spec, choices, first_token, lambda token: float(probs[token]))

    # -- the ChatModel interface ------------------------------------------------------------

    def cache_identity(self) -> dict[str, Any]:
        """What besides the request decides an answer (part of the response cache key).

        n_threads, instances and verbose are left out: they change speed, not answers.
        """
        opts = self.options
        return {
            "file": self.file_identity,
            "n_ctx": opts.n_ctx,
            "n_batch": opts.n_batch,
            "seed": opts.seed,
            "max_string_length": opts.max_string_length,
            "llama_cpp": _llama_cpp_version(),
        }

    def answer_identity(self, schema: type[BaseModel] | None, temperature: float) -> dict[str, Any]:
        """What decides this kind of answer beyond `cache_identity` (the cache merges it into the key).

        A greedy answer of one text field is decoded from its opening (`_complete_greedy_schema`),
        and a batch-evaluated opening can tip a near tie (2 of 12 writer answers of the 1.5B), so
        those answers are keyed apart from the ones decoded whole; other answers keep their keys.
        """
        from proactive.models.greedy_grammar import opening_of

        if schema is None or temperature != 0.0:
            return {}
        if opening_of(structured.capped_schema(schema, self.options.max_string_length)) is None:
            return {}
        return {"decoding": DECODING}

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        """Answer the conversation; with `schema` the answer is grammar-constrained and validated."""
        started = time.perf_counter()
        schema_json = structured.capped_schema(schema, self.options.max_string_length) if schema else None

        async def ask(conversation: Sequence[Message]) -> tuple[str, Usage]:
            return await asyncio.to_thread(self._complete, conversation, temperature, max_tokens, schema_json, seed)

        text, parsed, usage = await structured.ask_validated(self.spec, schema, messages, ask)
        return ChatResult(text=text, parsed=parsed, usage=usage, latency=time.perf_counter() - started)

    async def prefill(self, messages: Sequence[Message]) -> Usage:
        """Evaluate `messages` into the KV cache now (one token is generated and dropped); its token usage.

        A later call whose prompt starts with these messages' tokens then evaluates only
        what follows: the offer writer prefills the activity log while the gate is closed,
        so an offer costs its question and its answer, not the whole log.
        """

        def run() -> Usage:
            with self._instance_for(messages) as inst:
                return self._chat(inst, messages, max_tokens=1, temperature=0.0)[1]

        return await asyncio.to_thread(run)

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """Probability of each choice as the answer's first token, normalised over `choices`."""
        mass = await asyncio.to_thread(self._choice_mass, messages, choices)
        return structured.normalise(self.spec, choices, mass)


_OPTION_NAMES = set(LlamaOptions.__dataclass_fields__)
#: How one-text-field answers are decoded here (`LlamaModel.answer_identity`).
DECODING = "opening-1"
GGUF_MAGIC = b"GGUF"


def check(name: str) -> Path:
    """The GGUF file of an alias or path, checked without loading it (`models.base.check_spec`).

    Beyond `store.resolve` (exists, alias pulled and verified), a path must start with the
    GGUF magic bytes, so a wrong file is refused before a run writes anything.
    """
    path = store.resolve(name)
    try:
        with path.open("rb") as handle:
            head = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the model file ({exc.strerror}); check its permissions") from None
    if head != GGUF_MAGIC:
        raise UserError(
            f"{path}: not a GGUF model file (it starts with {head!r}, not {GGUF_MAGIC!r}); "
            f"pass a .gguf file or an alias ({', '.join(sorted(store.SOURCES))})"
        )
    return path


@functools.cache
def _llama_cpp_version() -> str | None:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return None


def create(name: str, **options: Any) -> ChatModel:
    """Factory for `get_model("local/<alias or path.gguf>", **options)`."""
    from proactive.models.cache import build_wrapped

    return build_wrapped(
        f"local/{name}", options, _OPTION_NAMES, lambda **own: LlamaModel(name, LlamaOptions(**own))
    )
