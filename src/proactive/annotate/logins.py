"""Login rate limits of the annotation app, kept in the store's SQLite file (table `login_attempts`).

A password check is *reserved* before argon2 runs: `refusal` counts the recent attempts and
`reserve` inserts one 'pending' row, both inside the caller's `BEGIN IMMEDIATE` transaction. The
write lock serialises parallel requests, and a pending row counts like a failure, so at most
`per_name` checks per window per name ever reach argon2, however many arrive at once. When the
check ends, `finish` marks the row 'failed' or 'ok' (a right password also clears the name's
failures, as before).

Three limits, all per window:

- per name (5 in 5 minutes), counted apart for browsers that logged in as that name before
  (`trusted`: the signed session remembers it), so a stranger's wrong guesses cannot lock an
  annotator out of the browser they use;
- per client address (20 failed checks in 5 minutes, over all names; trusted attempts exempt);
- per server (120 checks of any outcome a minute; trusted attempts exempt): argon2 costs about
  0.2 s of one core, so this caps what anonymous clients can burn.

The table stays small whatever clients send: one row per check that ran, rows older than the
longest window are pruned on every reservation, and the server limit bounds the rows per window.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from proactive.errors import UserError

PENDING, FAILED, OK, CLEARED = "pending", "failed", "ok", "cleared"


@dataclass(frozen=True)
class LoginLimits:
    """How many password checks may run; the defaults serve a handful of annotators."""

    per_name: int = 5
    per_client: int = 20
    per_server: int = 120
    window_s: float = 300.0
    server_window_s: float = 60.0


@dataclass(frozen=True)
class LoginAttempt:
    """A reserved password check: the row to finish and the hash to verify against."""

    id: int
    name: str
    user_id: int | None
    trusted: bool
    digest: str = field(repr=False)


class RateLimited(UserError):
    """A login refused before its password was checked; `retry_after` is in seconds."""

    def __init__(self, why: str, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"{why}; try again in {self.retry_after} s")


def _count(db: sqlite3.Connection, where: str, parameters: tuple[object, ...]) -> tuple[int, float]:
    count, oldest = db.execute(f"SELECT COUNT(*), MIN(at) FROM login_attempts WHERE {where}", parameters).fetchone()
    return int(count), float(oldest or 0.0)


def refusal(
    db: sqlite3.Connection, limits: LoginLimits, name: str, client: str, trusted: bool, now: float
) -> RateLimited | None:
    """The limit this attempt would break, or None; call inside the write transaction that reserves."""
    since = now - limits.window_s
    count, oldest = _count(db, "name = ? AND trusted = ? AND outcome IN (?, ?) AND at > ?",
                           (name, int(trusted), PENDING, FAILED, since))  # fmt: skip
    if count >= limits.per_name:
        return RateLimited(f"too many failed logins for '{name}'", oldest + limits.window_s - now)
    if trusted:
        return None
    count, oldest = _count(db, "client = ? AND trusted = 0 AND outcome = ? AND at > ?", (client[:64], FAILED, since))
    if count >= limits.per_client:
        return RateLimited("too many failed logins from your address", oldest + limits.window_s - now)
    count, oldest = _count(db, "at > ?", (now - limits.server_window_s,))
    if count >= limits.per_server:
        return RateLimited("too many logins on this server just now", oldest + limits.server_window_s - now)
    return None


def prune(db: sqlite3.Connection, limits: LoginLimits, now: float) -> None:
    """Forget attempts older than every window (keeps the table bounded)."""
    db.execute("DELETE FROM login_attempts WHERE at <= ?", (now - max(limits.window_s, limits.server_window_s),))


def reserve(db: sqlite3.Connection, name: str, client: str, trusted: bool, now: float) -> int:
    """Insert the pending row of a check about to run; returns its id."""
    cursor = db.execute(
        "INSERT INTO login_attempts (at, name, client, trusted, outcome) VALUES (?, ?, ?, ?, ?)",
        (now, name, client[:64], int(trusted), PENDING),
    )
    return int(cursor.lastrowid or 0)


def finish(db: sqlite3.Connection, attempt: LoginAttempt, ok: bool) -> None:
    """Record the check's outcome; a right password clears the name's failures."""
    db.execute("UPDATE login_attempts SET outcome = ? WHERE id = ?", (OK if ok else FAILED, attempt.id))
    if ok:
        db.execute(
            "UPDATE login_attempts SET outcome = ? WHERE name = ? AND outcome = ?", (CLEARED, attempt.name, FAILED)
        )
