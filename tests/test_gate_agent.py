"""The gated agent: silence below the threshold at no LLM cost, the writer above it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from proactive.agent.base import AgentConfig, Observation, get_agent
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
from proactive.errors import UserError
from proactive.gate.loto import train_gate_folder
from proactive.gate.training import TrainSpec

CHEAP = TrainSpec(block_sets=[["keywords", "recency", "apps", "timing", "position"]], regularizations=[0.1])
SMALL_MODEL = "local/smollm2-135m"


@pytest.fixture(scope="module")
def gate_setup(bench_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    trace = load_test_traces(bench_data)[0]
    key = trace_key_of_events(trace.events)
    folder = tmp_path_factory.mktemp("gate")
    train_gate_folder(load_reward_rows(bench_data / REWARD_FILE), folder, CHEAP, excluded={key})
    return trace, key, folder


def test_silent_below_threshold_without_loading_the_model(gate_setup, state_home: Path) -> None:  # type: ignore[no-untyped-def]
    trace, key, folder = gate_setup
    config = AgentConfig(gate=str(folder), trace_key=key, threshold=1.0, model=SMALL_MODEL)
    agent = get_agent("gated", config)
    for i in range(4):
        proposal = asyncio.run(agent(Observation(history=trace.events[: i + 1])))
        assert proposal.is_silence
        assert proposal.thoughts == proposal.purpose == ""  # nothing for the writer to imitate later
        assert proposal.gate_probability is not None and 0.0 <= proposal.gate_probability < 1.0
    assert agent.writer_calls == 0  # type: ignore[attr-defined]
    assert agent._writer is None  # type: ignore[attr-defined]
    # No model call was made, so the response cache of this isolated state dir holds nothing.
    cache = state_home / "cache.sqlite"
    if cache.exists():
        with sqlite3.connect(cache) as db:
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0


def test_seen_gate_is_refused_without_the_flag(gate_setup, bench_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _trace, key, _ = gate_setup
    seen = tmp_path / "seen"
    train_gate_folder(load_reward_rows(bench_data / REWARD_FILE), seen, CHEAP)
    with pytest.raises(UserError, match="trained on the scored trace"):
        get_agent("gated", AgentConfig(gate=str(seen), trace_key=key))
    agent = get_agent("gated", AgentConfig(gate=str(seen), trace_key=key, allow_seen=True))
    assert agent.gate_saw_trace  # type: ignore[attr-defined]


@pytest.mark.llm
def test_writer_speaks_when_the_gate_opens(gate_setup, state_home: Path) -> None:  # type: ignore[no-untyped-def]
    from proactive.models.store import models_dir

    model_file = models_dir() / "smollm2-135m.gguf"
    assert model_file.is_file(), "smollm2-135m not pulled: proactive models pull smollm2-135m"
    trace, key, folder = gate_setup
    config = AgentConfig(gate=str(folder), trace_key=key, threshold=0.0, model=SMALL_MODEL, max_tokens=64)
    agent = get_agent("gated", config)
    first = asyncio.run(agent(Observation(history=trace.events[:1])))
    second = asyncio.run(agent(Observation(history=trace.events[:2], previous=[first])))
    assert agent.writer_calls == 2  # type: ignore[attr-defined]
    assert second.gate_probability is not None
    assert agent._writer is not None  # type: ignore[attr-defined]
    # The writer must propose once the gate has opened, even when its answer was invalid.
    assert not first.is_silence and not second.is_silence
    assert second.task and second.task.strip() == second.task


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
    # The prompt lists every event, oldest first, so consecutive events share a prefix.
    shorter, longer = gate_messages(trace.events[:2]), gate_messages(trace.events[:3])
    assert trace.events[2].text in longer[1]["content"] and trace.events[2].text not in shorter[1]["content"]


def test_writer_view_folds_gate_silences_into_the_next_event(gate_setup) -> None:  # type: ignore[no-untyped-def]
    from proactive.agent.gated import writer_view
    from proactive.types import Proposal

    trace, _, _ = gate_setup
    events = trace.events[:4]
    silenced = Proposal(task=None, gate_probability=0.1)
    written = Proposal(task="Offer a regex", thoughts="stuck on validation", gate_probability=0.9)
    view = writer_view(Observation(history=events, previous=[silenced, written, silenced]))
    # Event 0 (gate-silenced) joins event 1, which the writer answered; event 2 (silenced) joins the new event 3.
    texts = [e.text for e in view.history]
    assert texts == [f"{events[0].text} Then: {events[1].text}", f"{events[2].text} Then: {events[3].text}"]
    assert view.previous == [written]
