"""Bad input to the annotation app and its commands: one row per case, each a real HTTP request to a real
`proactive annotate serve` or a real `proactive annotate ...` child process.

HTTP rows check the status, a phrase of the page, the security headers (on errors too) and that no
traceback reaches the client. CLI rows check what tests/test_bad_input.py checks: exit code 2, exactly one
`error:` line naming what is wrong, no traceback, and that what existed before is still there byte for byte.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from annotateserver import cut_trace, form_fields, free_port, login, start_server, stop_server
from proactive.annotate.store import Store
from proactive.annotate.tasks import load_tasks
from proactive.annotate.web_security import SECURITY_HEADERS

HUGE = "99999999999999999999999"
BIG_BODY = 100 * 1024


@dataclass
class Web:
    """A logged-in annotator on the module's server, and the ids of its items."""

    client: httpx.Client
    store: Store
    items: list[int]

    def form(self, index: int = 0) -> dict[str, str]:
        """A fresh render's hidden fields for item `index` (each row gets its own nonce)."""
        return form_fields(self.client.get(f"/item/{self.items[index]}").text)

    def post_ticks(self, *ticks: str) -> httpx.Response:
        data = {**self.form(), "action": "submit", "accept": list(ticks)}
        return self.client.post(f"/item/{self.items[0]}", data=data)


