"""Where things live: the state directory and the ProactiveBench data directory."""

from __future__ import annotations

import os
from pathlib import Path

from proactive.errors import UserError

STATE_ENV = "PROACTIVE_HOME"
DATA_ENV = "PROACTIVEBENCH_DIR"


def state_dir() -> Path:
    """The one directory for caches, models and databases (`$PROACTIVE_HOME` overrides)."""
    base = os.environ.get(STATE_ENV)
    path = Path(base) if base else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "proactive"
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if fresh or path.stat().st_uid == os.getuid():
        # What is sensed about a person is cached here: nobody else on the machine may read it.
        path.chmod(0o700)
    return path


def data_dir(option: str | Path | None = None) -> Path:
    """ProactiveBench location: `--data`, else `$PROACTIVEBENCH_DIR`, else ../shared/proactivebench."""
    chosen = option or os.environ.get(DATA_ENV)
    path = Path(chosen).expanduser() if chosen else Path.cwd().parent / "shared" / "proactivebench"
    if not path.is_dir():
        raise UserError(
            f"{path}: ProactiveBench data not found; pass --data DIR, set {DATA_ENV}, "
            "or fetch it with `proactive data download --to DIR`"
        )
    return path
