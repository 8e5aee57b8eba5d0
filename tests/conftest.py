"""Shared fixtures. Tests read ProactiveBench from $PROACTIVEBENCH_DIR or ../shared/proactivebench."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bench_data() -> Path:
    """The shared ProactiveBench folder (never copied into the project)."""
    path = Path(os.environ.get("PROACTIVEBENCH_DIR", REPO.parent / "shared" / "proactivebench"))
    assert path.is_dir(), f"ProactiveBench data not found at {path}; set PROACTIVEBENCH_DIR"
    return path


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M dequantized from its GGUF once per session into a Hugging Face folder.

    Training tests load their base from here in about a second instead of dequantizing the
    GGUF (~17 s) every time; the GGUF path itself is still exercised by the `hf/` tests.
    """
    from proactive.models import hf_load

    folder = tmp_path_factory.mktemp("smollm2-hf")
    source = hf_load.resolve_base("smollm2-135m")
    hf_load.load_causal_lm(source).save_pretrained(str(folder), safe_serialization=True)
    hf_load.load_tokenizer(source).save_pretrained(str(folder))
    return folder


@pytest.fixture()
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated state directory (caches, databases) for one test."""
    home = tmp_path / "state"
    home.mkdir()
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def module_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One state dir for a whole test module, so MiniLM embeddings are computed once."""
    path = tmp_path_factory.mktemp("state")
    old = os.environ.get("PROACTIVE_HOME")
    os.environ["PROACTIVE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PROACTIVE_HOME", None)
    else:
        os.environ["PROACTIVE_HOME"] = old


@pytest.fixture(scope="session")
def default_gate(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped gate set, built once per session into its own state dir (as on first use).

    The state dir is switched only while building: the folder stays valid afterwards."""
    from proactive.gate.default import default_gate_folder

    home = tmp_path_factory.mktemp("default-gate-home")
    old = os.environ.get("PROACTIVE_HOME")
    os.environ["PROACTIVE_HOME"] = str(home)
    try:
        return default_gate_folder(bench_data)
    finally:
        if old is None:
            os.environ.pop("PROACTIVE_HOME", None)
        else:
            os.environ["PROACTIVE_HOME"] = old


@pytest.fixture()
def browser_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$BROWSER set to a script that records every URL it is asked to open, one per line."""
    log = tmp_path / "opened.txt"
    script = tmp_path / "record-browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n', encoding="utf-8")
    script.chmod(0o700)
    monkeypatch.setenv("BROWSER", str(script))
    return log
