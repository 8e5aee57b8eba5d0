"""Security and reliability of the annotation app, against a real `proactive annotate serve` (uvicorn subprocess).

Each test works on its own trace (the tasks folder holds several, cut to 8 steps) and its own annotators, so
tests sharing the module's server never see each other's labels. The database is read with the real Store.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annotateserver import cut_trace, form_fields, free_port, login, start_server, stop_server
from proactive.annotate.store import Item, Store

TRACES = ["code_11", "code_12", "code_13", "code_14", "code_15", "writing_11", "writing_12"]


class Server:
    def __init__(self, url: str, db: Path, tasks: Path) -> None:
        self.url, self.db, self.tasks = url, db, tasks
        self.store = Store(db)

    def items(self, trace: str) -> list[Item]:
        return [item for item in self.store.items() if item.trace_id == trace]

    def user(self, name: str) -> tuple[int, httpx.Client]:
        """A new annotator, logged in through the form: (user id, client holding the session cookie)."""
        password = self.store.add_user(name)
        client = httpx.Client(base_url=self.url, timeout=30)
        response = login(client, name, password)
        assert response.status_code == 303, response.text
        return _user_id(self.store, name), client

    def label_count(self) -> int:
        return sum(len(labels) for _item, labels in self.store.all_labels())


def _user_id(store: Store, name: str) -> int:
    return next(user.id for user in store.users() if user.name == name)


@pytest.fixture(scope="module")
def server(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("annotate")
    for trace in TRACES:
        cut_trace(bench_data, root / "tasks", trace, steps=12)
    port = free_port()
    process = start_server(root / "tasks", root / "labels.db", port, root / "server.log")
    try:
        yield Server(f"http://127.0.0.1:{port}", root / "labels.db", root / "tasks")
    finally:
        stop_server(process)


def _submit(client: httpx.Client, item_id: int, ticks: list[int], **extra: str) -> httpx.Response:
    """Render the item's page and submit its form with `ticks` ([] = Reject all)."""
    page = client.get(f"/item/{item_id}")
    assert page.status_code == 200, page.text
    data: dict[str, object] = {**form_fields(page.text), "action": "submit" if ticks else "reject"}
    data["accept"] = [str(t) for t in ticks]
    data.update(extra)
    return client.post(f"/item/{item_id}", data=data)


