"""Checks of command-line values shared by the commands.

Each check raises `UserError` with one line naming the option, the value and the fix, and
runs before a command reads or writes anything, so a typo never costs a half-written
folder or a traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from proactive.errors import DataError, UserError

#: Larger generation caps are a typo here: every model we run has a context of 8k to 32k tokens.
MAX_TOKENS_LIMIT = 32768
#: More traces at once than this only thrashes a CPU (the test set has 12 traces).
CONCURRENCY_LIMIT = 64
SAMPLES_LIMIT = 1_000_000


def check_int(option: str, value: int | None, low: int, high: int | None = None) -> None:
    """`value` (None means unset) must lie in [low, high]."""
    if value is None or (value >= low and (high is None or value <= high)):
        return
    wanted = f"a whole number from {low} to {high}" if high is not None else f"a whole number of at least {low}"
    raise UserError(f"{option} {value}: out of range; pass {wanted}")


def check_float(option: str, value: float | None, low: float, high: float | None = None) -> None:
    """`value` (None means unset) must be a finite number in [low, high]."""
    if value is None or (value >= low and (high is None or value <= high)):  # NaN fails both comparisons
        return
    wanted = f"a number from {low:g} to {high:g}" if high is not None else f"a number of at least {low:g}"
    raise UserError(f"{option} {value}: out of range; pass {wanted}")


def check_positive(option: str, value: float) -> None:
    """`value` must be a finite number above zero."""
    if not 0 < value < float("inf"):
        raise UserError(f"{option} {value}: out of range; pass a number above 0")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_out_dir(option: str, path: Path) -> None:
    """`path` must be a folder, or a path where one can be created, and writable.

    Probes the nearest existing folder with a temporary file that is removed at once,
    so nothing is created unless the command goes on to write.
    """
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder; pass a folder path (it is created if missing)")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, so no folder can be made there; pick another path")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".proactive-probe-"):
            pass
    except OSError as exc:
        raise UserError(
            f"{option} {path}: cannot write in {existing} ({exc.strerror}); pass a folder you can write to"
        ) from None


def check_existing_file(option: str, path: Path) -> None:
    """`path` must be an existing file."""
    if not path.expanduser().is_file():
        raise UserError(f"{option} {path}: file not found; pass an existing file")


def _exclusion_error(option: str, path: Path, problem: str) -> UserError:
    return UserError(
        f"{option} {path}: {problem}; pass a released trace JSON (test_data/<trace>.json) or a reward-row JSONL"
    )


def excluded_trace_keys(option: str, path: Path) -> set[str]:
    """Trace keys named by a trace JSON or reward-row JSONL given to `option`; never an empty set."""
    from proactive.data.grouping import trace_keys_in_file

    if not path.is_file():
        raise _exclusion_error(option, path, "file not found")
    try:
        keys = trace_keys_in_file(path)
    except DataError as exc:
        where = f"{exc.where}: " if exc.where else ""
        field = f"field '{exc.field}' " if exc.field else ""
        raise _exclusion_error(option, path, f"{where}{field}{exc.expected}") from None
    except UnicodeDecodeError:
        raise _exclusion_error(option, path, "not a UTF-8 text file") from None
    if not keys:
        raise _exclusion_error(option, path, "holds no trace (empty file)")
    return keys


def key_list(option: str, path: Path) -> set[str]:
    """Trace keys ('time|text' of a trace's first event) listed one per line in a text file."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise _exclusion_error(option, path, "not a UTF-8 text file") from None
    keys = {line for line in lines if line}
    if not keys:
        raise _exclusion_error(option, path, "holds no trace key (empty file)")
    for number, line in enumerate(lines, start=1):
        if line and "|" not in line:
            raise UserError(
                f"{option} {path}: line {number} {line[:40]!r} is not a trace key ('time|first event'); "
                "pass a key list, a trace JSON or a reward-row JSONL"
            )
    return keys
