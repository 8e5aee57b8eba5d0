"""Atomic writes: an interrupted write leaves the old file intact, for text, bytes and artifacts."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from proactive.fileio import write_atomic, write_atomic_bytes
from proactive.gate.artifact import GateManifest, load_arrays, load_manifest, save_gate


class Interrupted(Exception):
    """Stands for a crash (power cut, kill) between writing the new data and the rename."""


def _interrupt_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise Interrupted

    monkeypatch.setattr(os, "replace", fail)


def test_text_write_replaces_and_an_interrupted_one_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sub" / "index.json"
    write_atomic(path, '{"old": true}\n')
    assert path.read_text(encoding="utf-8") == '{"old": true}\n'
    write_atomic(path, "é new\n")
    assert path.read_text(encoding="utf-8") == "é new\n"
    _interrupt_replace(monkeypatch)
    with pytest.raises(Interrupted):
        write_atomic(path, "half of a new file")
    assert path.read_text(encoding="utf-8") == "é new\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.json"]  # no temporary left behind


def test_bytes_write_interrupted_keeps_old_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "weights.npz"
    write_atomic_bytes(path, b"\x00old")
    _interrupt_replace(monkeypatch)
    with pytest.raises(Interrupted):
        write_atomic_bytes(path, b"\x01new" * 1000)
    assert path.read_bytes() == b"\x00old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]


def test_gate_artifact_survives_an_interrupted_rewrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = GateManifest(
        blocks=["timing"], regularization=1.0, threshold=0.4, training_traces=["t|a"], examples=3, positives=1
    )
    arrays = {
        "mean": np.zeros(2, np.float32),
        "scale": np.ones(2, np.float32),
        "coef": np.array([0.5, -1.0], np.float32),
        "intercept": np.array([0.25], np.float32),
    }
    save_gate(tmp_path, manifest, arrays)
    # The weights went through a BytesIO: the file on disk is a normal npz with the same arrays.
    buffer = io.BytesIO((tmp_path / "weights.npz").read_bytes())
    with np.load(buffer) as data:
        assert sorted(data.files) == sorted(arrays)
    _interrupt_replace(monkeypatch)
    changed = manifest.model_copy(update={"threshold": 0.9})
    with pytest.raises(Interrupted):
        save_gate(tmp_path, changed, {**arrays, "coef": np.ones(2, np.float32)})
    assert load_manifest(tmp_path) == manifest
    loaded = load_arrays(tmp_path)
    np.testing.assert_array_equal(loaded["coef"], arrays["coef"])
    assert set(loaded) == set(arrays)
