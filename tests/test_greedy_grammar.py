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


def test_the_opening_is_known_only_for_one_text_field() -> None:
    from pydantic import BaseModel

    class Two(BaseModel):
        task: str
        why: str

    class Count(BaseModel):
        count: int

    class Optional(BaseModel):
        task: str | None = None

    writer = structured.capped_schema(WriterOffer, structured.DEFAULT_MAX_STRING_LENGTH)
    assert greedy_grammar.opening_of(writer) == '{"task":'
    for other in (Two, Count, Optional):
        assert greedy_grammar.opening_of(structured.capped_schema(other)) is None, other.__name__


@pytest.mark.parametrize(
    ("text", "end"),
    [(' "fix it"}', 9), (' null}', 5), (' "fix', None), (' nul', None), (' "say \\"hi\\""', 13), (" ", None)],
)
def test_value_end_finds_where_a_json_value_closes(text: str, end: int | None) -> None:
    assert greedy_grammar.value_end(text) == end


def test_an_answer_from_its_opening_stops_at_the_value_and_loses_nothing() -> None:
    """The fast path (opening in the prompt, stop when the value closes) against the same start
    generated on to the end of the JSON: the same answer, and no decode step after the value."""
    from llama_cpp import LogitsProcessorList

    from proactive.models.llama import LlamaModel, LlamaOptions, _Instance

    model = LlamaModel("smollm2-135m", LlamaOptions(n_ctx=4096))
    inst = _Instance(llama=model._load())
    llama = inst.llama
    schema = structured.capped_schema(WriterOffer, structured.DEFAULT_MAX_STRING_LENGTH)
    opening = greedy_grammar.opening_of(schema)
    assert opening is not None
    said = llama.tokenize(opening.encode(), add_bos=False, special=False)
    closed_early = 0
    for messages in _prompts(4):
        # The tokens before the opening are the ones the chat handler evaluates (one KV cache for both).
        llama.reset()
        chat_prompt = llama.create_chat_completion(messages=messages, max_tokens=1)["usage"]["prompt_tokens"]
        prompt = LlamaModel._prompt_with_opening(llama, messages, opening)
        assert prompt is not None and prompt == [*llama._input_ids[:chat_prompt].tolist(), *said]

        llama.reset()
        text, usage = model._complete_greedy_schema(inst, messages, schema, temperature=0.0, max_tokens=48, seed=0)
        evaluated = llama.n_tokens
        llama.reset()
        constrain = greedy_grammar.GreedyGrammar(llama, schema, opening=said)
        whole = llama.create_completion(
            prompt=prompt, max_tokens=48, temperature=0.0, logits_processor=LogitsProcessorList([constrain])
        )["choices"][0]["text"]
        constrain.close()
        assert text.rstrip() == (opening + whole).rstrip()
        if structured.validate(WriterOffer, text)[0] is not None:  # the value closed before max_tokens
            closed_early += 1
            assert evaluated == len(prompt) + usage.completion_tokens - 1  # the closing token was never evaluated
    assert closed_early > 0
