"""The annotation store on a real SQLite file: migrations, WAL, concurrency, limits, revise, logins, leases."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from proactive.annotate.leases import LEASE_S
from proactive.annotate.logins import LoginLimits
from proactive.annotate.store import (
    MAX_FAILURES,
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
    # "nobody" is no user: its failure is counted for the limits but not audited (clients cannot grow the file)
    assert actions.count("login-failed") == 5 and actions.count("login") == 1
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


def test_parallel_wrong_passwords_for_one_name_reach_argon2_at_most_five_times(tmp_path: Path) -> None:
    # The count used to be read outside the write, so every one of a burst was checked against the password.
    store = Store(tmp_path / "a.sqlite3")
    store.add_user("ada")
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append("checked" if Store(store.path).authenticate("ada", "wrong") is None else "in")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["checked"] * MAX_FAILURES + ["refused"] * (16 - MAX_FAILURES)


def test_a_stranger_cannot_lock_out_a_browser_that_logged_in_before(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    password = store.add_user("ada")
    for _ in range(MAX_FAILURES):
        assert store.authenticate("ada", "guess", client="10.0.0.66") is None
    with pytest.raises(RateLimited, match="for 'ada'"):
        store.authenticate("ada", password, client="10.0.0.7")  # an unknown browser waits
    user = store.authenticate("ada", password, client="10.0.0.7", trusted=True)  # ada's own browser does not
    assert user is not None and user.name == "ada"
    # trusted browsers have a count of their own: five wrong ones there lock them too
    for _ in range(MAX_FAILURES):
        assert store.authenticate("ada", "typo", client="10.0.0.7", trusted=True) is None
    with pytest.raises(RateLimited):
        store.authenticate("ada", password, client="10.0.0.7", trusted=True)


def test_per_client_and_per_server_limits(tmp_path: Path) -> None:
    limits = LoginLimits(per_client=3, per_server=6)
    store = Store(tmp_path / "a.sqlite3", limits=limits)
    password = store.add_user("ada")
    for name in ("x1", "x2", "x3"):  # different names, one address
        assert store.authenticate(name, "guess", client="10.0.0.1") is None
    with pytest.raises(RateLimited, match="from your address"):
        store.authenticate("ada", password, client="10.0.0.1")
    assert store.authenticate("ada", password, client="10.0.0.2") is not None  # 4 checks ran so far
    assert store.authenticate("y1", "guess", client="10.0.0.3") is None
    assert store.authenticate("y2", "guess", client="10.0.0.4") is None  # the 6th check this minute
    with pytest.raises(RateLimited, match="on this server"):
        store.authenticate("ada", password, client="10.0.0.5")
    assert store.authenticate("ada", password, client="10.0.0.5", trusted=True) is not None
    later = time.time() + limits.server_window_s + 1
    assert store.authenticate("ada", password, client="10.0.0.5", now=later) is not None


def test_failed_logins_with_made_up_names_do_not_grow_the_file(tmp_path: Path) -> None:
    # Every failed name used to be stored (and audited) for good; rows now live one window, unknown names unaudited.
    store = Store(tmp_path / "a.sqlite3")
    store.add_user("ada")

    def rows() -> int:
        with sqlite3.connect(store.path) as db:
            query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            tables = [r[0] for r in db.execute(query)]
            return sum(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables)

    before = rows()
    start = time.time()
    for window in range(4):
        for k in range(4):
            name = f"made-up-{window}-{k}-{secrets.token_hex(4)}"
            assert store.authenticate(name, "x", now=start + 400 * window + k) is None
    assert rows() - before <= 4  # the last window's attempts only


def test_items_are_spread_over_annotators_working_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(3))
    users = _users(store, 7)
    handed = [store.next_item(user) for user in users]  # all seven open the app before anyone submits
    assert [item.step if item else None for item in handed] == [0, 0, 0, 1, 1, 1, 2]
    assert store.next_item(users[0]) == handed[0]  # a reload keeps one's item
    for user, item in zip(users, handed, strict=True):
        assert item is not None
        store.submit(user, item.id, [0])  # nobody is refused
    assert sum(len(labels) for _, labels in store.all_labels()) == 7


def test_leases_expire_and_a_late_submit_keeps_a_free_slot(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(2))
    a, b, c, d, e = _users(store, 5)
    now = 1_000_000.0
    first = store.next_item(a, now=now)
    assert first is not None and all(store.next_item(u, now=now) == first for u in (b, c))
    assert store.next_item(d, now=now) != first
    with pytest.raises(ItemFull, match="held by annotators"):  # d opened it by URL: all slots are leased
        store.submit(d, first.id, [0], now=now + 1)
    assert store.hold(b, first.id, now=now + LEASE_S - 1)  # b is at work: the page renews the lease
    later = now + LEASE_S + 1  # a's and c's leases have lapsed, b's has not
    assert store.next_item(e, now=later) == first
    store.submit(e, first.id, [1], now=later)
    store.submit(b, first.id, [2], now=later)
    store.submit(a, first.id, [0], now=later + 5)  # a's lease lapsed, but a slot was still free: kept
    with pytest.raises(ItemFull, match="already has"):
        store.submit(c, first.id, [0], now=later + 6)
    assert [label.accepted for item, labels in store.all_labels() if item == first for label in labels] == [
        [1], [2], [0]
    ]


def test_item_ids_beyond_sqlite_integers_are_no_item(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    store.import_tasks(_items(1))
    (user,) = _users(store, 1)
    huge = 10**23
    assert store.item(huge) is None and store.user(huge) is None and not store.hold(user, huge)
    with pytest.raises(UnknownItem):
        store.submit(user, huge, [0])


def test_logout_and_reset_bump_the_session_generation(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.sqlite3")
    password = store.add_user("ada")
    user = store.authenticate("ada", password)
    assert user is not None and user.session_gen == 0
    store.end_sessions(user.id)
    assert store.user(user.id) == user.model_copy(update={"session_gen": 1})
    store.add_user("ada", reset=True)
    again = store.user(user.id)
    assert again is not None and again.session_gen == 2


def test_a_version_1_file_is_migrated_keeping_its_users(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                   "applied_at REAL NOT NULL)")  # fmt: skip
        for statement in MIGRATIONS[0].statements:
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (1, 'v1', 0)")
        db.execute("INSERT INTO users (name, password_hash, created_at) VALUES ('ada', 'x', 0)")
        db.execute("INSERT INTO login_failures VALUES ('ada', 0)")
    store = Store(path)
    assert store.schema_version() == MIGRATIONS[-1].version
    (ada,) = store.users()
    assert ada.name == "ada" and store.user(ada.id) is not None and store.user(ada.id).session_gen == 0  # type: ignore[union-attr]


def test_a_database_path_under_a_regular_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "plain.txt"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot create the annotation database"):
        Store(blocker / "sub" / "annotate.sqlite3")
