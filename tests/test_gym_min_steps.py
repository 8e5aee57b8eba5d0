"""A simulated user may declare the goal finished only after `--min-steps` activities.

SmolLM2-135M's user declares the goal finished at every turn (`data/gym_smollm.jsonl`,
recorded with `--max-steps 5 --min-steps 3`, see test_gym_episode.py): before this rule
an episode ended at step 1 with no events. Each premature claim must be overruled on the
record (an `overruled` line, counted in the state and in the run summary) and the user
must go on with an activity; the last test runs the real model.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.cli.main import app
from proactive.data.loaders import load_scenes
from proactive.gym.episode import GymConfig
from proactive.gym.runner import GymRunner, RunSettings, RunSummary
from proactive.gym.state import EpisodeState, TraceLine
from proactive.models.store import models_dir
from proactive.types import Scene

DATA = Path(__file__).parent / "data"
SMOLLM = DATA / "gym_smollm.jsonl"


@pytest.fixture()
def scene(bench_data: Path) -> list[Scene]:
    return load_scenes(bench_data / "scenes" / "scenes.yaml")[:1]


def play(
    scene: list[Scene], out: Path, model: str, max_steps: int, min_steps: int, agent: str = "always"
) -> RunSummary:
    config = replace(GymConfig(), max_steps=max_steps, min_steps=min_steps)
    settings = RunSettings(out=out, model=model, agent=agent, config=config)
    return asyncio.run(GymRunner(settings).run(scene))


def read_trace(path: Path) -> list[TraceLine]:
    return [TraceLine.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_the_rule(lines: list[TraceLine], state: EpisodeState, min_steps: int) -> None:
    """What must hold for any model: no finish before `min_steps` activities, every
    premature claim on the record and followed by an activity, the counts in the state."""
    done: set[int] = set()  # steps whose activity produced events so far
    for index, line in enumerate(lines):
        if line.kind == "event" and line.source == "environment":
            done.add(line.step)
        if line.kind == "finish":
            assert len(done) >= min_steps, f"finished after {len(done)} activities"
        if line.kind == "overruled":
            assert len(done) < min_steps
            follow = lines[index + 1] if index + 1 < len(lines) else None
            assert follow is not None and (follow.kind, follow.step) == ("activity", line.step)
    assert state.activities_done == len(done)
    assert state.overruled_finishes == sum(1 for line in lines if line.kind == "overruled")
    assert (state.status == "finished") == (lines[-1].kind == "finish")


@pytest.mark.parametrize("min_steps", [0, 3])  # 0: the old rule; 3 was recorded (the prompt names it)
def test_the_user_finishes_only_after_min_steps_activities(
    min_steps: int, scene: list[Scene], tmp_path: Path, state_home: Path
) -> None:
    summary = play(scene, tmp_path, f"replay/{SMOLLM}", max_steps=5, min_steps=min_steps)
    state = summary.states[0]
    lines = read_trace(tmp_path / "scene-0000.jsonl")
    check_the_rule(lines, state, min_steps)
    # This user claims "finished" at every turn: each claim before min_steps is overruled,
    # and the first one after it ends the episode.
    assert (state.status, state.step) == ("finished", min_steps + 1)
    assert state.overruled_finishes == state.activities_done == min_steps
    assert summary.ended_early() == []
    assert summary.overruled() == ([state] if min_steps else [])


def test_a_run_shorter_than_min_steps_is_reported_as_ended_early(
    bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    """The command of the issue (`--max-steps 2`, default `--min-steps 3`), summary included."""
    result = CliRunner().invoke(
        app,
        [
            "gym", "run", "--scenes", str(bench_data / "scenes" / "scenes.yaml"), "--out", str(tmp_path),
            "--model", f"replay/{SMOLLM}", "--agent", "always", "--max-steps", "2", "--limit", "1",
        ],
        env={"COLUMNS": "400"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    state = EpisodeState.model_validate_json((tmp_path / "scene-0000.state.json").read_text())
    assert (state.status, state.step) == ("capped", 2)
    check_the_rule(read_trace(tmp_path / "scene-0000.jsonl"), state, 3)
    assert state.overruled_finishes == 2 and state.activities_done == 2
    assert "note: --max-steps 2 < --min-steps 3" in result.output
    assert (
        f"1 of 1 episodes ended before --min-steps 3 activities (1 capped); "
        f"{state.overruled_finishes} premature 'goal finished' overruled in 1 episodes"
    ) in result.output


@pytest.mark.llm
def test_the_real_model_cannot_end_an_episode_before_it_starts(
    scene: list[Scene], tmp_path: Path, state_home: Path
) -> None:
    """The real SmolLM2-135M (n_threads=1), two steps, agent `never`: a short run."""
    assert (models_dir() / "smollm2-135m.gguf").is_file(), "not pulled: proactive models pull smollm2-135m"
    summary = play(scene, tmp_path, "local/smollm2-135m", agent="never", max_steps=2, min_steps=3)
    state = summary.states[0]
    lines = read_trace(tmp_path / "scene-0000.jsonl")
    check_the_rule(lines, state, 3)
    assert state.status in ("capped", "failed") and state.step == 2  # never "finished" before 3 activities
    assert summary.ended_early() == [state]
    assert sum(1 for line in lines if line.kind == "event") >= 1
