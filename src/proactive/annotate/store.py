"""The annotation database: annotators, the items they judge, their labels, an audit trail (SQLite).

WAL mode, foreign keys on, a 5 s busy timeout. Every operation opens its own connection (sqlite3
connections must not cross threads, and the web app runs handlers in a thread pool) and every write
is one `BEGIN IMMEDIATE` transaction: the write lock is taken before anything is read, so two
annotators submitting at once are serialised and neither label is lost or stored twice.

Schema changes are explicit migrations: `MIGRATIONS` is an ordered list, `schema_migrations` records
which have run, and opening an older file applies the missing ones, each in one transaction. A file
written by a newer proactive is refused with one line. A shipped migration is never edited.

An item (one step of one trace) is shown to at most `REQUIRED_LABELS` (3) different annotators; a
label is the sorted list of candidate indexes the annotator accepted, `[]` meaning "reject all".
An annotator may revise their own label; nobody reads or changes another's.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from proactive.errors import UserError
from proactive.sqlite_schema import Migration, create_private, migrate
from proactive.types import Event

REQUIRED_LABELS = 3
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
BUSY_TIMEOUT_MS = 5000
SECRET_KEY = "session_secret"
MAX_NAME = 64


class RateLimited(UserError):
    """Too many wrong passwords for one name in the window; `retry_after` is in seconds."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"too many failed logins for '{name}'; try again in {self.retry_after} s")


class InvalidLabel(UserError):
    """A submitted label names candidates the item does not have (or is not a list of indexes)."""


class ItemFull(UserError):
    """The item already has its three annotators, and the submitter is not one of them."""


class UnknownItem(UserError):
    """No item (or no user) with that id."""


class User(BaseModel):
    """An annotator account (never carries the password hash)."""

    model_config = ConfigDict(frozen=True)
    id: int
    name: str


class UserSummary(BaseModel):
    """An annotator and how many labels they gave (for `proactive annotate users`)."""

    id: int
    name: str
    labels: int
    disabled: bool
    created_at: float


class NewItem(BaseModel):
    """One step of one trace to judge: the history up to it and its candidate tasks."""

    trace_id: str = Field(description="Trace file stem, e.g. 'code_11'.")
    step: int = Field(description="0-based index of the judged event in its trace.")
    setting: str = Field(description="'coding', 'writing', 'daily' ... (from the trace file name).")
    history: list[Event] = Field(description="Events up to and including the judged one.")
    candidates: list[str] = Field(description="Candidate tasks shown as checkboxes (never empty).")


class Item(NewItem):
    """A stored item."""

    id: int


class Label(BaseModel):
    """One annotator's judgement of one item: the accepted candidate indexes ([] = reject all)."""

    item_id: int
    user_id: int
    accepted: list[int]
    updated_at: float


class AuditRow(BaseModel):
    """One audit entry: who did what, when (labels' contents live in `detail`)."""

    id: int
    at: float
    user_id: int | None
    item_id: int | None
    action: str
    detail: dict[str, Any]


class ItemLike(Protocol):
    """Anything with the fields of `NewItem` (an `Item` or `NewItem`)."""

    trace_id: str
    step: int
    setting: str
    history: list[Event]
    candidates: list[str]


