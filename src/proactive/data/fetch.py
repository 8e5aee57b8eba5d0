"""Validate a ProactiveBench folder, and download the same layout from the authors' repository."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx

from proactive.data.loaders import (
    REWARD_FILE,
    SCENES_FILE,
    SEEDS_FILE,
    load_reward_rows,
    load_scenes,
    load_seeds,
    load_test_traces,
)
from proactive.errors import UserError

#: The authors' public repository, raw files on its main branch.
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/thunlp/ProactiveAgent/main"

_TRACES = [f"{kind}_{n}.json" for kind in ("code", "writing") for n in range(11, 17)]
_PUBLISHED = [
    "activeagent", "activellama", "activenoagent", "activeqwen", "claude-3-5-sonnet",
    "claude-3-sonnet-20240229", "deepseek-7b-chat", "gpt-3.5-turbo", "gpt-4o-mini", "gpt-4o",
    "llama3-70b", "llama3-8b", "llama3.1-70b", "llama3.1-8b", "qwen2-72b-instruct", "qwen2-7b",
]  # fmt: skip

#: local path in our layout -> path in the authors' repository.
LAYOUT: dict[str, str] = {
    **{f"test_data/{name}": f"dataset/test_data/{name}" for name in [*_TRACES, "splits.json"]},
    REWARD_FILE: "dataset/reward_data/train_data.jsonl",
    SEEDS_FILE: "dataset/seedtask.yaml",
    SCENES_FILE: "dataset/scenes.yaml",
    **{f"published_results/{n}.csv": f"eval/results/{n}.csv" for n in _PUBLISHED},
}


def validate(data: Path) -> dict[str, int]:
    """Load everything in `data` with full checks; counts of traces, events, reward rows, scenes."""
    traces = load_test_traces(data)
    rows = load_reward_rows(data / REWARD_FILE)
    scenes = load_scenes(data / SCENES_FILE)
    load_seeds(data / SEEDS_FILE)
    return {
        "traces": len(traces),
        "events": sum(len(t.events) for t in traces),
        "reward_rows": len(rows),
        "scenes": len(scenes),
    }


def download(
    target: Path,
    base_url: str = DEFAULT_BASE_URL,
    on_file: Callable[[str], None] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Fetch every file of the layout into `target`; files already present are kept.

    Each file is written to a temporary name and renamed when complete, so an
    interrupted download never leaves a truncated file that looks finished.
    """
    written: list[Path] = []
    base = base_url.rstrip("/")
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for local, remote in LAYOUT.items():
            path = target / local
            if path.is_file() and path.stat().st_size > 0:
                continue
            url = f"{base}/{remote}"
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                raise UserError(f"{url}: download failed ({type(exc).__name__}); check --base-url") from None
            if response.status_code != 200:
                raise UserError(f"{url}: HTTP {response.status_code}; check --base-url")
            _store(path, response.content)
            written.append(path)
            if on_file is not None:
                on_file(local)
    return written


def _store(path: Path, content: bytes) -> None:
    """Write one downloaded file via a temporary name; an unwritable target is one line."""
    partial = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(content)
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write ({exc.strerror}); pass a --to folder you can write to") from None


def folder_hash(data: Path, files: list[str] | None = None) -> str:
    """sha256 over the layout's files (names and bytes): identifies the data a run used."""
    digest = hashlib.sha256()
    for local in sorted(files or LAYOUT):
        path = data / local
        if path.is_file():
            digest.update(local.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
