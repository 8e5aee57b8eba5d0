"""Shared fixtures. Tests read ProactiveBench from $PROACTIVEBENCH_DIR or ../shared/proactivebench."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bench_data() -> Path:
    """The shared ProactiveBench folder (never copied into the project)."""
    path = Path(os.environ.get("PROACTIVEBENCH_DIR", REPO.parent / "shared" / "proactivebench"))
    assert path.is_dir(), f"ProactiveBench data not found at {path}; set PROACTIVEBENCH_DIR"
    return path


@pytest.fixture()
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated state directory (caches, databases) for one test."""
    home = tmp_path / "state"
    home.mkdir()
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    return home
