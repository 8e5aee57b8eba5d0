"""Item leases: which annotator an item is being worked on by, so annotators working at once spread out.

Before leases every annotator was sent to the first item lacking labels, and all but three of the
annotators working at once were refused when they submitted (93% of submits with 50 annotators).
Now `pick` hands each annotator an item whose labels plus other annotators' live leases leave a
slot, with a lease on it (`LEASE_S`; the page renews it while its annotator works), so the three
annotators given an item can all submit. An annotator holds one lease at a time (`user_id UNIQUE`).
Every function runs inside the store's write transaction (`BEGIN IMMEDIATE`), which serialises them.
"""

from __future__ import annotations

import sqlite3

#: How long an item stays held for the annotator it was handed to, unless renewed.
LEASE_S = 300.0

# Item `i` has a slot for a user: they have not labelled it, and its labels plus other users' live
# leases leave one free. Parameters: user, user, now, labels required.
_WANTS_USER = (
    "NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id AND l.user_id = ?) "
    "AND (SELECT COUNT(*) FROM labels l WHERE l.item_id = i.id) + (SELECT COUNT(*) FROM item_leases e "
    "WHERE e.item_id = i.id AND e.user_id != ? AND e.expires_at > ?) < ?"
)


def wants(db: sqlite3.Connection, item_id: int, user_id: int, now: float, required: int) -> bool:
    """True when the item exists and has a slot for the user."""
    row = db.execute(f"SELECT 1 FROM items i WHERE i.id = ? AND {_WANTS_USER}",
                     (item_id, user_id, user_id, now, required)).fetchone()  # fmt: skip
    return row is not None


def give(db: sqlite3.Connection, user_id: int, item_id: int, now: float) -> None:
    """Give (or renew) the user's one lease, on `item_id`."""
    db.execute("DELETE FROM item_leases WHERE user_id = ?", (user_id,))
    db.execute("INSERT INTO item_leases (item_id, user_id, expires_at) VALUES (?, ?, ?)",
               (item_id, user_id, now + LEASE_S))  # fmt: skip


def pick(db: sqlite3.Connection, user_id: int, now: float, required: int) -> int | None:
    """The item the user holds if it still wants them, else the first (by trace, step) with a slot for
    them; leased to them. None (and no lease) when no item has a slot for them."""
    db.execute("DELETE FROM item_leases WHERE expires_at <= ?", (now,))
    held = db.execute("SELECT item_id FROM item_leases WHERE user_id = ?", (user_id,)).fetchone()
    if held is not None and wants(db, held[0], user_id, now, required):
        found: int | None = held[0]
    else:
        row = db.execute(f"SELECT id FROM items i WHERE {_WANTS_USER} ORDER BY trace_id, step LIMIT 1",
                         (user_id, user_id, now, required)).fetchone()  # fmt: skip
        found = row[0] if row else None
    if found is None:
        db.execute("DELETE FROM item_leases WHERE user_id = ?", (user_id,))
    else:
        give(db, user_id, found, now)
    return found


def slot_for(db: sqlite3.Connection, user_id: int, item_id: int, labels: int, now: float, required: int) -> bool:
    """True when a new label by the user fits: they hold a live lease, or a slot is free of other leases."""
    mine, others = db.execute(
        "SELECT COALESCE(SUM(user_id = ?), 0), COALESCE(SUM(user_id != ?), 0) FROM item_leases "
        "WHERE item_id = ? AND expires_at > ?",
        (user_id, user_id, item_id, now),
    ).fetchone()
    return bool(mine) or labels + others < required


def release(db: sqlite3.Connection, user_id: int, item_id: int) -> None:
    """The user's label took the slot: their lease on the item ends."""
    db.execute("DELETE FROM item_leases WHERE user_id = ? AND item_id = ?", (user_id, item_id))
