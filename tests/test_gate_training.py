"""The gate's training protocol: LOTO never mixes traces, thresholds move the right way, artifacts round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from proactive.data.grouping import grouped_folds, leave_one_trace_out
from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.errors import UserError
from proactive.gate.artifact import pick_gate_folder, save_gate, save_index
from proactive.gate.evaluate import load_loto_data, loto_examples
from proactive.gate.loto import train_gate_folder
from proactive.gate.threshold import UserThreshold
from proactive.gate.trained import TrainedGate
from proactive.gate.training import TrainSpec, best_threshold, default_encoder, examples_from_rows, train_gate
from proactive.provenance import LotoEntry, LotoIndex

# Cheap blocks keep these tests free of the embedding model.
CHEAP = TrainSpec(block_sets=[["keywords", "recency", "apps", "timing", "position"]], regularizations=[0.1])


@pytest.fixture(scope="module")
def loto_data(bench_data: Path):  # type: ignore[no-untyped-def]
    return load_loto_data(bench_data)


def test_loto_split_never_shares_a_trace(loto_data) -> None:  # type: ignore[no-untyped-def]
    assert len(loto_data.traces) == 12
    for trace in loto_data.traces:
        held = trace_key_of_events(trace.events)
        train_keys = {e.trace_key for e in loto_examples(loto_data, trace)}
        assert held not in train_keys
        assert len(train_keys) == 15
        # The rows really come from the held-out trace's first event, not just a differing label.
        assert all(not key.startswith(trace.events[0].time.strip() + "|") for key in train_keys)


def test_grouped_folds_keep_groups_whole() -> None:
    groups = ["a", "a", "b", "c", "c", "c", "d", "e"]
    for train, test in grouped_folds(groups, 3):
        assert {groups[i] for i in train}.isdisjoint({groups[i] for i in test})
    for held, train, test in leave_one_trace_out(groups):
        assert {groups[i] for i in test} == {held}
        assert held not in {groups[i] for i in train}


def test_examples_are_one_per_distinct_history(loto_data) -> None:  # type: ignore[no-untyped-def]
    examples = examples_from_rows(loto_data.rows)
    histories = {(e.trace_key, tuple((x.time, x.text) for x in e.history)) for e in examples}
    assert len(histories) == len(examples) < len(loto_data.rows)
    assert {e.trace_key for e in examples} == {row_trace_key(r) for r in loto_data.rows}


def test_user_threshold_moves_with_feedback() -> None:
    threshold = UserThreshold(base=0.4)
    raised = threshold.record("rejected")
    assert raised > 0.4
    after_ignore = threshold.record("ignored")
    assert after_ignore > raised
    lowered = threshold.record("accepted")
    assert lowered < after_ignore
    for _ in range(100):
        threshold.record("rejected")
    assert threshold.effective == pytest.approx(0.4 + threshold.limit)
    assert not threshold.opens(0.6) and threshold.opens(0.7)
    with pytest.raises(UserError):
        threshold.record("shrug")  # type: ignore[arg-type]


def test_best_threshold_tracks_the_labels() -> None:
    probabilities = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    labels = np.array([False, False, False, True, True, True])
    threshold, f1 = best_threshold(probabilities, labels)
    assert f1 == 1.0 and 0.3 < threshold <= 0.6
    # Making positives rarer at the top moves the chosen threshold up.
    threshold_hi, _ = best_threshold(probabilities, np.array([False, False, False, False, False, True]))
    assert threshold_hi > threshold


def test_artifact_round_trip_and_seen_trace_refused(loto_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    held = loto_data.traces[0]
    held_key = trace_key_of_events(held.events)
    seen_dir, unseen_dir = tmp_path / "seen", tmp_path / "unseen"
    train_gate_folder(loto_data.rows, seen_dir, CHEAP)
    # The gate as fitted, in memory, then written and read back: same figures, same decisions.
    manifest, arrays = train_gate(loto_examples(loto_data, held), CHEAP, default_encoder())
    assert held_key not in manifest.training_traces
    save_gate(unseen_dir, manifest, arrays)
    histories = [held.events[: i + 1] for i in range(len(held.events))]
    fitted = TrainedGate(manifest, arrays).probabilities(histories)
    reloaded = TrainedGate.load(unseen_dir)
    loaded = reloaded.probabilities(histories)
    np.testing.assert_allclose(loaded, fitted, rtol=1e-6)
    assert reloaded.threshold == manifest.threshold and reloaded.manifest == manifest
    assert fitted.std() > 0  # the held-out events do not all get one probability
    # A gate that saw the trace is refused unless explicitly allowed.
    with pytest.raises(UserError, match="trained on the scored trace"):
        pick_gate_folder(seen_dir, held_key, allow_seen=False)
    assert pick_gate_folder(seen_dir, held_key, allow_seen=True) == (seen_dir, True)
    # A LOTO index picks the gate trained without the trace, and the full gate otherwise.
    save_index(
        tmp_path, LotoIndex(entries=[LotoEntry(trace_id=held.id, trace_key=held_key, folder="unseen")], full="seen")
    )
    assert pick_gate_folder(tmp_path, held_key, allow_seen=False) == (unseen_dir, False)
    assert pick_gate_folder(tmp_path, None, allow_seen=False) == (seen_dir, False)
