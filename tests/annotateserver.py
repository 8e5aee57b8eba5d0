"""A real `proactive annotate serve` for tests: a uvicorn subprocess on 127.0.0.1 and a free port.

Shared by the tests/test_annotate_{web,login,leases,bad_input,browser}.py modules. The tasks are a
ProactiveBench test trace cut to its first steps and copied into the test's tmp folder (never into
the repo).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cut_trace(bench_data: Path, dest: Path, trace: str = "code_11", steps: int = 8) -> Path:
    """Copy the first `steps` steps of a test trace into `dest` (a tasks folder); returns the folder."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = json.loads((bench_data / "test_data" / f"{trace}.json").read_text())
    (dest / f"{trace}.json").write_text(json.dumps(rows[:steps], indent=1))
    return dest


def start_server(tasks: Path, db: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start `proactive annotate serve` (with `extra` options); returns once /healthz answers."""
    command = [str(BIN / "proactive"), "annotate", "serve", "--tasks", str(tasks), "--db", str(db)]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("annotate serve did not start: " + log.read_text())
        time.sleep(0.1)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop it by PID."""
    process.kill()
    process.wait(timeout=10)


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields (csrf, nonce, version) of a rendered page."""
    fields = {}
    for name, pattern in (("csrf", CSRF), ("nonce", NONCE), ("version", VERSION)):
        found = pattern.search(html)
        if found:
            fields[name] = found.group(1)
    return fields


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    """Log in through the form (fetches the login page for its pre-session CSRF token first)."""
    page = client.get("/login")
    token = form_fields(page.text)["csrf"]
    return client.post("/login", data={"csrf": token, "name": name, "password": password})