@pytest.fixture(scope="module")
def web(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    root = tmp_path_factory.mktemp("annotate-bad")
    tasks = cut_trace(bench_data, root / "tasks", "code_11")
    port = free_port()
    process = start_server(tasks, root / "labels.db", port, root / "server.log")
    store = Store(root / "labels.db")
    password = store.add_user("ann")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    assert login(client, "ann", password).status_code == 303
    try:
        yield Web(client, store, [item.id for item in store.items()])
    finally:
        stop_server(process)


def _chunks(total: int) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length), so only counting the bytes can catch it."""
    sent = 0
    while sent < total:
        yield b"accept=1&" * 512
        sent += 9 * 512


#: name -> (request, expected status, a phrase of the answer)
HTTP_CASES: dict[str, tuple[Callable[[Web], httpx.Response], int, str]] = {
    "item id beyond 64 bits (GET)": (lambda w: w.client.get(f"/item/{HUGE}"), 404, "No such item"),
    "item id beyond 64 bits (POST)": (
        lambda w: w.client.post(f"/item/{HUGE}", data={**w.form(), "action": "reject"}), 404, "No such item"),
    "item id not a number": (lambda w: w.client.get("/item/abc"), 404, "No such item"),
    "item id in Arabic-Indic digits": (lambda w: w.client.get("/item/\u0663"), 404, "No such item"),
    "item id negative": (lambda w: w.client.get("/item/-1"), 404, "No such item"),
    "candidate in Arabic-Indic digits": (lambda w: w.post_ticks("\u0663"), 400, "candidate numbers"),
    "candidate as a superscript digit": (lambda w: w.post_ticks("\u00b2"), 400, "candidate numbers"),
    "candidate with 5000 digits": (lambda w: w.post_ticks("9" * 5000), 400, "candidate numbers"),
    "login form over the cap": (
        lambda w: w.client.post("/login", content=b"name=" + b"a" * BIG_BODY,
                                headers={"content-type": "application/x-www-form-urlencoded"}), 413, "larger than"),
    "label form over the cap": (
        lambda w: w.client.post(f"/item/{w.items[0]}", data={**w.form(), "action": "reject", "pad": "x" * BIG_BODY}),
        413, "nothing was stored"),
    "label form over the cap, chunked": (
        lambda w: w.client.post(f"/item/{w.items[0]}", content=_chunks(BIG_BODY),
                                headers={"content-type": "application/x-www-form-urlencoded"}), 413, "larger than"),
    "unknown page": (lambda w: w.client.get("/no/such/page"), 404, "Not Found"),
    "wrong method": (lambda w: w.client.put("/login", content=b"x"), 405, "Method Not Allowed"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HTTP_CASES))
def test_bad_requests_are_answered_with_a_status_and_the_security_headers(name: str, web: Web) -> None:
    request, status, phrase = HTTP_CASES[name]
    response = request(web)
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert phrase in response.text and "Traceback" not in response.text
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get(header) == value, header
    assert not any(labels for _item, labels in web.store.all_labels())  # no bad request stored anything


def test_a_server_error_is_one_line_with_the_security_headers(bench_data: Path, tmp_path: Path) -> None:
    # A real fault: the database file disappears under a running server (the next query finds no tables).
    tasks = cut_trace(bench_data, tmp_path / "tasks", "code_12")
    db, port = tmp_path / "labels.db", free_port()
    process = start_server(tasks, db, port, tmp_path / "server.log")
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        assert login(client, "ann", Store(db).add_user("ann")).status_code == 303
        for path in tmp_path.glob("labels.db*"):
            path.unlink()
        response = client.get("/")
        assert response.status_code == 500 and "Traceback" not in response.text
        assert len(response.text.splitlines()) == 1 and "nothing was stored" in response.text
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, header
        assert client.get("/healthz").status_code == 200  # the server is still up
    finally:
        stop_server(process)


# -- commands ---------------------------------------------------------------------------------


@dataclass
class Case:
    """A command, what its one line must name, and what must hold afterwards."""

    args: list[str]
    needles: tuple[str, ...]
    after: Callable[[subprocess.CompletedProcess[str]], None] | None = None
    hold: list[socket.socket] = field(default_factory=list)


def _tasks(bench_data: Path, tmp: Path) -> Path:
    return cut_trace(bench_data, tmp / "tasks", "code_11", steps=4)


def _busy_port(bench_data: Path, tmp: Path) -> Case:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    args = ["annotate", "serve", "--tasks", str(_tasks(bench_data, tmp)), "--db", str(tmp / "a.db")]

    def no_url(done: subprocess.CompletedProcess[str]) -> None:
        assert "open http" not in done.stdout, done.stdout

    return Case([*args, "--port", str(port)], (f"--port {port}", "in use", "another --port"), no_url, [listener])


def _beyond_loopback(bench_data: Path, tmp: Path) -> Case:
    args = ["annotate", "serve", "--tasks", str(_tasks(bench_data, tmp)), "--db", str(tmp / "a.db")]

    def no_url(done: subprocess.CompletedProcess[str]) -> None:
        assert "open http" not in done.stdout, done.stdout

    return Case([*args, "--host", "0.0.0.0", "--port", str(free_port())], ("--host 0.0.0.0", "--behind-tls"), no_url)


def _db_under_a_file(_bench_data: Path, tmp: Path) -> Case:
    blocker = tmp / "notes.txt"
    blocker.write_text("a plain file")
    return Case(["annotate", "add-user", "ann", "--db", str(blocker / "annotate.sqlite3")],
                (str(blocker / "annotate.sqlite3"), "cannot create"))  # fmt: skip


def _export_over_an_earlier_file(bench_data: Path, tmp: Path) -> Case:
    db = tmp / "fresh.db"
    Store(db).import_tasks(load_tasks(_tasks(bench_data, tmp)))
    out = tmp / "prev.jsonl"
    out.write_bytes(b'{"an": "earlier export"}\n' * 3)
    before = out.read_bytes()

    def unchanged(_done: subprocess.CompletedProcess[str]) -> None:
        assert out.read_bytes() == before

    return Case(["annotate", "export", "--db", str(db), "--out", str(out)], ("no item has all 3 labels",
                                                                            "left as it is"), unchanged)  # fmt: skip


def _export_nothing(bench_data: Path, tmp: Path) -> Case:
    db = tmp / "fresh.db"
    Store(db).import_tasks(load_tasks(_tasks(bench_data, tmp)))
    out = tmp / "new.jsonl"

    def nothing(_done: subprocess.CompletedProcess[str]) -> None:
        assert not out.exists()

    return Case(["annotate", "export", "--db", str(db), "--out", str(out)], ("nothing to export",), nothing)


CLI_CASES: dict[str, Callable[[Path, Path], Case]] = {
    "serve on a busy port": _busy_port,
    "serve beyond loopback without --behind-tls": _beyond_loopback,
    "add-user with --db under a regular file": _db_under_a_file,
    "export of no labels over an earlier file": _export_over_an_earlier_file,
    "export of no labels": _export_nothing,
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_bad_commands_are_one_line_and_lose_nothing(
    name: str, bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    built = CLI_CASES[name](bench_data, tmp_path)
    env = {**os.environ, "PROACTIVE_HOME": str(state_home), "HF_HUB_OFFLINE": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "proactive.cli.main", *built.args], capture_output=True,
                              text=True, env=env, timeout=60, check=False)  # fmt: skip
    finally:
        for held in built.hold:
            held.close()
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in built.needles:
        assert needle in lines[0], (needle, lines[0])
    if built.after is not None:
        built.after(done)
