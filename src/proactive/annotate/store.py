"""The annotation database: annotators, the items they judge, their labels, an audit trail (SQLite).

WAL mode, foreign keys on, a 5 s busy timeout. Every operation opens its own connection (sqlite3
connections must not cross threads, and the web app runs handlers in a thread pool) and every write
is one `BEGIN IMMEDIATE` transaction: the write lock is taken before anything is read, so two
annotators submitting at once are serialised and neither label is lost or stored twice.

Schema changes are explicit migrations (`schema.MIGRATIONS`, in order); `schema_migrations` records
which have run, and opening an older file applies the missing ones, each in one transaction. A file
written by a newer proactive is refused with one line. A shipped migration is never edited.

An item (one step of one trace) is shown to at most `REQUIRED_LABELS` (3) different annotators; a
label is the sorted list of candidate indexes the annotator accepted, `[]` meaning "reject all".
An annotator may revise their own label; nobody reads or changes another's.

Items are handed out with short leases (`leases`, `LEASE_S`), so annotators working at once are
spread over items instead of racing for the first one. A submit is accepted while its author holds
the lease, or when a slot is still free without it.

Sessions are revoked server-side: `users.session_gen` goes into the signed session at login and
is compared on every request; logging out and a password reset bump it. Login limits: `logins`.
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

from proactive.annotate import leases
from proactive.annotate.logins import LoginAttempt, LoginLimits, RateLimited, finish, prune, refusal, reserve
from proactive.annotate.schema import MIGRATIONS
from proactive.errors import UserError
from proactive.sqlite_schema import create_private, migrate
from proactive.types import Event

REQUIRED_LABELS = 3
MAX_FAILURES = LoginLimits.per_name
BUSY_TIMEOUT_MS = 5000
SECRET_KEY = "session_secret"
MAX_NAME = 64
#: Item ids are SQLite integers; a larger number in a URL is simply no item.
MAX_ID = 2**63 - 1


class InvalidLabel(UserError):
    """A submitted label names candidates the item does not have (or is not a list of indexes)."""


class ItemFull(UserError):
    """The item has no slot left for the submitter: three labels, or the free ones leased to others."""


class UnknownItem(UserError):
    """No item (or no user) with that id."""


class User(BaseModel):
    """An annotator account (never carries the password hash)."""

    model_config = ConfigDict(frozen=True)
    id: int
    name: str
    session_gen: int = Field(0, description="Bumped by logout and password reset: older sessions stop working.")


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
    """The annotation database at `path` (created and migrated on open); `limits` bound the logins."""

    def __init__(self, path: Path, limits: LoginLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or LoginLimits()
        try:
            create_private(self.path, "the annotation database", "check --db")
        except OSError as error:  # its folder cannot be made: a file stands where a folder should
            raise UserError(f"{self.path}: cannot create the annotation database ({error.strerror}); "
                            "pass a --db path in a folder") from error  # fmt: skip
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
        if not 0 < item_id <= MAX_ID:
            return None
        rows = self._read(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
        return _item(rows[0]) if rows else None

    def items(self) -> list[Item]:
        """Every item, by trace and step."""
        return [_item(r) for r in self._read(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY trace_id, step")]

    def next_item(self, user_id: int, now: float | None = None) -> Item | None:
        """The user's next item, leased to them (`leases.pick`): the one they hold if it still wants them,
        else the first by trace_id and step whose labels and others' leases leave a slot for them."""
        now = time.time() if now is None else now
        with self._write() as db:
            item_id = leases.pick(db, user_id, now, REQUIRED_LABELS)
            row = db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        return _item(row) if row else None

    def hold(self, user_id: int, item_id: int, now: float | None = None) -> bool:
        """Take or renew the user's lease on the item when it has a slot for them (the page does this while
        they work); True when they hold it. A revise needs no lease: the label is theirs already."""
        now = time.time() if now is None else now
        if not 0 < item_id <= MAX_ID:
            return False
        with self._write() as db:
            if not leases.wants(db, item_id, user_id, now, REQUIRED_LABELS):
                return False
            leases.give(db, user_id, item_id, now)
        return True

    def can_label(self, user_id: int, item_id: int) -> bool:
        """True when the user already labelled the item (a revise) or it still has room for an annotator."""
        rows = self._read(
            "SELECT COUNT(*), COALESCE(SUM(user_id = ?), 0) FROM labels WHERE item_id = ?", (user_id, item_id)
        )
        count, own = rows[0]
        return bool(own) or (count < REQUIRED_LABELS and self.item(item_id) is not None)

    def end_sessions(self, user_id: int) -> None:
        """Revoke every session of the user (logout): sessions carry the generation this bumps."""
        with self._write() as db:
            db.execute("UPDATE users SET session_gen = session_gen + 1 WHERE id = ?", (user_id,))
            self._audit(db, "logout", user_id, None)

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
                # a new password ends the sessions the old one opened, and the name's lock
                db.execute("UPDATE users SET password_hash = ?, session_gen = session_gen + 1 WHERE id = ?",
                           (digest, row[0]))  # fmt: skip
                db.execute("UPDATE login_attempts SET outcome = 'cleared' WHERE name = ? AND outcome = 'failed'",
                           (clean,))  # fmt: skip
                self._audit(db, "reset-password", row[0], None, name=clean)
        return password

    def user(self, user_id: int) -> User | None:
        """The enabled user with this id, or None."""
        if not 0 < user_id <= MAX_ID:
            return None
        rows = self._read("SELECT id, name, session_gen FROM users WHERE id = ? AND disabled = 0", (user_id,))
        return User(id=rows[0][0], name=rows[0][1], session_gen=rows[0][2]) if rows else None

    def users(self) -> list[UserSummary]:
        """Every annotator with their label count, by name."""
        rows = self._read(
            "SELECT u.id, u.name, COUNT(l.id), u.disabled, u.created_at FROM users u "
            "LEFT JOIN labels l ON l.user_id = u.id GROUP BY u.id ORDER BY u.name"
        )
        return [UserSummary(id=r[0], name=r[1], labels=r[2], disabled=bool(r[3]), created_at=r[4]) for r in rows]

    def authenticate(
        self, name: str, password: str, client: str = "", trusted: bool = False, now: float | None = None
    ) -> User | None:
        """The user for a right name and password, else None; RateLimited when a limit (`logins`) is reached.

        `client` is the caller's address and `trusted` whether this browser logged in as `name` before.
        The web app runs the three steps itself, to queue the argon2 check without holding a thread.
        """
        attempt = self.begin_login(name, client, trusted, now)
        return self.finish_login(attempt, self.check_password(attempt, password), password)

    def begin_login(self, name: str, client: str = "", trusted: bool = False, now: float | None = None) -> LoginAttempt:
        """Check the limits and reserve one password check, in one write transaction; RateLimited if refused."""
        now = time.time() if now is None else now
        clean = name.strip()[:MAX_NAME]
        with self._write() as db:
            prune(db, self.limits, now)
            row = db.execute("SELECT id, password_hash FROM users WHERE name = ? AND disabled = 0", (clean,)).fetchone()
            refused: RateLimited | None = refusal(db, self.limits, clean, client, trusted, now)
            if refused is None:
                attempt_id = reserve(db, clean, client, trusted, now)
            elif row is not None and not db.execute(
                "SELECT 1 FROM audit WHERE user_id = ? AND action = 'login-limited' AND at > ?",
                (row[0], now - self.limits.window_s),
            ).fetchone():  # once per window: refused attempts must not grow the file
                self._audit(db, "login-limited", row[0], None, name=clean)
        if refused is not None:
            raise refused
        return LoginAttempt(id=attempt_id, name=clean, user_id=row[0] if row else None, trusted=trusted,
                            digest=row[1] if row else _DUMMY_HASH)  # fmt: skip

    @staticmethod
    def check_password(attempt: LoginAttempt, password: str) -> bool:
        """The argon2 check of a reserved attempt (no database access; about 0.2 s of one core)."""
        try:
            return _HASHER.verify(attempt.digest, password) and attempt.user_id is not None
        except (VerificationError, InvalidHashError):
            return False

    def finish_login(self, attempt: LoginAttempt, ok: bool, password: str) -> User | None:
        """Record the check's outcome (audited for existing users only); the user when it passed."""
        with self._write() as db:
            row = db.execute("SELECT id, name, session_gen, password_hash FROM users WHERE id = ? AND disabled = 0",
                             (attempt.user_id,)).fetchone()  # fmt: skip
            ok = ok and row is not None and row[3] == attempt.digest  # not disabled or reset meanwhile
            finish(db, attempt, ok)
            if row is None or not ok:
                if attempt.user_id is not None:
                    self._audit(db, "login-failed", attempt.user_id, None, name=attempt.name)
                return None
            self._audit(db, "login", row[0], None)
            if _HASHER.check_needs_rehash(attempt.digest):  # parameters raised since the hash was made
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (_HASHER.hash(password), row[0]))
        return User(id=row[0], name=row[1], session_gen=row[2])

    # ------------------------------------------------------------------ labels

    def submit(self, user_id: int, item_id: int, accepted: list[int], now: float | None = None) -> Label:
        """Store (or revise) the user's label of the item in one transaction, with an audit row.

        A new label needs the user's live lease on the item or a slot that no other live lease holds.
        """
        now = time.time() if now is None else now
        if not 0 < item_id <= MAX_ID:
            raise UnknownItem(f"item {item_id} does not exist")
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
                if not leases.slot_for(db, user_id, item_id, count, now, REQUIRED_LABELS):
                    raise ItemFull(f"item {item_id}: its free slots are held by annotators at work on it")
                leases.release(db, user_id, item_id)
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
