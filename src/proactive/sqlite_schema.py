"""What the project's SQLite stores share: a private file, and explicit schema migrations.

Each store (the assistant's log, the annotation database) keeps an ordered, append-only
tuple of `Migration`s; `migrate` applies the missing ones, each in its own write
transaction, recorded in a `schema_migrations` table, and refuses a file written by a
newer proactive.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from proactive.errors import UserError


@dataclass(frozen=True)
class Migration:
    """One schema step: `statements` run in order inside one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


def create_private(path: Path, what: str, fix: str) -> None:
    """Make `path` exist with mode 0600 before SQLite opens it (SQLite would use the umask's 0644).

    `what` names the database and `fix` the way out, for the one-line error.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        raise UserError(f"{path}: cannot open {what} ({error.strerror}); {fix}") from error
    try:
        os.fchmod(descriptor, 0o600)  # an older file with a wider mode is closed as well
    finally:
        os.close(descriptor)


def migrate(
    write: Callable[[], AbstractContextManager[sqlite3.Connection]],
    migrations: tuple[Migration, ...],
    path: Path,
    applied_column: str = "applied_at",
    newer_fix: str = "upgrade proactive",
) -> None:
    """Apply the migrations `path` lacks; `write()` opens one write transaction.

    `applied_column` is the name an existing store's table already uses for the time.
    """
    latest = migrations[-1].version
    with write() as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                   f"name TEXT NOT NULL, {applied_column} REAL NOT NULL)")  # fmt: skip
        current = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
    if current > latest:
        raise UserError(
            f"{path}: database schema version {current} is newer than this proactive knows ({latest}); {newer_fix}"
        )
    for step in migrations[current:]:
        with write() as db:
            # Checked again inside the transaction: another process may have migrated meanwhile.
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (step.version,)).fetchone():
                continue
            for statement in step.statements:
                db.execute(statement)
            db.execute(
                f"INSERT INTO schema_migrations (version, name, {applied_column}) VALUES (?, ?, ?)",
                (step.version, step.name, time.time()),
            )
