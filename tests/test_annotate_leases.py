"""Items handed out with leases, against a real `proactive annotate serve`: annotators working at once do
not collide, one whose slot went to others is told so and shown their next step, the page renews its lease.

Lapsed leases are made by moving `expires_at` into the past in the real database (the server would
otherwise wait five minutes).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from annotateserver import cut_trace, form_fields, free_port, login, start_server, stop_server
from proactive.annotate.leases import LEASE_S
from proactive.annotate.store import REQUIRED_LABELS, Store


@dataclass
class Running:
    url: str
    store: Store

    def annotator(self, name: str) -> tuple[int, httpx.Client]:
        password = self.store.add_user(name)
        client = httpx.Client(base_url=self.url, timeout=120)
        assert login(client, name, password).status_code == 303
        return next(u.id for u in self.store.users() if u.name == name), client

    def lapse(self, user_id: int) -> None:
        with sqlite3.connect(self.store.path) as db:
            db.execute("UPDATE item_leases SET expires_at = 0 WHERE user_id = ?", (user_id,))


@pytest.fixture()
def app(bench_data: Path, tmp_path: Path) -> Iterator[Running]:
    for trace in ("code_14", "code_15"):  # 24 items
        cut_trace(bench_data, tmp_path / "tasks", trace, steps=20)
    port = free_port()
    process = start_server(tmp_path / "tasks", tmp_path / "labels.db", port, tmp_path / "server.log")
    try:
        yield Running(f"http://127.0.0.1:{port}", Store(tmp_path / "labels.db"))
    finally:
        stop_server(process)


def _open_next(client: httpx.Client) -> tuple[int, dict[str, str]]:
    """Follow `/` to the next item; (its id, its form's hidden fields)."""
    location = client.get("/").headers["location"]
    assert location.startswith("/item/"), location
    page = client.get(location)
    assert page.status_code == 200
    return int(location.rsplit("/", 1)[1]), form_fields(page.text)


def test_annotators_working_at_once_are_never_refused(app: Running) -> None:
    # Before leases every one of them was sent to the same first item: all but three submits were refused.
    people = [app.annotator(f"crowd-{k}") for k in range(12)]
    rounds = 3
    barrier = threading.Barrier(len(people))
    codes: list[int] = []

    def work(client: httpx.Client) -> None:
        for _ in range(rounds):
            item_id, fields = _open_next(client)
            barrier.wait()  # everyone has opened an item before anyone submits
            response = client.post(f"/item/{item_id}", data={**fields, "action": "submit", "accept": "0"})
            codes.append(response.status_code)
            barrier.wait()

    threads = [threading.Thread(target=work, args=(client,)) for _uid, client in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [303] * len(people) * rounds
    labels = [labels for _item, labels in app.store.all_labels() if labels]
    assert sum(len(item_labels) for item_labels in labels) == len(people) * rounds  # all stored, none twice
    assert all(len(item_labels) == REQUIRED_LABELS for item_labels in labels)  # items filled in order


def test_a_submit_whose_slot_went_to_others_says_so_and_shows_the_next_step(app: Running) -> None:
    late_id, late = app.annotator("late")
    item_id, fields = _open_next(late)
    app.lapse(late_id)  # late walked away for longer than the lease
    for k in range(REQUIRED_LABELS):
        _uid, other = app.annotator(f"quick-{k}")
        other_item, other_fields = _open_next(other)
        assert other_item == item_id  # the lapsed slot is handed on
        assert other.post(f"/item/{item_id}", data={**other_fields, "action": "reject"}).status_code == 303
    response = late.post(f"/item/{item_id}", data={**fields, "action": "submit", "accept": ["0", "2"]})
    assert response.status_code == 409 and "was not stored" in response.text and "next step" in response.text
    assert 'id="label-form"' in response.text and f'action="/item/{item_id}"' not in response.text
    assert app.store.label(late_id, item_id) is None
    # a lapsed lease whose slot is still free: the answer is kept
    item_id, fields = _open_next(late)
    app.lapse(late_id)
    assert late.post(f"/item/{item_id}", data={**fields, "action": "submit", "accept": "1"}).status_code == 303
    stored = app.store.label(late_id, item_id)
    assert stored is not None and stored.accepted == [1]


def test_the_page_renews_its_lease_while_its_annotator_works(app: Running) -> None:
    user_id, client = app.annotator("worker")
    item_id, fields = _open_next(client)
    with sqlite3.connect(app.store.path) as db:
        db.execute("UPDATE item_leases SET expires_at = ? WHERE user_id = ?", (time.time() + 5, user_id))
    renewed = client.post(f"/item/{item_id}/lease", data={"csrf": fields["csrf"]})
    assert renewed.status_code == 204
    with sqlite3.connect(app.store.path) as db:
        (expires,) = db.execute("SELECT expires_at FROM item_leases WHERE user_id = ?", (user_id,)).fetchone()
    assert expires > time.time() + LEASE_S - 60
    assert client.post(f"/item/{item_id}/lease", data={}).status_code == 403  # the CSRF token is required
    anonymous = httpx.post(f"{app.url}/item/{item_id}/lease", data={"csrf": fields["csrf"]})
    assert anonymous.status_code == 401
    app.lapse(user_id)  # the worker walks away; the item fills up with others: no lease to renew
    for k in range(REQUIRED_LABELS):
        _uid, other = app.annotator(f"filler-{k}")
        other_item, other_fields = _open_next(other)
        assert other_item == item_id
        assert other.post(f"/item/{item_id}", data={**other_fields, "action": "reject"}).status_code == 303
    assert client.post(f"/item/{item_id}/lease", data={"csrf": fields["csrf"]}).status_code == 409
