"""`proactive redact`: standard input to standard output, line by line, through the privacy filter.

Bytes that are not UTF-8 are decoded with errors="replace" (each becomes U+FFFD), so the output is
always valid UTF-8 and a stray byte never stops the stream. Line endings and empty lines are kept,
so line N of the output is line N of the input, filtered. Each line is flushed as it is written,
so the command also works at the end of a live pipe.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

import typer

from proactive.sense.redact import redact_lines

app = typer.Typer(help="Redact secrets and personal data from standard input, line by line.")


def _split(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """(line text without its ending, the ending) for each line; the last line may have no ending."""
    for raw in stream:
        body = raw.rstrip(b"\r\n")
        yield body.decode("utf-8", errors="replace"), raw[len(body) :]


def filter_stream(source: BinaryIO, sink: BinaryIO) -> int:
    """Write the redacted lines of `source` to `sink`; return the number of lines."""
    endings: deque[bytes] = deque()  # redact_lines yields one line per line read, so this stays short

    def texts() -> Iterator[str]:
        for text, ending in _split(source):
            endings.append(ending)
            yield text

    count = 0
    for clean in redact_lines(texts()):
        sink.write(clean.encode("utf-8") + endings.popleft())
        sink.flush()
        count += 1
    return count


@app.callback(invoke_without_command=True)
def redact_command() -> None:
    """Read standard input, write it with every secret replaced by [REDACTED:<kind>]."""
    try:
        filter_stream(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # `proactive redact < log | head` is normal use, not an error
        sys.stderr.close()
