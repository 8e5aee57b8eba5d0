"""The shipped gate set: built on first use, one member per test trace fitted without it, picked by the bench."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from proactive.cli.bench_cmd import NEW_TRACES
from proactive.data.labelled import load_labelled_traces, rows_of_labelled
from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_test_traces
from proactive.errors import UserError
from proactive.gate import default
from proactive.gate.artifact import load_index, load_manifest
from proactive.gate.choose import choose_gate
from proactive.gate.default import DEFAULT_BLOCKS, TRAIN_TRACES, default_gate_folder
from proactive.gate.trained import TrainedGate
from proactive.types import AgentConfig


def _keys(folder: Path) -> set[str]:
    return {trace_key_of_events(t.trace.events) for t in load_labelled_traces(folder)}


def test_built_once_with_one_member_per_test_trace(default_gate: Path, bench_data: Path) -> None:
    index = load_index(default_gate)
    assert index is not None and index.full == "full" and len(index.entries) == 12
    ours = _keys(TRAIN_TRACES)
    # Every training trace has its own key (no two start with the same event).
    assert len(ours) == len(list(TRAIN_TRACES.glob("*.json"))) >= 72
    # Our evaluation traces are never fitted on: a figure on them is a figure on unseen activity.
    parts = ("dev", "held", "blind", "blind2", "blind3", "blind4", "blind5")
    unseen: set[str] = set().union(*(_keys(NEW_TRACES / part) for part in parts))
    for entry in index.entries:
        manifest = load_manifest(default_gate / entry.folder)
        assert manifest.blocks == DEFAULT_BLOCKS
        trained = set(manifest.training_traces)
        assert entry.trace_key not in trained and len(trained) == 15 + len(ours)
        assert ours <= trained and not unseen & trained
    assert len(load_manifest(default_gate / "full").training_traces) == 16 + len(ours)
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


def test_training_traces_become_one_silence_row_per_event() -> None:
    traces = load_labelled_traces(TRAIN_TRACES)
    rows = rows_of_labelled(traces)
    assert len(rows) == sum(len(t.trace.events) for t in traces)
    first = traces[0]
    for index, row in enumerate(rows[: len(first.trace.events)]):
        assert row.history == first.trace.events[: index + 1] and row.task is None
        assert row.help_needed == first.help_needed[index] and row.valid is not row.help_needed
    assert {row_trace_key(r) for r in rows} == _keys(TRAIN_TRACES)


def test_a_changed_training_trace_builds_a_new_set(
    bench_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "train_traces"
    shutil.copytree(TRAIN_TRACES, copy)
    reward_file = bench_data / REWARD_FILE
    monkeypatch.setattr(default, "TRAIN_TRACES", copy)
    before = default.fingerprint(reward_file)
    path = sorted(copy.glob("*.json"))[0]
    document = json.loads(path.read_text(encoding="utf-8"))
    document["events"][0]["help_needed"] = not document["events"][0]["help_needed"]
    document["events"][0].setdefault("objects", ["x"])
    path.write_text(json.dumps(document), encoding="utf-8")
    assert default.fingerprint(reward_file) != before


def test_a_changed_situation_pattern_builds_a_new_set(bench_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error / search / question patterns live in situation.py: editing them refits the gate."""
    import inspect

    from proactive import situation

    reward_file = bench_data / REWARD_FILE
    before = default.fingerprint(reward_file)
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: real(obj) + ("\n# edited" if obj is situation else ""))
    assert default.fingerprint(reward_file) != before


def test_agents_never_hear_of_traces() -> None:
    assert "trace_key" not in AgentConfig.model_fields and "allow_seen" not in AgentConfig.model_fields


def test_a_run_keeps_the_default_set_it_started_with_when_the_feature_code_changes(
    bench_data: Path, default_gate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bench resolves `--gate default` per trace: once resolved in a process, an edit of the
    feature code on disk (a new fingerprint, a set with other columns) does not swap it mid-run."""
    import inspect

    from proactive import situation
    from proactive.gate import choose

    monkeypatch.setenv("PROACTIVE_HOME", str(default_gate.parents[1]))
    monkeypatch.setattr(choose, "_PINNED_DEFAULT", {})
    first = choose.gate_folder("default", bench_data)
    assert first == default_gate
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: real(obj) + ("\n# edited" if obj is situation else ""))
    assert default.default_gate_folder.__name__  # the builder is still there; the pin is what holds
    assert choose.gate_folder("default", bench_data) == first
    monkeypatch.setattr(choose, "_PINNED_DEFAULT", {})
    edited = default.fingerprint(bench_data / REWARD_FILE)
    assert edited not in first.name
