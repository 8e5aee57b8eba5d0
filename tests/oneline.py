"""The bad-input contract, checked the same way for every room: one `error:` line, exit 2, no traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence


def assert_one_error_line(
    done: subprocess.CompletedProcess[str], needles: Sequence[str], after: Callable[[], None] | None = None
) -> None:
    """Exit 2, exactly one non-empty stderr line starting with "error: " holding every needle; then `after()`."""
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if after is not None:
        after()
