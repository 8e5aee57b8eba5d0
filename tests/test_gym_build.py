"""`proactive scenes build` on recorded answers of the embedded Qwen2.5-Coder-1.5B.

`data/gym_build.jsonl` was recorded with PROACTIVE_RECORD while building scenes for the
first seed tasks (see docs/gym.md). The near-duplicate filter uses the real MiniLM model.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from proactive.cli.main import app
from proactive.data.loaders import load_scenes, load_seeds
from proactive.gym.builder import is_near_duplicate, normalise_operation, pick_seed_tasks

DATA = Path(__file__).parent / "data"
BUILD = DATA / "gym_build.jsonl"


def _build(bench_data: Path, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        [
            "scenes", "build", "--seeds", str(bench_data / "scenes" / "seedtask.yaml"), "--out", str(out),
            "--limit-seeds", "1", "--model", f"replay/{BUILD}", *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_build_writes_valid_scenes_and_resumes(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    out = tmp_path / "scenes.yaml"
    first = _build(bench_data, out)
    assert "1 scenes written" in first
    scenes = load_scenes(out)  # the released loader accepts what the builder wrote
    assert len(scenes) == 1
    scene = scenes[0]
    seed_task = pick_seed_tasks(load_seeds(bench_data / "scenes" / "seedtask.yaml"), 1)[0].task
    assert scene.user.goal == seed_task
    assert len(scene.environment.entities) >= 3 and len(scene.environment.events_example) >= 3
    assert all(re.fullmatch(r"[a-z0-9_]+\(.*\)", op) for op in scene.environment.agent_ops)
    again = _build(bench_data, out)
    assert "0 scenes written" in again and "1 kept from before" in again
    assert len(load_scenes(out)) == 1


def test_operations_are_normalised() -> None:
    assert normalise_operation("Open File(path)") == "open_file(path)"
    assert normalise_operation("browser_search") == "browser_search()"
    assert normalise_operation(" terminal.run(cmd) ") == "terminal_run(cmd)"


def test_near_duplicates_are_found_by_embedding(state_home: Path) -> None:
    from proactive.models.embeddings import embed

    vectors = embed(
        [
            "Data analysis in finance. Daniel writes SQL queries for a quarterly report.",
            "Financial data analysis. Daniel is writing SQL queries for the quarterly report.",
            "Kitchen cleaning. Maria wipes the countertops and washes the stove.",
        ]
    )
    kept = [vectors[0]]
    assert is_near_duplicate(vectors[1], kept, 0.8) is not None
    assert is_near_duplicate(vectors[2], kept, 0.8) is None
    assert is_near_duplicate(vectors[1], kept, 1.0) is None  # threshold 1 keeps everything
    # The filter takes a dot product for the cosine: right only for unit vectors.
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
