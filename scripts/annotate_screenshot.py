"""Take docs/annotate.png (1100x800) and docs/annotate-narrow.png (420 px wide) of the annotation page.

Starts `proactive annotate serve` on a temporary database holding the first 8 steps of ProactiveBench's
code_11 test trace ($PROACTIVEBENCH_DIR, copied to a temp folder), adds an annotator, logs in with
Debian's headless Chromium (Playwright), opens the step-8 item, ticks two tasks and saves the pictures.

    .venv/bin/python scripts/annotate_screenshot.py [--out docs]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from proactive.annotate.store import Store

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tasks: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "proactive"), "annotate", "serve", "--tasks", str(tasks)]
    process = subprocess.Popen([*command, "--db", str(db), "--host", "127.0.0.1", "--port", str(port)])
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("annotate serve did not start")


def _shoot(page: Page, url: str, item_id: int, path: Path) -> None:
    page.goto(f"{url}/item/{item_id}")
    for value in ("0", "2"):
        page.check(f'input[name="accept"][value="{value}"]')
    page.screenshot(path=str(path), full_page=False)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    out = parser.parse_args().out
    bench = Path(os.environ.get("PROACTIVEBENCH_DIR", REPO.parent / "shared" / "proactivebench"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "tasks").mkdir()
        steps = json.loads((bench / "test_data" / "code_11.json").read_text())[:8]
        (root / "tasks" / "code_11.json").write_text(json.dumps(steps))
        port, db = _port(), root / "labels.db"
        process = _serve(root / "tasks", db, port)
        try:
            store = Store(db)
            password = store.add_user("alice")
            item_id = max(store.items(), key=lambda item: item.step).id
            url = f"http://127.0.0.1:{port}"
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    str(root / "profile"), executable_path="/usr/bin/chromium", args=ARGS, headless=True,
                    viewport={"width": 1100, "height": 800},
                )  # fmt: skip
                page = context.new_page()
                page.goto(f"{url}/login")
                page.fill('input[name="name"]', "alice")
                page.fill('input[name="password"]', password)
                with page.expect_navigation():
                    page.click('button:has-text("Log in")')
                _shoot(page, url, item_id, out / "annotate.png")
                page.set_viewport_size({"width": 420, "height": 900})
                _shoot(page, url, item_id, out / "annotate-narrow.png")
                context.close()
        finally:
            process.kill()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
