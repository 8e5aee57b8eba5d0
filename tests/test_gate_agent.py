"""The gated agent: silence below the threshold at no LLM cost, the offer writer (or its decline) above it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from proactive.agent.base import AgentConfig, AgentStep, Observation, get_agent
from proactive.agent.gated import GatedAgent
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
from proactive.errors import UserError
from proactive.gate.choose import choose_gate
from proactive.gate.loto import train_gate_folder
from proactive.gate.trained import TrainedGate
from proactive.gate.training import TrainSpec
from proactive.types import Judgement, Proposal

CHEAP = TrainSpec(block_sets=[["keywords", "recency", "apps", "timing", "position"]], regularizations=[0.1])
SMALL_MODEL = "local/smollm2-135m"


@pytest.fixture(scope="module")
def gate_setup(bench_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    trace = load_test_traces(bench_data)[0]
    key = trace_key_of_events(trace.events)
    folder = tmp_path_factory.mktemp("gate")
    train_gate_folder(load_reward_rows(bench_data / REWARD_FILE), folder, CHEAP, excluded={key})
    return trace, key, folder


@pytest.mark.parametrize("prefill", [False, pytest.param(True, marks=pytest.mark.llm)])
def test_silent_below_threshold_without_asking_the_writer(gate_setup, state_home: Path, prefill: bool) -> None:  # type: ignore[no-untyped-def]
    trace, key, folder = gate_setup
    config = AgentConfig(gate=str(folder), threshold=1.0, model=SMALL_MODEL)
    # The bench picks the trace's gate (fitted without it) and hands it to the agent.
    gate = choose_gate(str(folder), SMALL_MODEL, 1.0, key)
    agent = GatedAgent(gate, config, prefill=prefill)
    for i in range(4):
        step = asyncio.run(agent(Observation(history=trace.events[: i + 1])))
        assert isinstance(step, AgentStep)
        assert not step.cached and not step.invalid and step.proposal.is_silence
        if prefill:  # the writer read the new event into its KV cache: those tokens are counted, nothing generated
            assert step.usage is not None and step.usage.completion_tokens <= 1 and step.usage.new_prompt_tokens > 0
        else:  # nothing asked of the model at all
            assert step.usage is None
        proposal = step.proposal
        assert proposal.is_silence
        assert proposal.thoughts == proposal.purpose == ""  # nothing for the writer to imitate later
        assert proposal.gate_probability is not None and 0.0 <= proposal.gate_probability < 1.0
    assert agent.writer_calls == 0
    # Without prefill the writer (and its model) is not even built; with it, the model only
    # reads the activity log into its KV cache while the gate stays closed.
    assert (agent._writer is not None) is prefill
    # No answer was asked for, so the response cache of this isolated state dir holds nothing.
    cache = state_home / "cache.sqlite"
    if cache.exists():
        with sqlite3.connect(cache) as db:
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0


def test_seen_gate_is_refused_without_the_flag(gate_setup, bench_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _trace, key, folder = gate_setup
    seen = tmp_path / "seen"
    train_gate_folder(load_reward_rows(bench_data / REWARD_FILE), seen, CHEAP)
    with pytest.raises(UserError, match="trained on the scored trace"):
        choose_gate(str(seen), trace_key=key)
    gate = choose_gate(str(seen), trace_key=key, allow_seen=True)
    assert isinstance(gate, TrainedGate) and gate.saw_trace
    assert "TRAINED ON THE SCORED TRACE" in gate.provenance
    agent = get_agent("gated", AgentConfig(gate=str(seen), model=SMALL_MODEL), gate=gate)
    assert "TRAINED ON THE SCORED TRACE" in agent.provenance  # type: ignore[attr-defined]
    # The gate fitted without the trace is taken as is, and the report says so.
    clean = choose_gate(str(folder), trace_key=key)
    assert isinstance(clean, TrainedGate) and not clean.saw_trace
    assert "trained without the scored trace" in clean.provenance
    assert "TRAINED ON" not in get_agent("gated", AgentConfig(model=SMALL_MODEL), gate=clean).provenance  # type: ignore[attr-defined]


@pytest.mark.llm
def test_writer_speaks_when_the_gate_opens(gate_setup, state_home: Path) -> None:  # type: ignore[no-untyped-def]
    from proactive.models.store import models_dir

    model_file = models_dir() / "smollm2-135m.gguf"
    assert model_file.is_file(), "smollm2-135m not pulled: proactive models pull smollm2-135m"
    trace, key, folder = gate_setup
    config = AgentConfig(gate=str(folder), threshold=0.0, model=SMALL_MODEL, max_tokens=64)
    agent = get_agent("gated", config, gate=choose_gate(str(folder), SMALL_MODEL, 0.0, key))
    first = asyncio.run(agent(Observation(history=trace.events[:1])))
    second = asyncio.run(agent(Observation(history=trace.events[:2], previous=[first.proposal])))
    assert agent.writer_calls == 2  # type: ignore[attr-defined]
    assert agent._writer is not None  # type: ignore[attr-defined]
    # Once the gate has opened the writer is asked: it offers a task, or declines (silence, with why).
    for step in (first, second):
        proposal = step.proposal
        assert proposal.gate_probability is not None
        if step.invalid:
            assert step.problem and proposal.is_silence
        else:
            assert step.usage is not None and step.usage.prompt_tokens > 0  # the writer's call cost tokens
        if proposal.is_silence:
            assert proposal.thoughts.startswith("writer declined ("), proposal.thoughts
        else:
            assert proposal.task and proposal.task.strip() == proposal.task and proposal.message == proposal.task
    declined = sum(step.proposal.is_silence for step in (first, second))
    assert agent.declined == declined  # type: ignore[attr-defined]
    assert f"declined {declined} of 2 openings" in agent.provenance  # type: ignore[attr-defined]


@pytest.mark.llm
def test_llm_gate_reads_yes_probability_from_logprobs(gate_setup, state_home: Path) -> None:  # type: ignore[no-untyped-def]
    from proactive.models.store import models_dir

    model_file = models_dir() / "smollm2-135m.gguf"
    assert model_file.is_file(), "smollm2-135m not pulled: proactive models pull smollm2-135m"
    from proactive.gate.llm_gate import create as create_llm_gate
    from proactive.gate.llm_gate import gate_messages

    trace, _, _ = gate_setup
    gate = create_llm_gate(AgentConfig(model=SMALL_MODEL, threshold=0.3))
    assert gate.threshold == 0.3
    probability = asyncio.run(gate(Observation(history=trace.events[:3])))
    assert 0.0 < probability < 1.0
    # The bare-history entry point (training, evaluation) asks the same question.
    assert asyncio.run(gate.probability(trace.events[:3])) == pytest.approx(probability)
    # The prompt lists every event, oldest first, so consecutive events share a prefix.
    shorter = gate_messages(Observation(history=trace.events[:2]))
    longer = gate_messages(Observation(history=trace.events[:3]))
    assert trace.events[2].text in longer[1]["content"] and trace.events[2].text not in shorter[1]["content"]
    assert longer[0] == shorter[0] and longer[1]["content"].index(trace.events[1].text) > 0


def test_writer_and_llm_gate_read_one_activity_log(gate_setup) -> None:  # type: ignore[no-untyped-def]
    from proactive.agent.writer import writer_messages
    from proactive.gate.llm_gate import gate_messages
    from proactive.prompts import render
    from proactive.prompts.activity import GATE_TEMPLATE

    trace, _, _ = gate_setup
    events = trace.events[:4]
    silenced = Proposal(task=None, gate_probability=0.1)
    written = Proposal(task="Offer a regex", thoughts="stuck on validation", gate_probability=0.9)
    dismissed = Judgement(accepted=False)
    observation = Observation(history=events, previous=[silenced, written, silenced], feedback=[None, dismissed, None])
    gate, writer = gate_messages(observation), writer_messages(observation)
    # One shared prefix (system + activity log), then each its own question.
    assert gate[0] == writer[0] and gate[0]["role"] == "system"
    log = gate[1]["content"][: gate[1]["content"].rindex("\n\n")]
    assert writer[1]["content"].startswith(log) and gate[1]["content"] != writer[1]["content"]
    # Every event is a line of the log, in order; the gate's silences are not shown as answers,
    # the writer's earlier offer is, with the person's answer, under its event.
    positions = [log.index(" ".join(e.text.split())) for e in events]
    assert positions == sorted(positions)
    assert log.count("you offered") == 1
    offered = log.index('you offered: "Offer a regex" (they dismissed it)')
    assert positions[1] < offered < positions[2]
    # After the log: the gate's yes/no question, or the writer's request for a JSON offer.
    assert gate[1]["content"] == f"{log}\n\n{render(GATE_TEMPLATE).strip()}"
    assert writer[1]["content"].rstrip().endswith("as JSON:")

