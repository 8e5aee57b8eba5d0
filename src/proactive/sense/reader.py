"""Read the buckets of a running ActivityWatch server with `aw-client`.

Only four bucket types are read, from any hostname: `afkstatus`, `currentwindow`,
`web.tab.current` and `app.editor.activity`. Nothing is written to the server.

aw-client hazards handled here: it takes a per-process lock named after the client
(two readers with one name would make the second `sys.exit`), so every reader gets a
unique name; and its constructor leaves a lock file and an empty request-queue database
under ActivityWatch's own folders, which are removed again when the reader closes.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from proactive.errors import UserError, missing_extra

DEFAULT_URL = "http://localhost:5600"
#: The bucket types `proactive sense` reads; every other bucket is ignored.
BUCKET_TYPES = ("afkstatus", "currentwindow", "web.tab.current", "app.editor.activity")
#: The longest --since: ten years of minutes. Far more would push the window's start before
#: year 1, where datetime overflows; no ActivityWatch database reaches back that far anyway.
MAX_SINCE_MINUTES = 10 * 365 * 24 * 60


def check_since(since_minutes: float) -> None:
    """One UserError line unless `since_minutes` is above 0 and at most MAX_SINCE_MINUTES (NaN fails)."""
    if not 0 < since_minutes <= MAX_SINCE_MINUTES:
        raise UserError(
            f"--since {since_minutes:g}: out of range; pass minutes above 0 and at most "
            f"{MAX_SINCE_MINUTES} (ten years), e.g. --since 60"
        )


def _how_to_start(url: str) -> str:
    return (
        f"no ActivityWatch server at {url}: start aw-server (or aw-qt) and its watchers, "
        "or pass --aw-url; see docs/sense.md"
    )


class RawEvent(BaseModel):
    """One event as stored by ActivityWatch (already merged from heartbeats by the server)."""

    model_config = ConfigDict(frozen=True)

    bucket_type: str = Field(description="The bucket's type, e.g. 'currentwindow'.")
    bucket_id: str = Field(description="The bucket's id, e.g. 'aw-watcher-window_laptop'.")
    hostname: str = Field(default="", description="The host the watcher ran on.")
    client: str = Field(default="", description="The watcher that fills the bucket, e.g. 'aw-watcher-web-firefox'.")
    timestamp: float = Field(description="Start, unix seconds.")
    duration: float = Field(default=0.0, ge=0.0, description="Seconds the state lasted (heartbeats merged).")
    data: dict[str, Any] = Field(default_factory=dict, description="The watcher's fields: app, title, url, status...")

    @property
    def end(self) -> float:
        """Unix seconds when the state ended."""
        return self.timestamp + self.duration


def _host_port(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--aw-url {url}: expected an http URL such as {DEFAULT_URL}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UserError(f"--aw-url {url}: the port is not a number; e.g. {DEFAULT_URL}") from None
    return parts.hostname, port, parts.scheme


def _client_paths(client: Any) -> list[Path]:
    """The lock file and queue folder aw-client made for this client name (both ours, both empty of data)."""
    paths = []
    lockfile = getattr(getattr(client, "instance", None), "lockfile", None)
    if lockfile:
        paths.append(Path(lockfile))
    queue = getattr(getattr(client, "request_queue", None), "_persistqueue", None)
    folder = getattr(queue, "path", None)
    if folder:
        paths.append(Path(folder))
    return paths


@contextmanager
def open_client(url: str) -> Iterator[Any]:
    """An `ActivityWatchClient` for `url` under a unique name, cleaned up on exit."""
    try:
        from aw_client import ActivityWatchClient
    except ImportError:
        raise missing_extra("aw-client", "sense") from None
    host, port, scheme = _host_port(url)
    # aw-client logs every failed request as a warning; the caller gets one UserError line instead.
    logging.getLogger("aw_client").setLevel(logging.ERROR)
    name = f"proactive-sense-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    client = ActivityWatchClient(name, host=host, port=port, protocol=scheme)
    try:
        yield client
    finally:
        paths = _client_paths(client)
        queue = getattr(client.request_queue, "_persistqueue", None)
        if queue is not None and hasattr(queue, "close"):
            queue.close()
        fp = getattr(client.instance, "fp", None)
        if fp is not None:
            fp.close()
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _buckets(client: Any, url: str) -> dict[str, dict[str, Any]]:
    import requests

    try:
        buckets: dict[str, dict[str, Any]] = client.get_buckets()
    except (requests.RequestException, ValueError):  # ValueError: something answered, but not ActivityWatch's JSON
        raise UserError(_how_to_start(url)) from None
    return {key: value for key, value in buckets.items() if value.get("type") in BUCKET_TYPES}


def _raw(bucket: dict[str, Any], bucket_id: str, event: Any) -> RawEvent:
    stamp = event.timestamp
    if stamp.tzinfo is None:  # aw-core stores UTC; a naive time is UTC too
        stamp = stamp.replace(tzinfo=UTC)
    return RawEvent(
        bucket_type=str(bucket.get("type", "")),
        bucket_id=bucket_id,
        hostname=str(bucket.get("hostname") or ""),
        client=str(bucket.get("client") or ""),
        timestamp=stamp.timestamp(),
        duration=max(0.0, event.duration.total_seconds()),
        data=dict(event.data or {}),
    )


def read_events(url: str = DEFAULT_URL, since_minutes: float = 60.0, until: datetime | None = None) -> list[RawEvent]:
    """Every event of the four bucket types (any host) that overlaps the last `since_minutes`.

    Raises one UserError line, saying how to start ActivityWatch, when the server is down
    or holds none of these buckets.
    """
    import requests

    check_since(since_minutes)
    end = until or datetime.now(UTC)
    start = end - timedelta(minutes=since_minutes)
    with open_client(url) as client:
        buckets = _buckets(client, url)
        if not buckets:
            raise UserError(
                f"the ActivityWatch server at {url} has no window, AFK, web or editor buckets: "
                "start its watchers (aw-watcher-window, aw-watcher-afk, the browser extension); see docs/sense.md"
            )
        events: list[RawEvent] = []
        for bucket_id, bucket in sorted(buckets.items()):
            try:
                found = client.get_events(bucket_id, start=start, end=end)
            except requests.RequestException:
                raise UserError(_how_to_start(url)) from None
            events.extend(_raw(bucket, bucket_id, event) for event in found)
    events.sort(key=lambda event: (event.timestamp, event.bucket_type))
    return events


def by_type(events: list[RawEvent]) -> dict[str, list[RawEvent]]:
    """Events grouped per bucket type, each list in time order."""
    grouped: dict[str, list[RawEvent]] = {kind: [] for kind in BUCKET_TYPES}
    for event in sorted(events, key=lambda item: item.timestamp):
        grouped.setdefault(event.bucket_type, []).append(event)
    return grouped
