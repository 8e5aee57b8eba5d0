"""Load on the annotation app (a benchmark script, not a test): a login storm, then 50 annotators at once.

Starts the real app (`proactive annotate serve`, uvicorn, on 127.0.0.1 and a free port) on the
ProactiveBench test traces, in a fresh temporary database per part, and prints two tables:

(a) N simultaneous wrong-password logins for one existing name (each from its own client, all
    released by one barrier). A 401 means the password was checked with argon2 and failed; a 429
    means the attempt was refused before argon2. "checked" is the number of 401s: the limit is 5.
(b) N annotators log in at once and label items until the time is up or nothing is left for
    them (a short random pause before each submit, like a fast person). It counts the submits
    acknowledged (303), refused (403 "Not yours to label" and any other status), the labels
    stored in the database, duplicates (one annotator twice on one item), acknowledged submits
    missing from the database, and the login and submit latency (median, p95).

    .venv/bin/python bench/annotate_load.py                      # defaults: 50 and 50, 40 s of labelling
    .venv/bin/python bench/annotate_load.py --annotators 10 --seconds 10   # smoke run

Needs $PROACTIVEBENCH_DIR (or ../shared/proactivebench) for the traces; runs in about 1-2 minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from proactive.annotate.store import Store

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r'name="(csrf|nonce|version)" value="([^"]+)"')
CANDIDATE = re.compile(r'name="accept" value="(\d+)"')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(tasks: Path, db: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [str(BIN / "proactive"), "annotate", "serve", "--tasks", str(tasks), "--db", str(db), "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("annotate serve did not start:\n" + log.read_text())


def _fields(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def _login(client: httpx.Client, name: str, password: str, barrier: threading.Barrier | None = None) -> httpx.Response:
    token = _fields(client.get("/login").text)["csrf"]
    if barrier is not None:
        barrier.wait()
    return client.post("/login", data={"csrf": token, "name": name, "password": password})


def _run_all(count: int, work: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count)))


def login_storm(tasks: Path, root: Path, attempts: int) -> dict[str, Any]:
    """(a): `attempts` wrong passwords for one name at once."""
    db = root / "storm.sqlite3"
    Store(db).add_user("victim")
    process, url = _start(tasks, db, root / "storm.log")
    barrier = threading.Barrier(attempts)

    def attempt(_k: int) -> int:
        with httpx.Client(base_url=url, timeout=120) as client:
            return _login(client, "victim", "wrong-password", barrier).status_code

    try:
        started = time.perf_counter()
        codes = Counter(_run_all(attempts, attempt))
        elapsed = time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
    return {"attempts": attempts, "checked (401)": codes.pop(401, 0), "refused (429)": codes.pop(429, 0),
            "other": dict(codes) or "-", "seconds": f"{elapsed:.1f}"}  # fmt: skip


class Annotator:
    """One simulated person: logs in, then labels until `deadline` or until nothing is left."""

    def __init__(self, url: str, name: str, password: str, seed: int) -> None:
        self.url, self.name, self.password = url, name, password
        self.random = random.Random(seed)
        self.acknowledged: list[int] = []
        self.statuses: Counter[str] = Counter()
        self.post_seconds: list[float] = []
        self.login_seconds = float("nan")

    def run(self, barrier: threading.Barrier, deadline: float) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            started = time.perf_counter()
            response = _login(client, self.name, self.password, barrier)
            self.login_seconds = time.perf_counter() - started
            if response.status_code != 303:
                self.statuses[f"login {response.status_code}"] += 1
                return
            while time.monotonic() < deadline:
                if not self.step(client):
                    return

    def step(self, client: httpx.Client) -> bool:
        """Open the next item and submit it; False when nothing is left."""
        response = client.get("/")
        location = response.headers.get("location", "")
        if not location.startswith("/item/"):
            return False
        item_id = int(location.rsplit("/", 1)[1])
        page = client.get(location)
        if page.status_code != 200:
            self.statuses[f"page {page.status_code}"] += 1
            return True
        candidates = [int(c) for c in CANDIDATE.findall(page.text)]
        ticks = sorted(self.random.sample(candidates, self.random.randint(0, min(2, len(candidates)))))
        time.sleep(self.random.uniform(0.2, 1.0))  # reading and ticking
        data: dict[str, Any] = {**_fields(page.text), "action": "submit" if ticks else "reject"}
        data["accept"] = [str(t) for t in ticks]
        started = time.perf_counter()
        posted = client.post(location, data=data)
        self.post_seconds.append(time.perf_counter() - started)
        if posted.status_code == 303:
            self.acknowledged.append(item_id)
            self.statuses["acknowledged"] += 1
        else:
            reason = "Not yours to label" if "Not yours to label" in posted.text else ""
            self.statuses[f"refused {posted.status_code} {reason}".strip()] += 1
        return True


def _quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{statistics.median(ordered):.2f} / {p95:.2f}"


def labelling(tasks: Path, root: Path, count: int, seconds: float) -> dict[str, Any]:
    """(b): `count` annotators log in at once and label for `seconds`."""
    db = root / "load.sqlite3"
    store = Store(db)
    names = [f"ann{n:03d}" for n in range(count)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # argon2 hashing releases the GIL
        passwords = list(pool.map(store.add_user, names))
    process, url = _start(tasks, db, root / "load.log")
    people = [Annotator(url, name, password, seed)
              for seed, (name, password) in enumerate(zip(names, passwords, strict=True))]  # fmt: skip
    barrier = threading.Barrier(count)
    started = time.monotonic()
    deadline = started + seconds
    try:
        _run_all(count, lambda k: people[k].run(barrier, deadline))
        took = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    with sqlite3.connect(db) as conn:
        stored = set(conn.execute("SELECT user_id, item_id FROM labels").fetchall())
        users = dict(conn.execute("SELECT name, id FROM users").fetchall())
        duplicates = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM labels GROUP BY item_id, user_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        over_full = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM labels GROUP BY item_id HAVING COUNT(*) > 3)"
        ).fetchone()[0]
        items, full = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM((SELECT COUNT(*) FROM labels l WHERE l.item_id = i.id) = 3), 0) FROM items i"
        ).fetchone()
    acknowledged = {(users[p.name], item) for p in people for item in p.acknowledged}
    statuses: Counter[str] = Counter()
    for person in people:
        statuses.update(person.statuses)
    posts = sum(len(p.post_seconds) for p in people)
    refused = posts - statuses["acknowledged"]
    return {
        "annotators": count, "time limit s": seconds, "took s (all done or time up)": f"{took:.1f}",
        "items fully labelled": f"{full} of {items}", "submits": posts,
        "acknowledged (303)": statuses.pop("acknowledged", 0),
        "refused": f"{refused} ({100 * refused / max(posts, 1):.0f}%)",
        "refusals by kind": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())) or "-",
        "labels stored": len(stored), "acknowledged but not stored": len(acknowledged - stored),
        "stored but not acknowledged": len(stored - acknowledged), "duplicates": duplicates,
        "items over 3 labels": over_full,
        "login s median / p95": _quantiles([p.login_seconds for p in people]),
        "submit s median / p95": _quantiles([s for p in people for s in p.post_seconds]),
    }  # fmt: skip


def _table(title: str, figures: dict[str, Any]) -> None:
    print(f"\n{title}\n\n| measure | value |\n| --- | --- |")
    for key, value in figures.items():
        print(f"| {key} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=50, help="Simultaneous wrong-password logins in (a).")
    parser.add_argument("--annotators", type=int, default=50, help="Concurrent annotators in (b).")
    parser.add_argument("--seconds", type=float, default=40.0, help="How long (b) labels.")
    args = parser.parse_args()
    bench = Path(os.environ.get("PROACTIVEBENCH_DIR", REPO.parent / "shared" / "proactivebench"))
    tasks = bench / "test_data"
    with tempfile.TemporaryDirectory(prefix="annotate-load-") as folder:
        root = Path(folder)
        storm = login_storm(tasks, root, args.logins)
        _table(f"(a) {args.logins} simultaneous wrong-password logins for one name", storm)
        load = labelling(tasks, root, args.annotators, args.seconds)
        _table(f"(b) {args.annotators} annotators labelling at once", load)


if __name__ == "__main__":
    main()
