"""End to end in a real headless Chromium (Debian's, driven by Playwright): three annotators label a trace,
the export equals the majority-vote rows computed here from their planned ticks, and `judge train` runs on it.

Annotator A answers with the keyboard, B with the mouse, C mixes both in a 400 px wide window. A last test
checks that an open page renews its item's lease while its annotator is at work (static/app.js).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from annotateserver import BIN, cut_trace, free_port, start_server, stop_server
from proactive.annotate.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
TRACE = "code_11"
STEPS = 8  # steps 0, 2, 4, 6 and 7 carry candidates: five items
#: Per annotator, per item (in step order): the candidates ticked, [] = Reject all.
PLAN = {
    "ann-a": [[0, 1], [2], [], [0, 3, 4], [1]],
    "ann-b": [[0], [2, 3], [], [0], []],
    "ann-c": [[0, 1], [], [1], [0, 3], [1]],
}
CATEGORY = {"CD": "Correct-Detection (CD)", "FA": "False-Alarm (FA)", "CR": "Correct-Rejection (CR)",
            "MN": "Missed-Need (MN)"}  # fmt: skip


def expected_rows(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's rule applied to PLAN: valid = ticked by >= 2 of 3, help needed = some task ticked by all 3,
    plus one silence row per item whose votes are the "reject all"s (docs/annotate.md, "Export rule")."""
    items = [(index, step) for index, step in enumerate(steps) if step["agent_response"]["candidate_task"]]
    rows = []
    for k, (index, step) in enumerate(items):
        obs = [{"time": s["observation"]["time"], "event": s["observation"]["event"]} for s in steps[: index + 1]]
        ticks = [PLAN[name][k] for name in PLAN]
        candidates = step["agent_response"]["candidate_task"]
        votes = [[i in tick for tick in ticks] for i in range(len(candidates))]
        help_needed = any(all(v) for v in votes)
        for task, v in zip(candidates, votes, strict=True):
            valid = sum(v) >= 2
            rows.append({"obs": obs, "pred_task": task, "valid": valid, "help_needed": help_needed, "annotation": v,
                         "category": CATEGORY["CD" if valid else "FA"]})  # fmt: skip
        silence = [not tick for tick in ticks]
        rows.append({"obs": obs, "pred_task": None, "valid": not help_needed, "help_needed": help_needed,
                     "annotation": silence, "category": CATEGORY["MN" if help_needed else "CR"]})  # fmt: skip
    return rows


@pytest.fixture()
def app_server(bench_data: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    tasks = cut_trace(bench_data, tmp_path / "tasks", TRACE, STEPS)
    port = free_port()
    process = start_server(tasks, tmp_path / "labels.db", port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", tmp_path / "labels.db"
    finally:
        stop_server(process)


def _answer(page: Page, ticks: list[int], keyboard: bool, reject_key: str) -> None:
    """Tick `ticks` (or reject all) and submit, by keys or by clicks; waits for the next page."""
    with page.expect_navigation():
        if keyboard:
            for index in ticks:
                page.keyboard.press(str(index + 1))
            page.keyboard.press("Enter" if ticks else reject_key)
        else:
            for index in ticks:
                page.check(f'input[name="accept"][value="{index}"]')
            page.click("#submit" if ticks else "#reject-all")


def _label_all(page: Page, url: str, name: str, password: str, style: str) -> None:
    errors: list[str] = []  # console errors include CSP violations (an inline script would show up here)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/")
    assert page.url.endswith("/login")
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('button:has-text("Log in")')
    for k, ticks in enumerate(PLAN[name]):
        assert "/item/" in page.url and page.locator("ol.events li.current").count() == 1
        assert page.locator('input[name="accept"]:checked').count() == 0  # nobody else's ticks are shown
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
        keyboard = style == "keys" or (style == "mixed" and k % 2 == 1)
        _answer(page, ticks, keyboard, "0" if style == "keys" else "r")
    assert "Nothing left for you" in page.content()
    assert errors == []


def test_three_annotators_label_a_trace_export_and_train(
    app_server: tuple[str, Path], bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    url, db = app_server
    store = Store(db)
    passwords = {name: store.add_user(name) for name in PLAN}
    started = time.monotonic()
    with sync_playwright() as playwright:
        for name, style, width in (("ann-a", "keys", 1100), ("ann-b", "clicks", 1100), ("ann-c", "mixed", 400)):
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / f"profile-{name}"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": width, "height": 800},
            )  # fmt: skip
            try:
                _label_all(context.pages[0] if context.pages else context.new_page(), url, name, passwords[name], style)
            finally:
                context.close()
    print(f"browser part: {time.monotonic() - started:.1f} s")
    out = tmp_path / "train.jsonl"
    export = subprocess.run([str(BIN / "proactive"), "annotate", "export", "--db", str(db), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    steps = json.loads((bench_data / "test_data" / f"{TRACE}.json").read_text())[:STEPS]
    keys = ("obs", "pred_task", "valid", "help_needed", "annotation", "category")
    assert [{key: row[key] for key in keys} for row in rows] == expected_rows(steps)
    train = subprocess.run(
        [str(BIN / "proactive"), "judge", "train", "--data", str(out), "--out", str(tmp_path / "judge"), "--no-cv"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert (tmp_path / "judge" / "model.json").is_file()


def test_the_open_page_renews_its_lease_while_its_annotator_works(
    app_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, db = app_server
    store = Store(db)
    password = store.add_user("ann-busy")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile-busy"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.clock.install()  # the page's timers run on a clock this test moves
            page.goto(f"{url}/login")
            page.fill('input[name="name"]', "ann-busy")
            page.fill('input[name="password"]', password)
            with page.expect_navigation():
                page.click('button:has-text("Log in")')
            item_id = int(page.url.rsplit("/", 1)[1])
            renewals: list[str] = []
            page.on("request", lambda request: renewals.append(request.url) if "/lease" in request.url else None)
            page.clock.run_for(61_000)  # the first minute after loading (scrolling to the last event) may renew
            with sqlite3.connect(db) as conn:  # as if the lease were about to lapse
                conn.execute("UPDATE item_leases SET expires_at = ? WHERE item_id = ?", (time.time() + 5, item_id))
            seen = len(renewals)
            page.clock.run_for(121_000)  # two idle minutes: no renewal, the lease may lapse
            page.wait_for_timeout(300)
            assert len(renewals) == seen
            page.mouse.move(200, 200)
            page.mouse.move(220, 240)  # at work
            with page.expect_response(f"{url}/item/{item_id}/lease") as renewal:
                page.clock.run_for(61_000)
            assert renewal.value.status == 204
        finally:
            context.close()
    with sqlite3.connect(db) as conn:
        (expires,) = conn.execute("SELECT expires_at FROM item_leases WHERE item_id = ?", (item_id,)).fetchone()
    assert expires > time.time() + 200
