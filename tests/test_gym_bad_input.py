"""Bad input to `proactive gym run` / `proactive scenes build`: one line, exit 2, nothing lost.

Each case starts from files a real run produced (the gym on recorded Qwen2.5-Coder-1.5B
answers, `data/gym_qwen.jsonl`; a scenes file the builder wrote from `data/gym_build.jsonl`),
damages one of them as a crash, a disk error or a hand edit would, runs the real CLI in a
subprocess and checks that it refuses in one line naming the file (and the field, where
there is one) and leaves every file byte for byte as it was.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from proactive.data.loaders import load_scenes
from proactive.gym.episode import GymConfig
from proactive.gym.runner import GymRunner, RunSettings

DATA = Path(__file__).parent / "data"
QWEN = DATA / "gym_qwen.jsonl"
BUILD = DATA / "gym_build.jsonl"


@dataclass(frozen=True)
class Case:
    """One damaged input: how to damage it, which command then runs, what the line must name."""

    name: str
    damage: Callable[[Path], object]  # gets the work folder
    command: str  # "gym" or "build"
    names: tuple[str, ...]  # substrings the error line must contain
    out: str = ""  # --out, when not the default of the command
    model: str = ""  # --model, when not the recording


def _gym_folder(bench_data: Path, folder: Path) -> None:
    """A real finished gym run (one released scene, one step) in `folder`."""
    scenes = load_scenes(bench_data / "scenes" / "scenes.yaml")[:1]
    settings = RunSettings(out=folder, model=f"replay/{QWEN}", agent="always", config=GymConfig(max_steps=1))
    asyncio.run(GymRunner(settings).run(scenes))


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _drop_last_line(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))


CASES = [
    Case("corrupt run.json", lambda w: _cut(w / "out" / "run.json", 0.5), "gym", ("run.json",)),
    Case("run.json not an object", lambda w: (w / "out" / "run.json").write_text("[]\n"), "gym", ("run.json",)),
    Case(
        "unreadable state (torn JSON)",
        lambda w: _cut(w / "out" / "scene-0000.state.json", 0.6),
        "gym",
        ("scene-0000.state.json", "scene-0000.jsonl"),
    ),
    Case(
        "state with a bad field",
        lambda w: _replace(w / "out" / "scene-0000.state.json", '"step": 1', '"step": "one"'),
        "gym",
        ("scene-0000.state.json", "'step'"),
    ),
    Case(
        "trace shorter than its state",
        lambda w: _drop_last_line(w / "out" / "scene-0000.jsonl"),
        "gym",
        ("scene-0000.jsonl", "lines_written"),
    ),
    Case(
        "scenes to play: malformed YAML",
        lambda w: (w / "play.yaml").write_text("- id: a\n  user: [unclosed\n"),
        "gym-scenes",
        ("play.yaml",),
    ),
    Case(
        "scenes build resume: malformed YAML",
        lambda w: _replace(w / "scenes.yaml", "environment:", "environment: [unclosed"),
        "build",
        ("scenes.yaml", "line"),
    ),
    Case(
        "scenes build resume: not a list",
        lambda w: (w / "scenes.yaml").write_text("theme: one scene written by hand\n"),
        "build",
        ("scenes.yaml", "list of scenes"),
    ),
    Case(
        "scenes build resume: an item that is not a scene",
        lambda w: _replace(w / "scenes.yaml", "- environment:", "- just a note\n- environment:"),
        "build",
        ("scenes.yaml", "[0]"),
    ),
    Case("gym --out is a file", lambda w: (w / "notes.txt").write_text("mine\n"), "gym", ("notes.txt",), "notes.txt"),
    Case(
        "gym with a bad --model (no run.json written)",
        lambda w: None,
        "gym",
        ("missing.jsonl",),
        out="fresh",
        model="replay/missing.jsonl",
    ),
    Case("scenes build --out is a folder", lambda w: (w / "kept").mkdir(), "build", ("kept",), "kept"),
]


def _command(case: Case, bench_data: Path, work: Path) -> list[str]:
    main = [sys.executable, "-m", "proactive.cli.main"]
    if case.command == "build":
        return [
            *main, "scenes", "build", "--seeds", str(bench_data / "scenes" / "seedtask.yaml"),
            "--out", str(work / (case.out or "scenes.yaml")), "--limit-seeds", "1", "--model", f"replay/{BUILD}",
            "--dedup-threshold", "1",
        ]  # fmt: skip
    scenes = work / "play.yaml" if case.command == "gym-scenes" else bench_data / "scenes" / "scenes.yaml"
    return [
        *main, "gym", "run", "--scenes", str(scenes), "--out", str(work / (case.out or "out")),
        "--model", case.model or f"replay/{QWEN}",
        "--agent", "always", "--max-steps", "2", "--limit", "1",
    ]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def produced(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files real runs produced: a gym folder and a scenes file, copied per case."""
    base = tmp_path_factory.mktemp("produced")
    (base / "home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROACTIVE_HOME", str(base / "home"))
        _gym_folder(bench_data, base / "out")
    env = {**os.environ, "PROACTIVE_HOME": str(base / "home")}
    build = Case("", lambda _w: None, "build", ())
    done = subprocess.run(_command(build, bench_data, base), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return base


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_and_loses_nothing(case: Case, produced: Path, bench_data: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    subprocess.run(["cp", "-a", str(produced), str(work)], check=True)
    case.damage(work)
    before = _snapshot(work)
    env = {**os.environ, "PROACTIVE_HOME": str(work / "home"), "COLUMNS": "400"}
    done = subprocess.run(_command(case, bench_data, work), env=env, capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    after = _snapshot(work)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing changed
    assert set(after) == set(before)  # and nothing was added
