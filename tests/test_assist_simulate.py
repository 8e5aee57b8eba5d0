"""`proactive assist simulate` on two real test traces with a tiny trained gate and the human-labels person."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.bench.assist_sim import ArmResult, SimulationReport
from proactive.cli.main import app
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_trace_file
from proactive.gate.loto import train_gate_folder
from proactive.gate.threshold import UserThreshold
from proactive.gate.trained import TrainedGate
from proactive.gate.training import TrainSpec

CHEAP = TrainSpec(block_sets=[["keywords", "recency", "apps", "timing", "position"]], regularizations=[0.1])
TRACES = ["code_11.json", "writing_11.json"]


@pytest.fixture(scope="module")
def report(bench_data: Path, tmp_path_factory: pytest.TempPathFactory, module_state_home: Path) -> SimulationReport:
    folder = tmp_path_factory.mktemp("traces")
    for name in TRACES:
        shutil.copy(bench_data / "test_data" / name, folder / name)
    keys = {trace_key_of_events(load_trace_file(folder / name).events) for name in TRACES}
    gate = tmp_path_factory.mktemp("gate")
    # Trained without the two simulated traces, so the gate never saw the day it is tested on.
    train_gate_folder(load_reward_rows(bench_data / REWARD_FILE), gate, CHEAP, excluded=keys)
    out = folder / "report.json"
    args = [
        "assist", "simulate", "--traces", str(folder), "--gate", str(gate), "--agent", "candidates",
        "--ignore-share", "0.25", "--seed", "3", "--max-per-hour", "6", "--data", str(bench_data), "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "learning on" in result.output and "learning off" in result.output
    parsed = SimulationReport.model_validate(json.loads(out.read_text(encoding="utf-8")))
    parsed.gate = str(TrainedGate.load(gate).threshold)  # the base threshold, for the checks below
    return parsed


def _arm(report: SimulationReport, learning: str) -> ArmResult:
    return next(arm for arm in report.arms if arm.learning == learning)


def test_learner_only_uses_answers_already_received(report: SimulationReport) -> None:
    base = float(report.gate)
    on = _arm(report, "on")
    replayed = UserThreshold(base=base)
    for step in on.steps:
        # The threshold the agent used at this event follows from the answers to earlier events only.
        assert step.threshold == pytest.approx(replayed.effective)
        if step.answer is not None:
            replayed.record("rejected" if step.answer == "dismissed" else step.answer)
    assert on.final_threshold_offset == pytest.approx(replayed.offset)
    assert all(step.threshold == pytest.approx(base) for step in _arm(report, "off").steps)


def test_on_and_off_differ_only_through_the_threshold(report: SimulationReport) -> None:
    on, off = _arm(report, "on"), _arm(report, "off")
    assert len(on.steps) == len(off.steps) > 0
    for a, b in zip(on.steps, off.steps, strict=True):
        assert a.gate_probability == pytest.approx(b.gate_probability)  # same gate, same history
        for step in (a, b):
            if step.task is not None:
                assert step.gate_probability is not None and step.gate_probability >= step.threshold
    # Each arm's totals are the sums of its steps, hour by hour.
    for arm in (on, off):
        assert arm.total("proposals") == sum(s.shown for s in arm.steps)
        assert arm.total("accepted") == sum(s.answer == "accepted" for s in arm.steps)
        assert arm.total("asked") == len(arm.steps)
    if all(s.threshold >= float(report.gate) for s in on.steps):
        # Learning only ever raised the bar, so it proposed on a subset of the events off proposed on.
        assert sum(s.task is not None for s in on.steps) <= sum(s.task is not None for s in off.steps)
    assert report.ignore_share == 0.25 and report.seed == 3