#: Ordered; version k is MIGRATIONS[k - 1]. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users, items, labels, audit, login failures, settings",
        (
            "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, "
            "password_hash TEXT NOT NULL, created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL, step INTEGER NOT NULL, "
            "setting TEXT NOT NULL, history_json TEXT NOT NULL, candidates_json TEXT NOT NULL, "
            "UNIQUE (trace_id, step))",
            # UNIQUE(item_id, user_id): a second label by the same annotator cannot exist, even in a race.
            "CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "item_id INTEGER NOT NULL REFERENCES items(id), user_id INTEGER NOT NULL REFERENCES users(id), "
            "accepted_json TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, "
            "UNIQUE (item_id, user_id))",
            "CREATE INDEX labels_user ON labels (user_id)",
            "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
            "user_id INTEGER REFERENCES users(id), item_id INTEGER REFERENCES items(id), action TEXT NOT NULL, "
            "detail_json TEXT NOT NULL)",
            "CREATE TABLE login_failures (name TEXT NOT NULL, at REAL NOT NULL)",
            "CREATE INDEX login_failures_name ON login_failures (name, at)",
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

_ITEM_COLUMNS = "id, trace_id, step, setting, history_json, candidates_json"
# One shared hasher (argon2id, the library's current defaults); it is thread-safe.
_HASHER = PasswordHasher()
# Verified against for unknown names, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def _item(row: tuple[Any, ...]) -> Item:
    id_, trace_id, step, setting, history, candidates = row
    events = [Event(**event) for event in json.loads(history)]
    return Item(id=id_, trace_id=trace_id, step=step, setting=setting, history=events,
                candidates=json.loads(candidates))  # fmt: skip


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME or not clean.isprintable():
        raise UserError(f"annotator name {name!r}: use 1 to {MAX_NAME} printable characters")
    return clean


def _check_accepted(accepted: object, count: int, item_id: int) -> list[int]:
    """The accepted indexes, sorted; InvalidLabel names what is wrong."""
    if not isinstance(accepted, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in accepted):
        raise InvalidLabel(f"item {item_id}: accepted must be a list of candidate indexes ([] = reject all)")
    if len(set(accepted)) != len(accepted):
        raise InvalidLabel(f"item {item_id}: a candidate index is given twice; tick each candidate once")
    bad = [i for i in accepted if not 0 <= i < count]
    if bad:
        raise InvalidLabel(f"item {item_id}: candidate index {bad[0]} is out of range; it has {count} candidates")
    return sorted(accepted)


class Store:
    """The annotation database at `path` (created and migrated on open)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        create_private(self.path, "the annotation database", "check --db")
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode = WAL")  # persistent: later connections inherit it
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise UserError(
                f"{self.path}: cannot open the annotation database ({error}); move it aside if it is not one"
            ) from error

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), one per write.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock before the first read."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as db:
            return db.execute(sql, parameters).fetchall()

    def _migrate(self) -> None:
        migrate(self._write, MIGRATIONS, self.path, applied_column="applied_at", newer_fix="upgrade proactive")

    def schema_version(self) -> int:
        """The highest migration applied to this file."""
        return int(self._read("SELECT MAX(version) FROM schema_migrations")[0][0])

    def journal_mode(self) -> str:
        """SQLite's journal mode for this file ('wal')."""
        return str(self._read("PRAGMA journal_mode")[0][0])

    @staticmethod
    def _audit(db: sqlite3.Connection, action: str, user_id: int | None, item_id: int | None, **detail: Any) -> None:
        db.execute(
            "INSERT INTO audit (at, user_id, item_id, action, detail_json) VALUES (?, ?, ?, ?, ?)",
            (time.time(), user_id, item_id, action, json.dumps(detail, ensure_ascii=False)),
        )

    # ------------------------------------------------------------------ items

    def import_tasks(self, items: Sequence[ItemLike]) -> int:
        """Add items not stored yet (same trace_id and step are skipped); returns how many were new."""
        added = 0
        with self._write() as db:
            for item in items:
                if not item.candidates:
                    raise UserError(f"{item.trace_id} step {item.step}: an item needs at least one candidate task")
                history = json.dumps([e.model_dump() for e in item.history], ensure_ascii=False)
                cursor = db.execute(
                    "INSERT OR IGNORE INTO items (trace_id, step, setting, history_json, candidates_json) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (item.trace_id, item.step, item.setting, history, json.dumps(item.candidates, ensure_ascii=False)),
                )
                added += cursor.rowcount
        return added

    def item(self, item_id: int) -> Item | None:
        """The item with this id, or None."""
        rows = self._read(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
        return _item(rows[0]) if rows else None

    def items(self) -> list[Item]:
        """Every item, by trace and step."""
        return [_item(r) for r in self._read(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY trace_id, step")]

    def next_item(self, user_id: int) -> Item | None:
        """The first item (by trace_id, step) with fewer than 3 labels that this user has not labelled."""
        rows = self._read(
            f"SELECT {_ITEM_COLUMNS} FROM items i WHERE NOT EXISTS "
            "(SELECT 1 FROM labels l WHERE l.item_id = i.id AND l.user_id = ?) "
            "AND (SELECT COUNT(*) FROM labels l WHERE l.item_id = i.id) < ? ORDER BY trace_id, step LIMIT 1",
            (user_id, REQUIRED_LABELS),
        )
        return _item(rows[0]) if rows else None

    def can_label(self, user_id: int, item_id: int) -> bool:
        """True when the user already labelled the item (a revise) or it still has room for an annotator."""
        rows = self._read(
            "SELECT COUNT(*), COALESCE(SUM(user_id = ?), 0) FROM labels WHERE item_id = ?", (user_id, item_id)
        )
        count, own = rows[0]
        return bool(own) or (count < REQUIRED_LABELS and self.item(item_id) is not None)

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, reset: bool = False) -> str:
        """Create an annotator (or, with `reset`, issue a new password); returns the one-time password."""
        clean = _check_name(name)
        password = secrets.token_urlsafe(12)
        digest = _HASHER.hash(password)
        with self._write() as db:
            row = db.execute("SELECT id FROM users WHERE name = ?", (clean,)).fetchone()
            if row is not None and not reset:
                raise UserError(f"annotator '{clean}' exists; use --reset to issue a new password")
            if row is None and reset:
                raise UserError(f"annotator '{clean}' does not exist; add it without --reset")
            if row is None:
                cursor = db.execute(
                    "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)", (clean, digest, time.time())
                )
                self._audit(db, "add-user", cursor.lastrowid, None, name=clean)
            else:
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (digest, row[0]))
                db.execute("DELETE FROM login_failures WHERE name = ?", (clean,))
                self._audit(db, "reset-password", row[0], None, name=clean)
        return password

    def user(self, user_id: int) -> User | None:
        """The enabled user with this id, or None."""
        rows = self._read("SELECT id, name FROM users WHERE id = ? AND disabled = 0", (user_id,))
        return User(id=rows[0][0], name=rows[0][1]) if rows else None

    def users(self) -> list[UserSummary]:
        """Every annotator with their label count, by name."""
        rows = self._read(
            "SELECT u.id, u.name, COUNT(l.id), u.disabled, u.created_at FROM users u "
            "LEFT JOIN labels l ON l.user_id = u.id GROUP BY u.id ORDER BY u.name"
        )
        return [UserSummary(id=r[0], name=r[1], labels=r[2], disabled=bool(r[3]), created_at=r[4]) for r in rows]

    def authenticate(self, name: str, password: str, now: float | None = None) -> User | None:
        """The user for a right name and password, else None; RateLimited after 5 failures in 5 minutes."""
        now = time.time() if now is None else now
        clean = name.strip()
        since = now - FAILURE_WINDOW_S
        query = "SELECT COUNT(*), MIN(at) FROM login_failures WHERE name = ? AND at > ?"
        count, oldest = self._read(query, (clean, since))[0]
        if count >= MAX_FAILURES:
            with self._write() as db:
                self._audit(db, "login-limited", None, None, name=clean[:MAX_NAME])
            raise RateLimited(clean, oldest + FAILURE_WINDOW_S - now)
        rows = self._read("SELECT id, name, password_hash FROM users WHERE name = ? AND disabled = 0", (clean,))
        digest = rows[0][2] if rows else _DUMMY_HASH
        try:
            ok = _HASHER.verify(digest, password) and bool(rows)
        except (VerificationError, InvalidHashError):
            ok = False
        with self._write() as db:
            if not ok:
                db.execute("INSERT INTO login_failures (name, at) VALUES (?, ?)", (clean, now))
                self._audit(db, "login-failed", rows[0][0] if rows else None, None, name=clean[:MAX_NAME])
                return None
            db.execute("DELETE FROM login_failures WHERE name = ?", (clean,))
            self._audit(db, "login", rows[0][0], None)
            if _HASHER.check_needs_rehash(digest):  # parameters raised since the hash was made
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (_HASHER.hash(password), rows[0][0]))
        return User(id=rows[0][0], name=rows[0][1])

    # ------------------------------------------------------------------ labels

    def submit(self, user_id: int, item_id: int, accepted: list[int]) -> Label:
        """Store (or revise) the user's label of the item in one transaction, with an audit row."""
        now = time.time()
        with self._write() as db:
            if db.execute("SELECT 1 FROM users WHERE id = ? AND disabled = 0", (user_id,)).fetchone() is None:
                raise UnknownItem(f"user {user_id} does not exist or is disabled")
            row = db.execute("SELECT candidates_json FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise UnknownItem(f"item {item_id} does not exist")
            chosen = _check_accepted(accepted, len(json.loads(row[0])), item_id)
            text = json.dumps(chosen)
            own = db.execute(
                "SELECT accepted_json FROM labels WHERE item_id = ? AND user_id = ?", (item_id, user_id)
            ).fetchone()
            if own is not None:
                db.execute(
                    "UPDATE labels SET accepted_json = ?, updated_at = ? WHERE item_id = ? AND user_id = ?",
                    (text, now, item_id, user_id),
                )
                self._audit(db, "revise", user_id, item_id, before=json.loads(own[0]), accepted=chosen)
            else:
                count = db.execute("SELECT COUNT(*) FROM labels WHERE item_id = ?", (item_id,)).fetchone()[0]
                if count >= REQUIRED_LABELS:
                    raise ItemFull(f"item {item_id} already has its {REQUIRED_LABELS} annotators")
                db.execute(
                    "INSERT INTO labels (item_id, user_id, accepted_json, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (item_id, user_id, text, now, now),
                )
                self._audit(db, "create", user_id, item_id, accepted=chosen)
        return Label(item_id=item_id, user_id=user_id, accepted=chosen, updated_at=now)

    def label(self, user_id: int, item_id: int) -> Label | None:
        """The user's own label of the item, or None."""
        rows = self._read(
            "SELECT accepted_json, updated_at FROM labels WHERE item_id = ? AND user_id = ?", (item_id, user_id)
        )
        if not rows:
            return None
        return Label(item_id=item_id, user_id=user_id, accepted=json.loads(rows[0][0]), updated_at=rows[0][1])

    def progress(self, user_id: int) -> tuple[int, int]:
        """(items this user labelled, items that still need this user)."""
        done = self._read("SELECT COUNT(*) FROM labels WHERE user_id = ?", (user_id,))[0][0]
        left = self._read(
            "SELECT COUNT(*) FROM items i WHERE NOT EXISTS "
            "(SELECT 1 FROM labels l WHERE l.item_id = i.id AND l.user_id = ?) "
            "AND (SELECT COUNT(*) FROM labels l WHERE l.item_id = i.id) < ?",
            (user_id, REQUIRED_LABELS),
        )[0][0]
        return int(done), int(left)

    def all_labels(self) -> list[tuple[Item, list[Label]]]:
        """Every item (by trace, step) with its labels in the order they were first given."""
        with self._connect() as db:
            # One read transaction, so items and labels come from the same snapshot.
            db.execute("BEGIN")
            items = [_item(r) for r in db.execute(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY trace_id, step")]
            rows = db.execute("SELECT item_id, user_id, accepted_json, updated_at FROM labels ORDER BY id").fetchall()
            db.execute("COMMIT")
        by_item: dict[int, list[Label]] = {}
        for item_id, user_id, accepted, updated in rows:
            label = Label(item_id=item_id, user_id=user_id, accepted=json.loads(accepted), updated_at=updated)
            by_item.setdefault(item_id, []).append(label)
        return [(item, by_item.get(item.id, [])) for item in items]

    # ------------------------------------------------------------------ settings and audit

    def secret_key(self) -> str:
        """The session-signing key, made once and kept in the file so a restart keeps sessions valid."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (SECRET_KEY, secrets.token_hex(32)))
            return str(db.execute("SELECT value FROM settings WHERE key = ?", (SECRET_KEY,)).fetchone()[0])

    def audit_rows(self, limit: int = 100) -> list[AuditRow]:
        """The latest `limit` audit entries, newest first."""
        rows = self._read(
            "SELECT id, at, user_id, item_id, action, detail_json FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            AuditRow(id=r[0], at=r[1], user_id=r[2], item_id=r[3], action=r[4], detail=json.loads(r[5])) for r in rows
        ]
