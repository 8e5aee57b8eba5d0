"""A real aw-server for tests, on 127.0.0.1, and a feeder that sends heartbeats like the watchers do.

Shared by tests/test_sense_aw.py and tests/test_assist_live.py. The server runs with in-memory
storage in testing mode on a free port, one per test module, and is stopped by its PID.
Use it with `from awserver import Feeder, aw_home, aw_server, feeder  # noqa: F401`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import aw_client  # the `sense` extra: installed by the test command, so a missing one fails loudly
import pytest
import requests
from aw_core.models import Event as AwEvent

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _xdg(root: Path) -> dict[str, str]:
    return {name: str(root / name.lower()) for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}


def start_aw_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    """Start aw-server (in-memory storage, testing mode) on 127.0.0.1:`port`; returns once it answers."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **_xdg(root)}
    command = [str(BIN / "aw-server"), "--testing", "--host", "127.0.0.1", "--port", str(port), "--storage", "memory"]
    with (root / "server.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/api/0/info", timeout=1).ok:
                return process
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("aw-server did not start: " + (root / "server.log").read_text())
        time.sleep(0.1)


def stop_aw_server(process: subprocess.Popen[bytes]) -> None:
    """Stop it by PID."""
    process.kill()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def aw_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real aw-server (in-memory storage, testing mode) on a free port; stopped by PID."""
    port = free_port()
    process = start_aw_server(tmp_path_factory.mktemp("aw"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_aw_server(process)


@pytest.fixture()
def aw_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """aw-client's own config / lock / queue folders, kept out of the real home for this test."""
    root = tmp_path / "aw-client-home"
    for name, value in _xdg(root).items():
        monkeypatch.setenv(name, value)
    return root


class Feeder:
    """Sends heartbeats like the watchers do, into buckets with ids unique to one test."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        # aw-client locks per process and client name: a unique name per feeder.
        self.client = aw_client.ActivityWatchClient(
            f"test-feeder-{os.getpid()}-{uuid.uuid4().hex[:8]}", host=host, port=int(port)
        )
        self.tag = uuid.uuid4().hex[:8]
        self.buckets: dict[str, str] = {}

    def bucket(self, kind: str, name: str) -> str:
        bucket_id = f"{name}_{self.tag}"
        if bucket_id not in self.buckets:
            self.client.create_bucket(bucket_id, kind)
            self.buckets[bucket_id] = kind
        return bucket_id

    def beats(self, kind: str, name: str, start: float, stop: float, data: Mapping[str, object], every: float = 5.0,
              pulsetime: float = 10.0) -> int:  # fmt: skip
        """Heartbeats every `every` s from `start` to `stop` (inclusive); returns how many were sent."""
        bucket_id = self.bucket(kind, name)
        count, moment = 0, start
        while moment <= stop + 1e-6:
            stamp = datetime.fromtimestamp(moment, UTC)
            self.client.heartbeat(bucket_id, AwEvent(timestamp=stamp, duration=0, data=dict(data)), pulsetime=pulsetime)
            count, moment = count + 1, moment + every
        return count

    def close(self) -> None:
        for bucket_id in self.buckets:
            self.client.delete_bucket(bucket_id, force=True)


@pytest.fixture()
def feeder(aw_server: str, aw_home: Path) -> Iterator[Feeder]:
    made = Feeder(aw_server)
    yield made
    made.close()
