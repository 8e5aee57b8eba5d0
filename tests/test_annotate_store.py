"""The annotation store on a real SQLite file: migrations, WAL, concurrency, limits, revise, logins."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from proactive.annotate.store import (
    MIGRATIONS,
    REQUIRED_LABELS,
    InvalidLabel,
    ItemFull,
    NewItem,
    RateLimited,
    Store,
    UnknownItem,
)
from proactive.errors import UserError
from proactive.types import Event


def _items(count: int, trace: str = "code_1") -> list[NewItem]:
    events = [Event(time=str(1717377997 + 60 * i), text=f"The user edits file {i}.") for i in range(count)]
    return [
        NewItem(trace_id=trace, step=i, setting="coding", history=events[: i + 1],
                candidates=[f"Task A{i}", f"Task B{i}", f"Task C{i}"])
        for i in range(count)
    ]  # fmt: skip


def _users(store: Store, count: int) -> list[int]:
    ids = []
    for n in range(count):
        password = store.add_user(f"annotator{n}")
        user = store.authenticate(f"annotator{n}", password)
        assert user is not None
        ids.append(user.id)
    return ids


def test_migrations_apply_once_and_reopen_is_a_noop(tmp_path: Path) -> None:
    path = tmp_path / "annotate.sqlite3"
    store = Store(path)
    assert store.schema_version() == MIGRATIONS[-1].version
    assert store.journal_mode() == "wal"
    store.import_tasks(_items(2))
    again = Store(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert len(again.items()) == 2
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_newer_schema_and_non_database_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "annotate.sqlite3"
    Store(path)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)")
    with pytest.raises(UserError, match="newer than this proactive knows"):
        Store(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(UserError, match="not one"):
        Store(junk)


def test_import_is_idempotent_and_next_item_walks_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    assert store.import_tasks(_items(3)) == 3
    assert store.import_tasks(_items(4)) == 1
    (user,) = _users(store, 1)
    first = store.next_item(user)
    assert first is not None and (first.trace_id, first.step) == ("code_1", 0)
    assert [e.text for e in first.history] == ["The user edits file 0."]
    store.submit(user, first.id, [1])
    second = store.next_item(user)
    assert second is not None and second.step == 1 and len(second.history) == 2
    assert store.progress(user) == (1, 3)
    assert store.label(user, first.id) is not None and store.label(user, first.id).accepted == [1]  # type: ignore[union-attr]
    with pytest.raises(UserError, match="at least one candidate"):
        store.import_tasks([NewItem(trace_id="x", step=0, setting="coding", history=[], candidates=[])])


def test_item_takes_at_most_three_annotators_and_revise_keeps_one_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(1))
    users = _users(store, REQUIRED_LABELS + 1)
    item = store.items()[0]
    for user in users[:REQUIRED_LABELS]:
        store.submit(user, item.id, [0])
    assert not store.can_label(users[-1], item.id)
    assert store.next_item(users[-1]) is None
    with pytest.raises(ItemFull):
        store.submit(users[-1], item.id, [])
    # A revise by one of the three is still allowed and keeps one row.
    assert store.can_label(users[0], item.id)
    store.submit(users[0], item.id, [])
    (stored,) = [labels for _, labels in store.all_labels()]
    assert len(stored) == REQUIRED_LABELS
    assert [label.accepted for label in stored] == [[], [0], [0]]
    actions = [(row.action, row.user_id) for row in store.audit_rows(50) if row.item_id == item.id]
    assert actions[0] == ("revise", users[0])
    assert sum(action == "create" for action, _ in actions) == REQUIRED_LABELS


def test_bad_labels_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(1))
    (user,) = _users(store, 1)
    item = store.items()[0]
    for bad in ([3], [-1], [0, 0], [True], ["1"]):
        with pytest.raises(InvalidLabel):
            store.submit(user, item.id, bad)  # type: ignore[arg-type]
    with pytest.raises(UnknownItem):
        store.submit(user, item.id + 100, [0])
    assert store.label(user, item.id) is None
    assert store.submit(user, item.id, [2, 0]).accepted == [0, 2]


def test_eight_threads_submitting_at_once_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(6))
    users = _users(store, 8)
    items = store.items()
    barrier = threading.Barrier(len(users))
    full: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work(user: int) -> None:
        try:
            barrier.wait()
            for item in items:  # every thread hits every item: the same item at once, and different ones
                try:
                    Store(store.path).submit(user, item.id, [user % 3])
                except ItemFull:
                    full.append((item.id, user))
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT item_id, user_id, accepted_json FROM labels").fetchall()
    assert len(rows) == REQUIRED_LABELS * len(items)
    assert len({(item, user) for item, user, _ in rows}) == len(rows)
    assert len(full) == (len(users) - REQUIRED_LABELS) * len(items)
    assert {(item, user) for item, user, _ in rows}.isdisjoint(set(full))
    for _, user, accepted in rows:
        assert accepted == f"[{user % 3}]"
    creates = [row for row in store.audit_rows(1000) if row.action == "create"]
    assert len(creates) == len(rows)


def test_wrong_passwords_return_none_and_are_rate_limited(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    password = store.add_user("ada")
    assert store.authenticate("nobody", password) is None
    now = 1_000_000.0
    for attempt in range(5):
        assert store.authenticate("ada", "wrong", now=now + attempt) is None
    with pytest.raises(RateLimited) as caught:
        store.authenticate("ada", password, now=now + 10)  # even the right password waits
    assert 280 <= caught.value.retry_after <= 300
    user = store.authenticate("ada", password, now=now + 400)  # the window has passed
    assert user is not None and user.name == "ada"
    actions = [row.action for row in store.audit_rows(20)]
    assert actions.count("login-failed") == 6 and actions.count("login") == 1
    assert actions.count("login-limited") == 1
    with pytest.raises(UserError, match="--reset"):
        store.add_user("ada")
    new = store.add_user("ada", reset=True)
    assert store.authenticate("ada", password) is None
    assert store.authenticate("ada", new) is not None


def test_secret_key_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    key = Store(path).secret_key()
    assert len(key) >= 32
    assert Store(path).secret_key() == key
