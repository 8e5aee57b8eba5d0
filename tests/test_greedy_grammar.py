"""Greedy grammar decoding checked on the best tokens first gives llama.cpp's grammar + greedy answer.

Real llama.cpp, real smollm2 (the plumbing model), real prompts of the offer writer on our
new traces: each answer through `response_format` (llama.cpp's grammar sampler over the whole
vocabulary, then greedy) and through `GreedyGrammar` is the same text, from an empty KV cache
both times so the two evaluate the same batches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proactive.agent.writer import WriterOffer, writer_messages
from proactive.data.labelled import load_labelled_traces
from proactive.models import greedy_grammar, structured
from proactive.models.llama import check
from proactive.types import Observation

ROOT = Path(__file__).resolve().parents[1]


def _prompts(count: int) -> list[list[dict[str, str]]]:
    traces = load_labelled_traces(ROOT / "data" / "new_traces" / "held")
    return [
        writer_messages(Observation(history=trace.trace.events[: index + 1]))
        for trace in traces for index in (2, 8)
    ][:count]  # fmt: skip


@pytest.mark.parametrize("first_look", [greedy_grammar.FIRST_LOOK, 1])
def test_the_answer_is_the_grammar_samplers_greedy_answer(first_look: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from llama_cpp import Llama, LogitsProcessorList

    monkeypatch.setattr(greedy_grammar, "FIRST_LOOK", first_look)
    llama = Llama(model_path=str(check("smollm2-135m")), n_ctx=4096, n_threads=1, n_threads_batch=1, verbose=False)
    schema = structured.capped_schema(WriterOffer, structured.DEFAULT_MAX_STRING_LENGTH)
    full_checks = 0
    for messages in _prompts(6):
        llama.reset()
        reference = llama.create_chat_completion(
            messages=messages, max_tokens=48, temperature=0.0, response_format={"type": "json_object", "schema": schema}
        )["choices"][0]["message"]["content"]
        llama.reset()
        constrain = greedy_grammar.GreedyGrammar(llama, schema)
        answer = llama.create_chat_completion(
            messages=messages, max_tokens=48, temperature=0.0, logits_processor=LogitsProcessorList([constrain])
        )["choices"][0]["message"]["content"]
        full_checks += constrain.full_checks
        constrain.close()
        assert answer == reference
    if first_look == 1:  # the whole-vocabulary path ran, and agreed too
        assert full_checks > 0


def test_a_schema_the_grammar_cannot_hold_is_refused_by_the_converter() -> None:
    with pytest.raises(Exception):  # noqa: B017 - llama-cpp-python raises its own types
        greedy_grammar.grammar_text('{"type": "nonsense-type"}')
