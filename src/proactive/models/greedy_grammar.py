"""Greedy grammar-constrained decoding that asks the grammar about the best few tokens first.

llama-cpp-python puts llama.cpp's grammar sampler before the greedy pick, and the grammar
sampler checks every token of the vocabulary (151,936 for Qwen2.5) at every step. For a
greedy pick only the best token the grammar accepts matters, so `GreedyGrammar` (a logits
processor, used instead of `response_format`) asks the same llama.cpp grammar about the
`FIRST_LOOK` highest-scoring tokens, and about the whole vocabulary only when none of them
fits. The token it keeps is the one the grammar sampler + greedy would pick (ties: the
lowest token id, as llama.cpp's greedy), so answers do not change; each generated token
costs ~0.02 s less on one core for the 1.5B (`bench/assist_latency.py`).

An answer of one text field (the offer writer's `{"task": ...}`) also skips its scaffolding:
`opening_of` gives the text every such answer starts with (`{"task":`), the backend puts it
at the start of the model's turn and tells `GreedyGrammar` it was read, and `ValueClosed`
stops generation as soon as the field's value is complete (the closing `}` is fixed). Each
token spared is one decode step (~0.1 s for the 1.5B on one AVX2 core): 4 of an offer's ~12.
"""

from __future__ import annotations

import ctypes
import functools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Tokens whose grammar check comes first; in the writer's answers the best one fits almost always.
FIRST_LOOK = 32
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


@functools.lru_cache(maxsize=16)
def grammar_text(schema: str) -> str:
    """The GBNF grammar llama-cpp-python builds for `response_format` with this JSON schema."""
    from llama_cpp import LlamaGrammar

    return str(LlamaGrammar.from_json_schema(schema, verbose=False)._grammar)


class GreedyGrammar:
    """Logits processor: only the highest-scoring token the grammar accepts keeps its score.

    One object per generation: it holds the grammar's parse state, advanced by the tokens
    that appear after the prompt. `close()` frees the llama.cpp sampler.
    """

    def __init__(self, llama: Any, schema: dict[str, Any], opening: Sequence[int] = ()) -> None:
        import llama_cpp

        self._lib = llama_cpp
        text = grammar_text(json.dumps(schema))
        self._sampler = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, text.encode(), b"root")
        if not self._sampler:
            raise ValueError("llama.cpp could not parse the grammar of the answer's JSON schema")
        # Tokens of the answer that sit at the end of the prompt (`opening_of`): already said.
        for token in opening:
            self._lib.llama_sampler_accept(self._sampler, int(token))
        self._seen: int | None = None
        #: Steps where none of the first tokens fitted and the whole vocabulary was checked.
        self.full_checks = 0
        #: The tokens this processor picked, in order (the last one may not be in `input_ids` yet).
        self.chosen: list[int] = []

    def _allowed(self, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Which of `ids` the grammar accepts next (llama.cpp sets the others to -inf)."""
        table = np.zeros(len(ids), dtype=_TOKEN_DATA)
        table["id"] = ids
        table["logit"] = logits
        candidates = self._lib.llama_token_data_array(
            data=table.ctypes.data_as(self._lib.llama_token_data_p), size=len(ids), selected=-1, sorted=False
        )
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(candidates))
        return np.isfinite(table["logit"])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._seen is None:  # the first call sees the prompt alone
            self._seen = len(input_ids)
        for token in input_ids[self._seen :]:
            self._lib.llama_sampler_accept(self._sampler, int(token))
        self._seen = len(input_ids)
        first = np.argpartition(-scores, FIRST_LOOK)[:FIRST_LOOK]
        ok = self._allowed(first.astype(np.int32), scores[first])
        if ok.any():
            best = scores[first][ok].max()
            chosen = int(first[ok & (scores[first] == best)].min())
        else:
            self.full_checks += 1
            every = np.arange(len(scores), dtype=np.int32)
            allowed = self._allowed(every, np.asarray(scores, dtype=np.float32))
            chosen = int(np.argmax(np.where(allowed, scores, -np.inf)))  # first of equal maxima: lowest id
        kept = scores[chosen]
        scores[:] = -np.inf
        scores[chosen] = kept
        self.chosen.append(chosen)
        return scores

    def close(self) -> None:
        if self._sampler:
            self._lib.llama_sampler_free(self._sampler)
            self._sampler = None


def opening_of(schema: dict[str, Any]) -> str | None:
    """`{"name":` when every answer to `schema` starts so and one text value follows, else None.

    That is an object with exactly one property, required, whose value is a string or null
    (the offer writer's `{"task": ...}`): the grammar fixes `{"name":` and, once the value is
    complete, only `}` can follow. For anything else (numbers, several fields) None: the
    answer is generated whole.
    """
    properties = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(properties, dict) or len(properties) != 1:
        return None
    (name, value), = properties.items()
    if schema.get("required") != [name] or not isinstance(value, dict):
        return None
    kinds = [option.get("type") for option in value.get("anyOf", [value])]
    if "string" not in kinds or not set(kinds) <= {"string", "null"}:
        return None
    return "{" + json.dumps(name) + ":"


def value_end(text: str) -> int | None:
    """Where the JSON value at the start of `text` ends (after leading spaces), or None if incomplete."""
    stripped = text.lstrip()
    try:
        _, end = json.JSONDecoder().raw_decode(stripped)
    except ValueError:
        return None
    return len(text) - len(stripped) + end


class ValueClosed:
    """Stopping criterion: the value `constrain` has picked so far is complete JSON.

    llama-cpp-python asks it after each pick and before the picked token is evaluated, so the
    closing token costs no decode step; the picked tokens come from `GreedyGrammar.chosen`.
    """

    def __init__(self, llama: Any, constrain: GreedyGrammar) -> None:
        self._llama, self._constrain = llama, constrain

    def text(self) -> str:
        """The value text picked so far (it may run on past the value: `"..."}`)."""
        return bytes(self._llama.detokenize(self._constrain.chosen)).decode("utf-8", errors="replace")

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        return value_end(self.text()) is not None
