"""kill -9 in the middle of `proactive gym run`, then resume: same files, no duplicate lines.

Runs the real CLI in a subprocess on recorded answers (`data/gym_qwen.jsonl`, see
test_gym_episode.py). `--pace` spaces model calls so the kills land mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).parent / "data"
QWEN = DATA / "gym_qwen.jsonl"


def _command(bench_data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "proactive.cli.main", "gym", "run",
        "--scenes", str(bench_data / "scenes" / "scenes.yaml"), "--out", str(out),
        "--model", f"replay/{QWEN}", "--agent", "always",
        "--max-steps", "1", "--limit", "2", "--concurrency", "2", *extra,
    ]  # fmt: skip


def _lines(folder: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("*.jsonl"))


def _kill_after(command: list[str], folder: Path, lines: int, env: dict[str, str]) -> None:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if folder.is_dir() and _lines(folder) >= lines:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_kill_9_then_resume_matches_an_uninterrupted_run(bench_data: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PROACTIVE_HOME": str(tmp_path / "home")}
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    subprocess.run(_command(bench_data, whole), env=env, check=True, timeout=120, capture_output=True)
    total = _lines(whole)
    assert total >= 8

    _kill_after(_command(bench_data, interrupted, "--pace", "0.4"), interrupted, total // 3, env)
    first_kill = _lines(interrupted)
    _kill_after(_command(bench_data, interrupted, "--pace", "0.4"), interrupted, (2 * total) // 3, env)
    assert first_kill < total and _lines(interrupted) < total  # both kills landed mid-run
    subprocess.run(_command(bench_data, interrupted), env=env, check=True, timeout=120, capture_output=True)

    produced = sorted(p.name for p in whole.glob("*.json*"))
    assert produced == sorted(p.name for p in interrupted.glob("*.json*"))
    for name in produced:
        assert (interrupted / name).read_bytes() == (whole / name).read_bytes(), name
    for trace in whole.glob("*.jsonl"):
        lines = trace.read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(set(lines)), f"duplicate lines in {trace.name}"
