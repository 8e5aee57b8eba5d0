"""`proactive bench run` / `score` through the CLI: baselines, report files, resume after kill -9."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.agent.baselines import GENERIC_TASK
from proactive.bench.store import RecordLog
from proactive.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def shared_home(module_state_home: Path) -> Path:
    """One state dir for this module, so the embedding cache is filled once."""
    return module_state_home


@pytest.fixture(scope="module")
def always_run(bench_data: Path, shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "always"
    result = runner.invoke(
        app, ["bench", "run", "--agent", "always", "--data", str(bench_data), "--out", str(out), "--samples", "200"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_always_propose_gives_the_known_timing_figures(always_run: Path) -> None:
    metrics = json.loads((always_run / "metrics.json").read_text())
    timing = metrics["splits"]["real_average"]["timing"]
    assert timing["events"] == 233
    assert timing["precision"] == pytest.approx(78 / 233)
    assert timing["recall"] == pytest.approx(1.0)
    assert timing["f1"] == pytest.approx(0.502, abs=0.0005)
    assert timing["precision_lo"] <= timing["precision"] <= timing["precision_hi"]
    paper = metrics["splits"]["real_average"]["paper"]
    assert paper is not None and paper["recall"] == pytest.approx(1.0)  # always speaks: no silence, no FN
    assert paper["false_alarm"] == pytest.approx(1 - paper["precision"])
    assert set(metrics["splits"]) == {"real_average", "real_coding", "real_writing"}
    for group in ("timing", "content"):
        block = metrics["splits"]["real_coding"][group]
        assert all(f"{k}_lo" in block and f"{k}_hi" in block for k in block if not k.endswith(("_lo", "_hi")))


def test_never_baseline_has_zero_recall(always_run: Path) -> None:
    metrics = json.loads((always_run / "metrics.json").read_text())
    never = metrics["baselines"]["never"]["real_average"]
    assert never["timing"]["recall"] == 0.0 and never["timing"]["propose_rate"] == 0.0
    assert never["paper"]["precision"] == 0.0  # judged by the same judge: silence only


def test_report_files_exist_and_parse(always_run: Path) -> None:
    with (always_run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    agents = {row["agent"] for row in rows}
    assert {"always", "never", "gpt-4o"} <= agents
    assert (always_run / "f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((always_run / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["events_done"] == 233
    assert manifest["judge"] == "human-labels" and manifest["data_hash"] and manifest["code_version"]
    steps = json.loads((always_run / "predictions" / "code_11.json").read_text())
    assert len(steps) == 15
    assert set(steps[0]) >= {"observation", "agent_response", "other_infomation", "judgement"}
    assert all(step["agent_response"] == [GENERIC_TASK] for step in steps)  # the always agent's offer, verbatim


def test_score_a_folder_of_released_format_files(always_run: Path, bench_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "released"
    shutil.copytree(always_run / "predictions", folder)
    # An event the annotators never saw must be counted, not dropped.
    steps = json.loads((folder / "code_11.json").read_text())
    steps.append({"observation": {"time": "1717379999.0", "event": "The user does something new."},
                  "agent_response": ["null"], "judgement": [False]})  # fmt: skip
    (folder / "code_11.json").write_text(json.dumps(steps))
    command = ["bench", "score", str(folder), "--data", str(bench_data), "--json", "--samples", "100"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout[result.stdout.index("{"):])
    split = metrics["splits"]["real_average"]
    assert split["counts"]["events_unlabelled"] == 1 and split["counts"]["events_scored"] == 234
    assert split["paper"]["predictions"] == 234  # the "null" string is judged as a silence
    assert split["timing"]["events"] == 233
    assert metrics["unlabelled_events"] == {"code_11": 1}


def test_other_run_in_same_folder_is_refused(always_run: Path, bench_data: Path) -> None:
    command = ["bench", "run", "--agent", "never", "--data", str(bench_data), "--out", str(always_run)]
    result = runner.invoke(app, command)
    assert result.exit_code != 0
    assert "different run" in str(result.exception)


def _record_count(out: Path) -> int:
    folder = out / "records"
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) if folder.is_dir() else 0


def test_resume_after_kill_9_loses_and_repeats_nothing(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    env = {**os.environ, "PROACTIVE_HOME": str(tmp_path / "state")}
    command = [sys.executable, "-m", "proactive.cli.main", "bench", "run", "--agent", "never", "--judge", "none",
               "--no-baselines", "--no-report", "--data", str(bench_data), "--out", str(out)]  # fmt: skip
    process = subprocess.Popen([*command, "--event-delay", "0.03"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while _record_count(out) < 40 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = _record_count(out)
    assert 40 <= done_before < 233, "the run should have been killed part-way"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    total = 0
    for trace in json.loads((bench_data / "test_data" / "splits.json").read_text())["real_average"]["files"]:
        stem = Path(trace).stem
        records = RecordLog(out / "records" / f"{stem}.jsonl").load()
        source = json.loads((bench_data / "test_data" / trace).read_text())
        assert [r.index for r in records] == list(range(len(source)))
        assert [r.event for r in records] == [s["observation"]["event"] for s in source]
        assert len(json.loads((out / "predictions" / trace).read_text())) == len(source)
        total += len(records)
    assert total == 233
    manifest = json.loads((out / "run.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["sessions"][0].get("killed") is True
    assert manifest["sessions"][1]["events_before"] == done_before
    assert manifest["events_done"] == 233 and manifest["status"] == "finished"


def test_torn_last_record_is_cut_and_appending_continues(tmp_path: Path) -> None:
    from proactive.bench.store import EventRecord
    from proactive.types import Proposal

    log = RecordLog(tmp_path / "t.jsonl")
    for index in range(3):
        log.append(EventRecord(index=index, time=str(index), event=f"e{index}", proposal=Proposal()))
    with log.path.open("ab") as handle:
        handle.write(b'{"index": 3, "time": "3", "ev')  # killed mid-write
    assert [r.index for r in log.load()] == [0, 1, 2]
    log.append(EventRecord(index=3, time="3", event="e3", proposal=Proposal(task="x")))
    assert [r.index for r in log.load()] == [0, 1, 2, 3]


def test_an_unfinished_baseline_run_is_named_so_in_the_report(
    always_run: Path, bench_data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(always_run, run)
    manifest_path = run / "baselines" / "never" / "run.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(status="running", events_done=120)
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["bench", "score", str(run), "--data", str(bench_data), "--json", "--samples", "100"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(metrics["baselines"]) == {"never (unfinished: 120 of 233 events)"}
