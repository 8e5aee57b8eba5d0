"""The annotation database's schema: its migrations, in order (applied by `sqlite_schema.migrate`).

Append only: a shipped migration is never edited, a change is a new one.
"""

from __future__ import annotations

from proactive.sqlite_schema import Migration

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
    Migration(
        2,
        "login attempts with client and outcome, session generations, item leases",
        (
            # login_failures held every name ever tried, unbounded; its rows only mattered for 5 minutes.
            "DROP TABLE login_failures",
            "CREATE TABLE login_attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
            "name TEXT NOT NULL, client TEXT NOT NULL, trusted INTEGER NOT NULL, outcome TEXT NOT NULL)",
            "CREATE INDEX login_attempts_name ON login_attempts (name, at)",
            "CREATE INDEX login_attempts_client ON login_attempts (client, at)",
            "CREATE INDEX login_attempts_at ON login_attempts (at)",
            "ALTER TABLE users ADD COLUMN session_gen INTEGER NOT NULL DEFAULT 0",
            # user_id UNIQUE: an annotator holds at most one item at a time.
            "CREATE TABLE item_leases (item_id INTEGER NOT NULL REFERENCES items(id), "
            "user_id INTEGER NOT NULL UNIQUE REFERENCES users(id), expires_at REAL NOT NULL)",
            "CREATE INDEX item_leases_item ON item_leases (item_id, expires_at)",
            "CREATE INDEX audit_user_action ON audit (user_id, action, at)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
