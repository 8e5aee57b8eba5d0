"""The `hf/` backend on the real SmolLM2-135M (transformers, GGUF dequantized), with and without a trained adapter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from fitdata import write_dataset
from proactive.errors import UserError
from proactive.models.base import ChatModel, Message, check_spec, get_model
from proactive.models.structured import ModelOutputError
from proactive.train.finetune import FitOptions, run_sft

SMALL = "smollm2-135m"
CONVERSATION: list[Message] = [
    {"role": "system", "content": "You watch the user's screen and offer one helpful task, or stay silent."},
    {"role": "user", "content": "The user opened report1.txt."},
]


class Verdict(BaseModel):
    """A tiny schema: the answer is only 'yes' or 'no'."""

    answer: Literal["yes", "no"]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def base() -> ChatModel:
    return get_model(f"hf/{SMALL}", cache=False)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, smollm2_folder: Path) -> Path:
    """An adapter trained hard (high learning rate) on one odd answer, so greedy output must move."""
    root = tmp_path_factory.mktemp("hf")
    data = write_dataset(root / "data", target="ZEBRA ZEBRA ZEBRA", count=4)
    # trained on the dequantized folder (fast to load), applied below to the GGUF alias: the same weights
    options = FitOptions(base=str(smollm2_folder), data=[data], out=root / "run", max_steps=4, save_steps=4,
                         batch_size=2, grad_accum=1, max_length=256, lr=2e-2, seed=0)  # fmt: skip
    run_sft(options)
    return root / "run" / "adapter"


def test_generate_is_greedy_and_counts_tokens(base: ChatModel) -> None:
    first = run(base.generate(CONVERSATION, max_tokens=12))
    second = run(base.generate(CONVERSATION, max_tokens=12))
    assert first.text and first.text == second.text
    assert first.usage.prompt_tokens > 10 and 0 < first.usage.completion_tokens <= 12


def test_a_per_call_seed_picks_the_sample(base: ChatModel) -> None:
    def sample(seed: int) -> str:
        return str(run(base.generate(CONVERSATION, temperature=1.2, max_tokens=12, seed=seed)).text)

    first, others = sample(1), {sample(2), sample(3)}
    assert len({first, *others}) > 1
    assert sample(1) == first


def test_structured_output_is_schema_valid_or_a_clear_model_output_error(base: ChatModel) -> None:
    try:
        result = run(base.generate(CONVERSATION, schema=Verdict, max_tokens=40))
    except ModelOutputError as exc:
        # SmolLM2 without a grammar tends to echo the schema: the error must carry what went wrong.
        assert exc.problem and exc.answer and exc.usage is not None and exc.usage.completion_tokens > 0
        assert f"model 'hf/{SMALL}'" in str(exc) and "Verdict" in str(exc)
    else:
        assert isinstance(result.parsed, Verdict)


def test_choice_probabilities_come_from_logits(base: ChatModel) -> None:
    probs = run(base.choice_probabilities(CONVERSATION, ["yes", "no"]))
    assert set(probs) == {"yes", "no"} and abs(sum(probs.values()) - 1) < 1e-9
    assert 0 < probs["yes"] < 1


def test_trained_adapter_loads_and_changes_the_answers(base: ChatModel, adapter: Path) -> None:
    tuned = get_model(f"hf/{SMALL}+{adapter}", cache=False)
    before = run(base.generate(CONVERSATION, max_tokens=8))
    after = run(tuned.generate(CONVERSATION, max_tokens=8))
    assert after.text != before.text
    # it moved towards the trained target: more first-token mass on ZEBRA than the base has
    choices = ["ZEBRA", "The"]
    base_zebra = run(base.choice_probabilities(CONVERSATION, choices))["ZEBRA"]
    tuned_zebra = run(tuned.choice_probabilities(CONVERSATION, choices))["ZEBRA"]
    assert tuned_zebra > 10 * base_zebra, (base_zebra, tuned_zebra)  # measured: 0.0009 -> 0.08


def test_spec_checks_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such model folder"):
        check_spec(f"hf/{tmp_path / 'missing'}")
    (tmp_path / "model").mkdir()
    with pytest.raises(UserError, match=r"no config\.json"):
        check_spec(f"hf/{tmp_path / 'model'}")
    with pytest.raises(UserError, match="not a LoRA adapter folder"):
        check_spec(f"hf/{SMALL}+{tmp_path}")
    with pytest.raises(UserError, match="unknown option"):
        get_model(f"hf/{SMALL}", n_ctx=10)
