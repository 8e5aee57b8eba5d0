"""Trace grouping: one trace never lands in two folds; exclusion drops whole traces."""

from __future__ import annotations

import json
from pathlib import Path

from proactive.data.grouping import (
    drop_traces,
    grouped_folds,
    leave_one_trace_out,
    row_trace_keys,
    trace_keys_in_file,
)
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_trace_file


def test_leave_one_trace_out_never_splits_a_trace(bench_data: Path) -> None:
    rows = load_reward_rows(bench_data / REWARD_FILE)
    keys = row_trace_keys(rows)
    folds = list(leave_one_trace_out(keys))
    assert len(folds) == len(set(keys)) >= 2
    covered = 0
    for held_out, train, test in folds:
        assert {keys[i] for i in test} == {held_out}
        assert held_out not in {keys[i] for i in train}
        assert len(train) + len(test) == len(rows)
        covered += len(test)
    assert covered == len(rows)


def test_grouped_folds_assign_each_trace_to_one_fold(bench_data: Path) -> None:
    keys = row_trace_keys(load_reward_rows(bench_data / REWARD_FILE))
    folds = grouped_folds(keys, n_folds=4, seed=3)
    fold_of: dict[str, int] = {}
    for number, (train, test) in enumerate(folds):
        test_keys = {keys[i] for i in test}
        assert not test_keys & {keys[i] for i in train}
        for key in test_keys:
            assert fold_of.setdefault(key, number) == number
    assert set(fold_of) == set(keys)
    assert grouped_folds(keys, 4, seed=3)[0][1].tolist() == folds[0][1].tolist()


def test_exclusion_by_trace_file_and_by_rows_file(bench_data: Path, tmp_path: Path) -> None:
    rows = load_reward_rows(bench_data / REWARD_FILE)
    trace_path = bench_data / "test_data" / "code_11.json"
    trace_key = trace_key_of_events(load_trace_file(trace_path).events)
    assert trace_keys_in_file(trace_path) == {trace_key}
    kept = drop_traces(rows, {trace_key})
    dropped = len(rows) - len(kept)
    assert dropped == sum(k == trace_key for k in row_trace_keys(rows)) > 0
    assert trace_key not in row_trace_keys(kept)
    # A reward-row file holding ONE row of a trace still excludes the WHOLE trace.
    raw = [json.loads(line) for line in (bench_data / REWARD_FILE).read_text().splitlines() if line.strip()]
    one_row = tmp_path / "one.jsonl"
    one_row.write_text(json.dumps(raw[0]) + "\n")
    first_key = row_trace_keys(rows)[0]
    assert trace_keys_in_file(one_row) == {first_key}
    assert first_key not in row_trace_keys(drop_traces(rows, trace_keys_in_file(one_row)))
