"""Embedded llama.cpp backend on the small model: text, schema output, KV reuse, choices, cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from proactive.errors import UserError
from proactive.models import store
from proactive.models.base import ChatModel, Message, get_model
from proactive.models.cache import CachedModel
from proactive.models.llama import LlamaModel, LlamaOptions
from proactive.models.structured import ModelOutputError, capped_schema

pytestmark = pytest.mark.llm
SMALL = "smollm2-135m"


class Suggestion(BaseModel):
    """A tiny structured answer."""

    task: str = Field(description="What to offer.")
    urgent: bool


@pytest.fixture(scope="module")
def small_model() -> LlamaModel:
    store.pull(SMALL)  # fast when already pulled (full re-verification of 98 MB)
    return LlamaModel(SMALL, LlamaOptions(n_ctx=2048))


def _conversation(turns: int) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": "You watch a user's activity and help briefly."}]
    for index in range(turns):
        messages.append(
            {"role": "user", "content": f"Event {index}: the user opened file report_{index}.txt in an editor."}
        )
        messages.append({"role": "assistant", "content": "Noted."})
    return messages


def _prompt_size(messages: list[Message]) -> int:
    return sum(len(m["content"]) for m in messages) // 5  # rough tokens, a lower bound for these texts


def test_generate_counts_tokens(small_model: LlamaModel) -> None:
    result = asyncio.run(small_model.generate([{"role": "user", "content": "Say hello."}], max_tokens=16))
    assert result.text.strip()
    assert result.usage.prompt_tokens > 5
    assert 0 < result.usage.completion_tokens <= 16
    assert result.latency > 0 and not result.cached


def test_schema_output_parses_into_the_pydantic_type(small_model: LlamaModel) -> None:
    prompt: list[Message] = [
        {"role": "user", "content": "The user edits a budget spreadsheet. Suggest one task as JSON."}
    ]
    result = asyncio.run(small_model.generate(prompt, schema=Suggestion, max_tokens=200))
    assert isinstance(result.parsed, Suggestion)
    assert Suggestion.model_validate_json(result.text) == result.parsed


def test_extended_conversation_reuses_the_kv_cache(small_model: LlamaModel) -> None:
    first = _conversation(8)
    asyncio.run(small_model.generate([*first, {"role": "user", "content": "Anything to offer?"}], max_tokens=8))
    extended: list[Message] = [*first, *_conversation(9)[-2:], {"role": "user", "content": "Anything to offer?"}]
    result = asyncio.run(small_model.generate(extended, max_tokens=8))
    assert result.usage.prompt_tokens > 150
    assert result.usage.new_prompt_tokens < result.usage.prompt_tokens / 4


def test_pool_keeps_concurrent_conversations_on_their_own_instance() -> None:
    model = LlamaModel(SMALL, LlamaOptions(n_ctx=2048, instances=2))
    a = _conversation(4)
    b: list[Message] = [{"role": "system", "content": "Different trace."}, *_conversation(4)[1:]]

    async def both(x: list[Message], y: list[Message]) -> list[int]:
        results = await asyncio.gather(model.generate(x, max_tokens=4), model.generate(y, max_tokens=4))
        return [r.usage.new_prompt_tokens for r in results]

    asyncio.run(both(a, b))
    assert len(model._pool) == 2
    tail: list[Message] = [{"role": "user", "content": "One more event: the user saved the file."}]
    new_tokens = asyncio.run(both([*a, *tail], [*b, *tail]))
    assert max(new_tokens) < 40 < _prompt_size(a)  # each extension found its own prefix in its own instance


def test_choice_probabilities_come_from_logits(small_model: LlamaModel) -> None:
    question: list[Message] = [{"role": "user", "content": "Is water wet? Answer yes or no."}]
    probabilities = asyncio.run(small_model.choice_probabilities(question, ["yes", "no"]))
    assert set(probabilities) == {"yes", "no"}
    assert abs(sum(probabilities.values()) - 1) < 1e-9
    assert 0 < probabilities["yes"] < 1
    again = asyncio.run(small_model.choice_probabilities(question, ["yes", "no"]))
    assert again == pytest.approx(probabilities)
    with pytest.raises(UserError, match="same token"):
        asyncio.run(small_model.choice_probabilities(question, ["yes", "yes please"]))


def test_a_per_call_seed_picks_the_sample(small_model: LlamaModel) -> None:
    prompt: list[Message] = [{"role": "user", "content": "Invent a name for a pet."}]

    def sample(seed: int) -> str:
        return asyncio.run(small_model.generate(prompt, temperature=1.2, max_tokens=12, seed=seed)).text

    first, others = sample(1), {sample(2), sample(3)}
    assert len({first, *others}) > 1  # one loaded model, several samples
    assert sample(1) == first  # the same seed again, after other seeds ran on the same Llama object


def test_the_cache_keys_on_the_seed(state_home: Path) -> None:
    prompt: list[Message] = [{"role": "user", "content": "Invent a name for a pet."}]
    model = get_model(f"local/{SMALL}", n_ctx=1024)

    def ask(seed: int | None) -> tuple[str, bool]:
        result = asyncio.run(model.generate(prompt, temperature=1.2, max_tokens=12, seed=seed))
        return result.text, result.cached

    one, two = ask(1), ask(2)
    assert not one[1] and not two[1]  # another seed is never served the first seed's answer
    assert ask(1) == (one[0], True)
    assert ask(None)[1] is False and ask(None)[1] is True  # unseeded: a key of its own, as before


def test_cache_turns_a_repeat_into_a_hit_without_model_work(state_home: Path) -> None:
    prompt: list[Message] = [{"role": "user", "content": "Name one colour."}]
    first = get_model(f"local/{SMALL}", n_ctx=1024)
    answer = asyncio.run(first.generate(prompt, schema=Suggestion, max_tokens=60))
    assert not answer.cached and (state_home / "cache.sqlite").is_file()

    second: ChatModel = get_model(f"local/{SMALL}", n_ctx=1024)
    assert isinstance(second, CachedModel) and isinstance(second.inner, LlamaModel)
    hit = asyncio.run(second.generate(prompt, schema=Suggestion, max_tokens=60))
    assert hit.cached and hit.latency == 0.0
    assert hit.text == answer.text and hit.parsed == answer.parsed
    assert second.inner._pool == []  # the model was never even loaded

    uncached = get_model(f"local/{SMALL}", n_ctx=1024, cache=False)
    assert isinstance(uncached, LlamaModel)


def test_context_overflow_is_a_clear_error() -> None:
    model = LlamaModel(SMALL, LlamaOptions(n_ctx=256))
    with pytest.raises(UserError, match="n_ctx=256"):
        asyncio.run(model.generate(_conversation(40), max_tokens=8))


def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"unknown option.*n_thread"):
        get_model(f"local/{SMALL}", n_thread=2)


def test_truncated_structured_answer_gets_one_repair_then_a_clear_error(small_model: LlamaModel) -> None:
    prompt: list[Message] = [{"role": "user", "content": "Suggest one task as JSON."}]
    with pytest.raises(ModelOutputError, match=r"does not fit schema Suggestion after one repair retry"):
        asyncio.run(small_model.generate(prompt, schema=Suggestion, max_tokens=4))  # too few tokens to close


def test_capped_schema_bounds_every_open_string() -> None:
    schema = capped_schema(Suggestion, max_string_length=50)
    assert schema["properties"]["task"]["maxLength"] == 50
    assert "maxLength" not in schema["properties"]["urgent"]
