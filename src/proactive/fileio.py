"""Writing files so that a reader (or a crash) never sees half of one.

Every artifact the project writes whole (judge and gate artifacts, LOTO index files,
metrics, run manifests) goes through `write_atomic` / `write_atomic_bytes`: the data
goes to a temporary file in the same folder, is flushed to disk, and then replaces the
target in one `os.replace`. Interrupted at any point, the old file is still there,
intact, and at most a stray temporary file is left (removed when the error is seen).

Every file the project grows one line at a time and must survive `kill -9` (bench
records, gym traces, gym SFT work files) is a `DurableLog`: see its docstring.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _fsync_folder(folder: Path) -> None:
    # The rename itself is durable only once the folder entry is on disk (POSIX only).
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (temporary file in the same folder, fsync, os.replace).

    `durable=False` skips the fsyncs: for files rebuilt from other files on every start.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: two writers of the same file never share a half-written one.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace `path` with `text` (UTF-8) atomically; see `write_atomic_bytes`."""
    write_atomic_bytes(path, text.encode("utf-8"), durable)


def read_text(path: Path) -> str:
    """The UTF-8 text of `path`; bytes that are not UTF-8 are a `DataError` naming the byte offset.

    Every reader of a text file the user hands us (traces, JSONL rows, YAML) goes through
    here, so a Latin-1 or binary file is one line naming the file, the first bad byte's
    offset (counted from 0, as `cmp` and hex editors show it) and its line, never a
    UnicodeDecodeError whose position is an offset into some internal read buffer.
    """
    from proactive.errors import DataError

    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            path, f"byte {exc.start} (line {line})", "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        ) from None  # fmt: skip


def read_jsonl(path: Path) -> list[tuple[str, Any]]:
    """The values of a JSON-lines file, each with its place ("line N"); blank lines are skipped.

    A line that is not JSON is a `DataError` naming the file and the line, so every reader
    of a JSONL file (reward rows, datasets, replay files) reports it the same way.
    """
    from proactive.errors import DataError

    values: list[tuple[str, Any]] = []
    # StringIO splits at \n, \r\n and \r only, as open() does: str.splitlines would also cut
    # at U+2028 and friends, which json.dumps(ensure_ascii=False) leaves raw inside strings.
    for number, line in enumerate(io.StringIO(read_text(path), newline=None), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            values.append((where, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(path, where, "", f"invalid JSON ({exc.msg}); fix or delete the line") from None
    return values


class DurableLog:
    """An append-only JSON-lines file that survives `kill -9` at any instant.

    `append` writes a line and its newline in one write(), flushed and fsync'ed before it
    returns. A crash can then only leave a prefix of the last line without its newline
    (a torn tail); every complete line was written whole. Reopening takes the complete
    lines and cuts the torn tail off the file, so the next append starts on a fresh line
    and the count of complete lines is exactly the count of finished appends.

    Lines are split at b"\\n" only: a JSON line holds no raw newline, but may hold a raw
    U+2028 (pydantic and `ensure_ascii=False` leave it), at which str.splitlines would cut.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> tuple[list[bytes], int, int]:
        """The complete lines (without their newlines), the offset where they end, the file size."""
        if not self.path.is_file():
            return [], 0, 0
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        return data[:end].split(b"\n")[:-1], end, len(data)

    def _cut(self, end: int) -> None:
        with self.path.open("r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())

    def load(self, parse: Callable[[bytes, int], T]) -> list[T]:
        """`parse(line, index)` of every complete line in order (index from 0), then the torn tail is cut.

        `parse` raises the caller's own one-line error for a damaged line; the file is then
        left exactly as it was, for the person to look at.
        """
        lines, end, size = self._read()
        values = [parse(line, index) for index, line in enumerate(lines)]
        if size > end:
            self._cut(end)
        return values

    def keep(self, count: int) -> int:
        """Cut the file back to its first `count` complete lines (a torn tail goes too); how many it kept.

        Fewer than `count` kept means lines are missing; the caller decides what that means.
        """
        lines, _, size = self._read()
        kept = min(count, len(lines))
        end = sum(len(line) + 1 for line in lines[:kept])
        if size > end:
            self._cut(end)
        return kept

    def append(self, line: str) -> None:
        """Append `line` (UTF-8, no newline in it) and a newline, durable before returning."""
        if "\n" in line:  # a second line would count as a second record on the next load
            raise ValueError(f"{self.path}: a log line must not contain a newline")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(line.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
