"""The assistant's log as KTO rows in the offer writer's own conversation (`assist export --format kto`).

A row teaches the model that wrote the offer, so its prompt is exactly what the gated agent's
writer read at that moment: `writer_messages(Observation(history, previous, feedback))`, i.e.
[system][activity log with earlier offers and the person's answers under their events, then
the question]. Nothing stands in for unknown turns: the writer never sees its own answers as
turns, so there is no silence to invent. The completion is the answer the writer generates,
`{"task": "..."}` (json.dumps, the shape `WriterOffer` validates); label True for accepted,
False for dismissed. Ignored proposals are skipped (the person may never have read them), and
so are unanswered ones.

How the moment is rebuilt from the log: `history` is the history the store kept for the
proposal (redacted, as the person's log keeps it). The earlier offers are the proposals shown
earlier in the same session: each is put under the event it followed, found by lining its own
history up with this one (so the loop's `max_history` window, which drops the oldest events,
is followed), with "they accepted it" / "they dismissed it" as the loop fed them back. An
offer nobody answered (ignored, or held back by the loop: attention cap, snooze, a repeat, the
per-person learner) is not in the writer's log (`prompts/activity.py`), so rows match it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from proactive.agent.writer import WriterOffer, writer_messages
from proactive.assist.loop import ACCEPTED_FEEDBACK, DISMISSED_FEEDBACK
from proactive.assist.store import AssistStore, StoredProposal, write_export
from proactive.types import Event, Judgement, Observation, Proposal


def _position(history: Sequence[Event], earlier: Sequence[Event]) -> int | None:
    """Index in `history` of the event after which the `earlier` history's offer was made, or None.

    The two histories are windows of one session's events; `earlier` ends at that event. The
    position j is where history[: j + 1] equals the last j + 1 events of `earlier`; the largest
    such j before the latest event (the offer was made at an earlier event).
    """
    for j in range(min(len(history) - 2, len(earlier) - 1), -1, -1):
        if history[j] == earlier[-1] and list(history[: j + 1]) == list(earlier[len(earlier) - j - 1 :]):
            return j
    return None


def writer_observation(stored: StoredProposal, session: Sequence[StoredProposal]) -> Observation:
    """The Observation the gated agent gave its writer when `stored` was proposed.

    `session`: the proposals logged in the same session (any order; only earlier ids are used).
    """
    history = list(stored.history)
    previous = [Proposal() for _ in history[:-1]]
    feedback: list[Judgement | None] = [None for _ in history[:-1]]
    for earlier in sorted(session, key=lambda p: p.id):
        if earlier.id >= stored.id or earlier.session != stored.session:
            continue
        index = _position(history, earlier.history)
        if index is None:  # before this window (dropped by max_history): the writer did not see it either
            continue
        previous[index] = Proposal(task=earlier.task, gate_probability=earlier.gate_probability)
        feedback[index] = {"accepted": ACCEPTED_FEEDBACK, "dismissed": DISMISSED_FEEDBACK}.get(earlier.answer or "")
    return Observation(history=history, previous=previous, feedback=feedback)


def writer_completion(task: str) -> str:
    """The writer's answer for `task`, as the model writes it (`{"task": ...}`)."""
    return json.dumps({"task": task}, ensure_ascii=False)


def writer_kto_rows(proposals: Sequence[StoredProposal]) -> tuple[list[dict[str, object]], int]:
    """KTO rows of the accepted and dismissed proposals, and how many were skipped as not a
    writer answer (a task longer than `WriterOffer` allows, written by another agent)."""
    by_session: dict[str, list[StoredProposal]] = {}
    for stored in proposals:
        by_session.setdefault(stored.session, []).append(stored)
    rows: list[dict[str, object]] = []
    skipped = 0
    for stored in proposals:
        if stored.answer not in ("accepted", "dismissed"):
            continue
        completion = writer_completion(stored.task)
        try:
            WriterOffer.model_validate_json(completion)
        except ValidationError:
            skipped += 1
            continue
        observation = writer_observation(stored, by_session[stored.session])
        rows.append({
            "prompt": writer_messages(observation),
            "completion": [{"role": "assistant", "content": completion}],
            "label": stored.answer == "accepted",
        })  # fmt: skip
    return rows, skipped


def export_writer_kto(store: AssistStore, out: Path) -> tuple[int, int]:
    """Write the writer's KTO rows to `out` (atomic, 0600); returns (rows written, rows skipped).

    With no row to write, a UserError and nothing is touched (an empty file would only wipe an
    earlier export given as --out).
    """
    rows, skipped = writer_kto_rows(store.proposals())
    return write_export(out, [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]), skipped
