"""The shipped gate set: built on first use, one member per test trace fitted without it, picked by the bench."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import load_test_traces
from proactive.errors import UserError
from proactive.gate.artifact import load_index, load_manifest
from proactive.gate.choose import choose_gate
from proactive.gate.default import DEFAULT_BLOCKS, default_gate_folder
from proactive.gate.trained import TrainedGate
from proactive.types import AgentConfig


def test_built_once_with_one_member_per_test_trace(default_gate: Path, bench_data: Path) -> None:
    index = load_index(default_gate)
    assert index is not None and index.full == "full" and len(index.entries) == 12
    for entry in index.entries:
        manifest = load_manifest(default_gate / entry.folder)
        assert manifest.blocks == DEFAULT_BLOCKS
        assert entry.trace_key not in manifest.training_traces and len(manifest.training_traces) == 15
    assert len(load_manifest(default_gate / "full").training_traces) == 16
    # A second use finds it: nothing is rebuilt (same folder, untouched files).
    stamp = os.stat(default_gate / "index.json").st_mtime_ns
    home = default_gate.parents[1]
    old = os.environ.get("PROACTIVE_HOME")
    os.environ["PROACTIVE_HOME"] = str(home)
    try:
        assert default_gate_folder(bench_data) == default_gate
    finally:
        os.environ.pop("PROACTIVE_HOME", None) if old is None else os.environ.__setitem__("PROACTIVE_HOME", old)
    assert os.stat(default_gate / "index.json").st_mtime_ns == stamp


def test_the_bench_picks_the_member_fitted_without_the_trace(default_gate: Path, bench_data: Path) -> None:
    trace = next(t for t in load_test_traces(bench_data) if t.id == "code_11")
    key = trace_key_of_events(trace.events)
    gate = choose_gate(str(default_gate), trace_key=key)
    assert isinstance(gate, TrainedGate) and gate.folder == default_gate / "code_11"
    assert not gate.saw_trace and "trained without the scored trace" in gate.provenance
    with pytest.raises(UserError, match="trained on the scored trace"):
        choose_gate(str(default_gate / "full"), trace_key=key)
    seen = choose_gate(str(default_gate / "full"), trace_key=key, allow_seen=True)
    assert isinstance(seen, TrainedGate) and seen.saw_trace and "TRAINED ON THE SCORED TRACE" in seen.provenance
    # Live use (no trace): the full member.
    live = choose_gate(str(default_gate))
    assert isinstance(live, TrainedGate) and live.folder == default_gate / "full"


def test_agents_never_hear_of_traces() -> None:
    assert "trace_key" not in AgentConfig.model_fields and "allow_seen" not in AgentConfig.model_fields
