"""The assistant's log: every proposal shown, every answer, every tool run, in one SQLite file.

`<state dir>/assist.sqlite3`, readable by the user only (0600: the file is created with that
mode before SQLite opens it, and SQLite gives its `-wal` / `-shm` files the database's mode).
WAL mode, foreign keys on, and each write is one `BEGIN IMMEDIATE` transaction, so the loop,
a CLI command and an export can share the file from several processes and threads.

Schema changes are explicit migrations: `MIGRATIONS` is an ordered list, the `schema_migrations`
table records which have run, and opening an older file applies the missing ones (in one
transaction). A file written by a newer proactive (a version this code does not know) is refused
with one line, never guessed at. A shipped migration is never edited; a change is a new step.

Every text is redacted (`proactive.sense.redact.redact`) before it is written, even though the
caller has already redacted it: it is cheap and idempotent, and the log is the one place that
keeps the person's activity for good.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from proactive.errors import UserError
from proactive.fileio import write_atomic
from proactive.sense.redact import redact
from proactive.settings import state_dir
from proactive.sqlite_schema import Migration, create_private, migrate
from proactive.types import Event, Proposal

Answer = Literal["accepted", "dismissed", "ignored"]
ANSWERS: tuple[str, ...] = get_args(Answer)
DB_NAME = "assist.sqlite3"
SNOOZE_KEY = "snooze_until"

#: The system line of every exported KTO prompt.
KTO_SYSTEM = (
    "You watch a person's computer activity, one event per message, and offer a task to help them "
    "when help is needed now."
)


#: Ordered; version k is MIGRATIONS[k - 1]. Append only: a released step is never changed.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "proposals, answers, settings",
        (
            "CREATE TABLE proposals (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, "
            "created REAL NOT NULL, history TEXT NOT NULL, task TEXT NOT NULL, reason TEXT NOT NULL, "
            "gate_probability REAL)",
            # One row per proposal at most (the primary key): a second answer cannot be stored, even in a race.
            "CREATE TABLE answers (proposal_id INTEGER PRIMARY KEY REFERENCES proposals(id) ON DELETE CASCADE, "
            "answer TEXT NOT NULL CHECK (answer IN ('accepted', 'dismissed', 'ignored')), answered_at REAL NOT NULL)",
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        2,
        "tool runs; proposals by session",
        (
            "CREATE TABLE tool_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "proposal_id INTEGER NOT NULL REFERENCES proposals(id) ON DELETE CASCADE, tool TEXT NOT NULL, "
            "ok INTEGER NOT NULL CHECK (ok IN (0, 1)), detail TEXT NOT NULL, at REAL NOT NULL)",
            "CREATE INDEX tool_runs_proposal ON tool_runs (proposal_id)",
            "CREATE INDEX proposals_session ON proposals (session, id)",
        ),
    ),
    Migration(
        3,
        "what was learned about each person (proactive.assist.learner)",
        ("CREATE TABLE learners (person TEXT PRIMARY KEY, state TEXT NOT NULL, updated REAL NOT NULL)",),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


class StoredProposal(BaseModel):
    """One logged proposal and its answer (None while it is still on screen)."""

    model_config = ConfigDict(frozen=True)
    id: int
    session: str
    created: float = Field(description="Unix seconds when it was shown.")
    history: list[Event] = Field(description="The events the agent had seen (redacted).")
    task: str
    reason: str
    gate_probability: float | None = None
    answer: Answer | None = None
    answered_at: float | None = None

    @property
    def status(self) -> str:
        """'shown' until answered, then the answer."""
        return self.answer or "shown"


class StoredToolRun(BaseModel):
    """One tool run after an Accept."""

    model_config = ConfigDict(frozen=True)
    id: int
    proposal_id: int
    tool: str
    ok: bool
    detail: str
    at: float


def _history_json(history: list[Event]) -> str:
    events = [{"time": redact(e.time), "text": redact(e.text), "source": e.source} for e in history]
    return json.dumps(events, ensure_ascii=False)



def write_export(out: Path, lines: Sequence[str]) -> int:
    """Write exported JSONL lines to `out` (atomic, 0600); returns how many.

    With no line, a UserError and nothing is touched: an empty file would only wipe an
    earlier export given as --out.
    """
    if not lines:
        kept = f"{out} left as it was" if out.exists() else "nothing written"
        raise UserError(f"{out}: no accepted or dismissed proposals to export yet (ignored ones are skipped); {kept}")
    write_atomic(out, "".join(lines))
    return len(lines)

class AssistStore:
    """The SQLite log of proposals, answers, tool runs and the snooze setting."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else state_dir() / DB_NAME
        create_private(self.path, "the assistant's database", "check the path")
        self._lock = threading.Lock()
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE), one per write.
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise UserError(
                f"{self.path}: cannot open the assistant's database ({error}); move it aside if it is not one"
            ) from error
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by the last one to close)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> AssistStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock up front: a deferred one that
        reads first and then writes can fail with SQLITE_BUSY at once, without waiting."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def _migrate(self) -> None:
        migrate(self._write, MIGRATIONS, self.path, applied_column="applied",
                newer_fix="upgrade proactive, or move the file aside to start a new log")  # fmt: skip

    def schema_version(self) -> int:
        """The highest migration applied to this file."""
        return int(self._read("SELECT MAX(version) FROM schema_migrations")[0][0])

    # ------------------------------------------------------------------ proposals and answers

    def add_proposal(self, *, session: str, history: list[Event], proposal: Proposal, reason: str) -> int:
        """Log a proposal being shown; returns its id (its status is 'shown' until answered)."""
        if proposal.is_silence or proposal.task is None:
            raise UserError(f"{self.path}: a silence is not a proposal; log only proposals that offer a task")
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO proposals (session, created, history, task, reason, gate_probability) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (redact(session), time.time(), _history_json(history), redact(proposal.task), redact(reason),
                 proposal.gate_probability),
            )  # fmt: skip
            assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
            return cursor.lastrowid

    def _check_proposal(self, db: sqlite3.Connection, proposal_id: int) -> None:
        if db.execute("SELECT 1 FROM proposals WHERE id = ?", (proposal_id,)).fetchone() is None:
            raise UserError(f"{self.path}: proposal {proposal_id} does not exist; use an id from add_proposal")

    def record_answer(self, proposal_id: int, answer: Answer, at: float | None = None) -> None:
        """Log the person's answer. One answer per proposal: a second one, or an unknown id, is a UserError."""
        if answer not in ANSWERS:
            raise UserError(f"{self.path}: answer '{answer}' is not one of {', '.join(ANSWERS)}")
        with self._write() as db:
            self._check_proposal(db, proposal_id)
            earlier = db.execute("SELECT answer FROM answers WHERE proposal_id = ?", (proposal_id,)).fetchone()
            if earlier is not None:
                raise UserError(
                    f"{self.path}: proposal {proposal_id} was already answered ({earlier[0]}); "
                    "one answer per proposal, a new offer needs a new proposal"
                )
            db.execute(
                "INSERT INTO answers (proposal_id, answer, answered_at) VALUES (?, ?, ?)",
                (proposal_id, answer, time.time() if at is None else at),
            )

    def record_tool_run(self, proposal_id: int, tool: str, ok: bool, detail: str) -> None:
        """Log a tool run for a proposal (consent is checked by `Consent`; this is the record of it)."""
        with self._write() as db:
            self._check_proposal(db, proposal_id)
            db.execute(
                "INSERT INTO tool_runs (proposal_id, tool, ok, detail, at) VALUES (?, ?, ?, ?, ?)",
                (proposal_id, redact(tool), int(bool(ok)), redact(detail), time.time()),
            )

    def proposals(self, session: str | None = None) -> list[StoredProposal]:
        """Logged proposals in the order shown, with their answers; all sessions when `session` is None."""
        select = (
            "SELECT p.id, p.session, p.created, p.history, p.task, p.reason, p.gate_probability, a.answer, "
            "a.answered_at FROM proposals p LEFT JOIN answers a ON a.proposal_id = p.id"
        )
        if session is None:
            rows = self._read(select + " ORDER BY p.id")
        else:
            rows = self._read(select + " WHERE p.session = ? ORDER BY p.id", (redact(session),))
        return [self._proposal(row) for row in rows]

    def _proposal(self, row: tuple[Any, ...]) -> StoredProposal:
        id_, session, created, history, task, reason, probability, answer, answered_at = row
        return StoredProposal(
            id=id_, session=session, created=created, history=[Event(**e) for e in json.loads(history)],
            task=task, reason=reason, gate_probability=probability, answer=answer, answered_at=answered_at,
        )  # fmt: skip

    def tool_runs(self, proposal_id: int | None = None) -> list[StoredToolRun]:
        """Logged tool runs in order; only one proposal's when `proposal_id` is given."""
        select = "SELECT id, proposal_id, tool, ok, detail, at FROM tool_runs"
        if proposal_id is None:
            rows = self._read(select + " ORDER BY id")
        else:
            rows = self._read(select + " WHERE proposal_id = ? ORDER BY id", (proposal_id,))
        return [StoredToolRun(id=r[0], proposal_id=r[1], tool=r[2], ok=bool(r[3]), detail=r[4], at=r[5]) for r in rows]

    # ------------------------------------------------------------------ settings

    def snooze_until(self) -> float | None:
        """Unix seconds until which nothing is shown, or None."""
        rows = self._read("SELECT value FROM settings WHERE key = ?", (SNOOZE_KEY,))
        return float(rows[0][0]) if rows else None

    def set_snooze(self, until: float | None) -> None:
        """Snooze until `until` (unix seconds); None ends the snooze."""
        if until is not None and not math.isfinite(until):
            raise UserError(f"{self.path}: snooze time {until} is not a finite number of unix seconds")
        with self._write() as db:
            if until is None:
                db.execute("DELETE FROM settings WHERE key = ?", (SNOOZE_KEY,))
            else:
                db.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (SNOOZE_KEY, repr(float(until))),
                )

    # ------------------------------------------------------------------ what was learned per person

    def learner_state(self, person: str) -> str | None:
        """The saved learner state of `person` (JSON, `proactive.assist.learner.LearnerState`), or None."""
        rows = self._read("SELECT state FROM learners WHERE person = ?", (person,))
        return str(rows[0][0]) if rows else None

    def save_learner_state(self, person: str, state: str) -> None:
        """Replace `person`'s learner state (one transaction: a crash leaves the old or the new one)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO learners (person, state, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(person) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                (person, state, time.time()),
            )

    def reset_learner(self, person: str) -> bool:
        """Forget what was learned about `person`; True when there was something to forget."""
        with self._write() as db:
            return db.execute("DELETE FROM learners WHERE person = ?", (person,)).rowcount > 0

    # ------------------------------------------------------------------ training data

    def export_kto(self, out: Path) -> int:
        """Write the answered proposals as TRL's unpaired preference JSONL; returns the rows written.

        A row: {"prompt": [system line, one user message per event, rendered as the `llm` agent
        sees it], "completion": [{"role": "assistant", "content": task}], "label": bool}.
        accepted -> True, dismissed -> False. Ignored proposals are skipped: ignoring is a weak
        signal (the person may have been away, or busy, and never read it), so calling it a
        rejection would teach the model that good tasks were bad. Unanswered ones are skipped too.
        The file is written atomically, mode 0600 (it holds the person's activity, redacted);
        with no row to write, a UserError and nothing is touched.
        """
        # Imported here: the agent module (and its model layer) is needed only for an export.
        from proactive.agent.llm_agent import event_turn

        lines = []
        for stored in self.proposals():
            if stored.answer not in ("accepted", "dismissed"):
                continue
            prompt = [{"role": "system", "content": KTO_SYSTEM}]
            prompt += [{"role": "user", "content": event_turn(stored.history, i)} for i in range(len(stored.history))]
            row = {
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": stored.task}],
                "label": stored.answer == "accepted",
            }
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        return write_export(out, lines)
