"""Learned parts and the traces they saw: leave-one-trace-out sets, and picking the member
that may score a given trace.

Judges and gates are both fitted on annotated traces and both come as a single artifact
or as a LOTO set (one member per test trace, fitted without it, plus a `full` member).
The rule for which member may score a trace is the same for both, so it lives here once:
the member fitted without the trace; else `full`; and whatever is chosen is checked
against its own manifest's training traces, refused when it saw the trace unless the
user allowed it (`--allow-seen`, then reported).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from proactive import __version__
from proactive.errors import UserError


class LotoEntry(BaseModel):
    """One member of a leave-one-trace-out set."""

    trace_id: str = Field(description="Test trace file stem it must score, e.g. 'code_11'.")
    trace_key: str = Field(description="Identity of that trace (first event 'time|text').")
    folder: str = Field(description="Sub-folder (relative) holding the member fitted without it.")


class LotoIndex(BaseModel):
    """Index of a leave-one-trace-out set (index.json)."""

    entries: list[LotoEntry] = Field(description="One member per held-out test trace.")
    full: str | None = Field(default=None, description="Sub-folder of a member fitted on every trace, if any.")


def pick_for_trace(
    folder: Path,
    index: LotoIndex | None,
    trace_key: str | None,
    allow_seen: bool,
    training_traces: Callable[[Path], Collection[str]],
    role: str,
) -> tuple[Path, bool]:
    """The member folder that may score `trace_key` and whether it saw that trace.

    `index` is the set's index (None: `folder` is a single artifact); `training_traces`
    reads a member's manifest; `role` ("judge", "gate") names it in the one-line refusal.
    An unknown trace (`trace_key` None, as in live use) gets the `full` member.
    """
    chosen = folder
    if index is not None:
        entry = next((e for e in index.entries if trace_key is not None and e.trace_key == trace_key), None)
        if entry is not None:
            chosen = folder / entry.folder
        elif index.full is not None:
            chosen = folder / index.full
        else:
            raise UserError(
                f"{folder}: this {role} set has no member for the trace and no 'full' {role}; retrain it with --loto"
            )
    seen = trace_key is not None and trace_key in set(training_traces(chosen))
    if seen and not allow_seen:
        raise UserError(
            f"{chosen}: this {role} was trained on the scored trace ({str(trace_key)[:60]!r}); use a LOTO "
            f"set (`proactive {role} train --loto`) or pass --allow-seen to accept the leak"
        )
    return chosen, seen


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str:
    """Package version, plus the git commit of the checkout when there is one (what learned parts record)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5, check=False).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def now_utc() -> str:
    """The current time, ISO 8601 in UTC to the second (when an artifact was made)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