def test_without_a_session_pages_redirect_and_posts_are_refused(server: Server) -> None:
    item = server.items("code_11")[0]
    anonymous = httpx.Client(base_url=server.url, timeout=30)
    for path in ("/", f"/item/{item.id}", "/item/999999"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    before = server.label_count()
    token = form_fields(anonymous.get("/login").text)["csrf"]  # even a valid pre-session token is no login
    for path in (f"/item/{item.id}", "/logout"):
        response = anonymous.post(path, data={"csrf": token, "action": "reject"})
        assert response.status_code == 401 and "Log in first" in response.text, path
    assert server.label_count() == before
    # the login form itself needs its pre-session token
    response = httpx.post(f"{server.url}/login", data={"name": "x", "password": "y"})
    assert response.status_code == 403 and "security token" in response.text


def test_tampered_cookie_and_foreign_token_are_refused(server: Server) -> None:
    user_id, client = server.user("tamper")
    item = server.items("writing_11")[0]
    cookie = client.cookies["proactive_annotate"]
    payload, rest = cookie.split(".", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest  # payload changed, signature kept
    tampered = httpx.Client(base_url=server.url, timeout=30, cookies={"proactive_annotate": forged})
    assert tampered.get(f"/item/{item.id}").headers["location"] == "/login"
    # another session's valid token does not work in this one
    _other_id, other = server.user("tamper-other")
    fields = form_fields(client.get(f"/item/{item.id}").text)
    theirs = form_fields(other.get(f"/item/{item.id}").text)["csrf"]
    response = client.post(f"/item/{item.id}", data={**fields, "csrf": theirs, "action": "reject"})
    assert response.status_code == 403 and server.store.label(user_id, item.id) is None


def test_security_headers_and_cookie_flags(server: Server) -> None:
    response = httpx.get(f"{server.url}/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "<script>" not in response.text and "onclick" not in response.text  # no inline script


def test_forged_missing_and_replayed_csrf_store_nothing(server: Server) -> None:
    user_id, client = server.user("csrf-a")
    item = server.items("code_12")[0]
    page = client.get(f"/item/{item.id}")
    fields = form_fields(page.text)
    form = page.text.split('id="label-form"')[1].split("</form>")[0]
    assert set(re.findall(r'name="([^"]+)"', form)) == {"csrf", "nonce", "version", "accept", "action"}  # no user id
    for bad in ({}, {"csrf": "forged-" + fields["csrf"][7:]}, {"csrf": ""}):
        data = {**fields, "action": "submit", "accept": "1"}
        data.pop("csrf")
        response = client.post(f"/item/{item.id}", data={**data, **bad})
        assert response.status_code == 403 and "security token" in response.text
    assert server.store.label(user_id, item.id) is None
    old_cookies = httpx.Cookies(client.cookies)
    first = client.post(f"/item/{item.id}", data={**fields, "action": "submit", "accept": ["1", "3"]})
    assert first.status_code == 303
    stored = server.store.label(user_id, item.id)
    assert stored is not None and stored.accepted == [1, 3]
    # replay with the session as it is now (nonce used up) and with the cookie from before the submit
    for cookies in (client.cookies, old_cookies):
        replay = httpx.post(
            f"{server.url}/item/{item.id}", cookies=cookies, data={**fields, "action": "reject"}, timeout=30
        )
        assert replay.status_code == 409 and "already submitted" in replay.text
    again = server.store.label(user_id, item.id)
    assert again is not None and again == stored
    # a revise is a fresh render: the earlier answer is pre-ticked, and the new one replaces it
    page = client.get(f"/item/{item.id}")
    assert page.text.count("checked") == 2 and "labelled this step before" in page.text
    assert _submit(client, item.id, []).status_code == 303
    revised = server.store.label(user_id, item.id)
    assert revised is not None and revised.accepted == []
    actions = [row.action for row in server.store.audit_rows(200) if row.item_id == item.id]
    assert actions.count("create") == 1 and actions.count("revise") == 1


@pytest.mark.parametrize(
    ("action", "ticks", "message"),
    [
        ("submit", ["one"], "candidate numbers"),
        ("submit", ["7"], "does not exist"),
        ("submit", ["-1"], "does not exist"),
        ("submit", ["1", "1"], "ticked twice"),
        ("reject", ["2"], "Reject all and ticked"),
        ("submit", [], "nothing ticked"),
        ("", ["2"], "press Submit or Reject all"),
        ("delete", [], "press Submit or Reject all"),
    ],
)
def test_malformed_submits_are_400_and_store_nothing(
    server: Server, action: str, ticks: list[str], message: str
) -> None:
    user_id, client = server.user(f"bad-{action}-{'-'.join(ticks) or 'none'}")
    item = server.items("code_13")[0]
    fields = form_fields(client.get(f"/item/{item.id}").text)
    data: dict[str, object] = {**fields, "accept": ticks}
    if action:
        data["action"] = action
    response = client.post(f"/item/{item.id}", data=data)
    assert response.status_code == 400 and message in response.text and "Nothing was stored" in response.text
    assert server.store.label(user_id, item.id) is None


def test_annotators_cannot_read_or_change_each_others_labels(server: Server) -> None:
    item = server.items("code_14")[0]
    clients = {name: server.user(f"own-{name}") for name in "abcd"}
    a_id, a = clients["a"]
    assert _submit(a, item.id, [0, 4]).status_code == 303
    # d sees the item with nothing ticked: a's label is not shown to anyone else
    _d_id, d = clients["d"]
    page = d.get(f"/item/{item.id}")
    assert page.status_code == 200 and "checked" not in page.text
    # a user id smuggled into the form is ignored: the label is d's own, a's is untouched
    assert _submit(d, item.id, [2], user_id=str(a_id), user=str(a_id)).status_code == 303
    a_label = server.store.label(a_id, item.id)
    assert a_label is not None and a_label.accepted == [0, 4]
    assert _submit(clients["b"][1], item.id, [1]).status_code == 303
    # full with a, d, b: c can neither read nor write it
    _c_id, c = clients["c"]
    assert c.get(f"/item/{item.id}").status_code == 403
    fields = form_fields(c.get(f"/item/{items_next(server, 'code_14')}").text)
    response = c.post(f"/item/{item.id}", data={**fields, "action": "reject"})
    assert response.status_code == 403 and "three annotators" in response.text
    assert len(next(labels for it, labels in server.store.all_labels() if it.id == item.id)) == 3
    assert c.get("/").headers["location"] != f"/item/{item.id}"
    # unknown items are 404, not a crash
    assert c.get("/item/999999").status_code == 404


def items_next(server: Server, trace: str) -> int:
    return server.items(trace)[1].id


def test_eight_threads_submitting_at_once_lose_no_label(server: Server) -> None:
    items = server.items("code_15")
    users = [server.user(f"thread-{k}") for k in range(8)]
    for uid, client in users[:2]:  # items[0] now has one free slot left
        assert _submit(client, items[0].id, [0]).status_code == 303, uid
    # 8 threads at once: 4 annotators race for that last slot, 4 others label items 1..4
    plan = [(users[k], items[0].id) for k in range(2, 6)]
    plan += [(users[k], items[k % 4 + 1].id) for k in (0, 1, 6, 7)]
    forms = [(client, item_id, form_fields(client.get(f"/item/{item_id}").text)) for (_u, client), item_id in plan]
    barrier = threading.Barrier(len(forms))
    codes: list[int] = []
    texts: list[str] = []

    def post(client: httpx.Client, item_id: int, fields: dict[str, str]) -> None:
        barrier.wait()
        response = client.post(f"/item/{item_id}", data={**fields, "action": "submit", "accept": "2"})
        codes.append(response.status_code)
        texts.append(response.text)

    threads = [threading.Thread(target=post, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [303] * 5 + [409] * 3, codes
    # a race loser is told its answer was not stored and shown its next step, not a bare refusal
    assert all("was not stored" in text for code, text in zip(codes, texts, strict=True) if code == 409)
    per_item = {it.id: labels for it, labels in server.store.all_labels() if it.trace_id == "code_15"}
    assert len(per_item[items[0].id]) == 3  # never a fourth annotator
    for (uid, _client), item_id in plan[4:]:
        label = server.store.label(uid, item_id)
        assert label is not None and label.accepted == [2]
    assert sum(len(labels) for labels in per_item.values()) == 2 + 1 + 4  # none lost, none duplicated


def test_wrong_passwords_are_rate_limited(server: Server) -> None:
    password = server.store.add_user("limited")
    client = httpx.Client(base_url=server.url, timeout=30)
    for _ in range(5):
        response = login(client, "limited", "wrong")
        assert response.status_code == 401 and "Wrong name or password" in response.text
    response = login(client, "limited", password)  # even the right password waits now
    assert response.status_code == 429 and "too many failed logins" in response.text
    assert client.get("/").status_code == 303


def test_server_killed_and_restarted_keeps_labels_and_sessions(bench_data: Path, tmp_path: Path) -> None:
    tasks = cut_trace(bench_data, tmp_path / "tasks", "writing_13")
    db, log, port = tmp_path / "labels.db", tmp_path / "server.log", free_port()
    process = start_server(tasks, db, port, log)
    try:
        restarted = Server(f"http://127.0.0.1:{port}", db, tasks)
        user_id, client = restarted.user("survivor")
        items = restarted.items("writing_13")
        assert _submit(client, items[0].id, [1]).status_code == 303
        assert _submit(client, items[1].id, []).status_code == 303
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process = start_server(tasks, db, port, log)
        # the same cookie still works after the restart, and both labels are there
        response = client.get("/")
        assert response.status_code == 303 and response.headers["location"] == f"/item/{items[2].id}"
        assert [restarted.store.label(user_id, it.id) is not None for it in items[:2]] == [True, True]
        assert _submit(client, items[2].id, [0, 1]).status_code == 303
        assert restarted.store.progress(user_id)[0] == 3
    finally:
        stop_server(process)
