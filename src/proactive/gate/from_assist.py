"""Refitting the gate from one person's answers (`proactive gate train --from-assist DB`).

Rows: each offer the assistant showed, as the history it had seen then, labelled 1 when the
person accepted it and 0 when they dismissed it. Ignored offers are left out (the person may
never have read them: no evidence either way), and so are unanswered ones. The fit is the
shipped gate's recipe (`gate.default.DEFAULT_SPEC`: its blocks, its candidate C values, the
threshold by grouped CV). With `default_rows`, the shipped gate's own rows (ProactiveBench's
reward rows, one example per distinct history) are fitted alongside, so a handful of answers
shift the shipped gate instead of replacing it.

Caveat: every answered history is a moment at which a gate had already opened, so the refit
learns which of those moments this person wants, not the moments it never spoke at.

CV groups: the person's answers, in the order shown, are cut into `FOLDS` consecutive blocks
(adjacent offers share most of their history, so holding out single offers would leak); the
reward rows keep one group per trace. The manifest's `training_traces` lists the real trace
keys (`data.labels.trace_key_of_events` of every history fitted on), so a replayed
ProactiveBench trace answered in the assistant is refused for scoring, as the no-leakage rules
require; the manifest's `assist` block records the database, the proposal ids and a fingerprint.

This module is offline (fitting) and reads no store itself: the CLI turns the assistant's log
into `AnsweredHistory` values (the gate room does not import the assist room).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from proactive.data.labels import trace_key_of_events
from proactive.errors import UserError
from proactive.gate.artifact import GateManifest, save_gate
from proactive.gate.training import GateExample, TrainSpec, default_encoder, examples_from_rows, train_gate
from proactive.types import AnnotatedRow, Event

#: Fewest accepted and fewest dismissed answers a refit needs (each): fewer cannot pick a threshold.
MIN_EACH = 5
#: Consecutive blocks the person's answers are cut into for the grouped CV.
FOLDS = 5


@dataclass(frozen=True)
class AnsweredHistory:
    """One shown offer: the history the agent had seen and the person's answer."""

    proposal_id: int
    history: tuple[Event, ...]
    accepted: bool


class AssistSource(BaseModel):
    """Where a refitted gate's rows came from."""

    db: str = Field(description="The assistant's database the answers were read from.")
    proposal_ids: list[int] = Field(description="The answered proposals fitted on (accepted and dismissed).")
    fingerprint: str = Field(description="sha256 of the proposals' ids, answers and histories.")
    accepted: int
    dismissed: int
    ignored_left_out: int = Field(description="Ignored (or unanswered) proposals, not fitted on.")
    default_rows: int = Field(default=0, description="Shipped-gate histories blended in (0: the person's only).")
    reward_file: str | None = Field(default=None, description="Where the blended shipped rows came from.")


class AssistGateManifest(GateManifest):
    """A gate manifest with the provenance of a person's answers (readers of GateManifest ignore it)."""

    assist: AssistSource


def answers_fingerprint(answers: Sequence[AnsweredHistory]) -> str:
    """sha256 over each answer's id, label and history, in id order."""
    digest = hashlib.sha256()
    for answer in sorted(answers, key=lambda a: a.proposal_id):
        events = [[e.time, e.text, e.source] for e in answer.history]
        digest.update(json.dumps([answer.proposal_id, answer.accepted, events], ensure_ascii=False).encode())
    return digest.hexdigest()


def check_enough(db: Path, accepted: int, dismissed: int, ignored: int) -> None:
    """A one-line UserError unless there are `MIN_EACH` accepted and `MIN_EACH` dismissed answers."""
    if accepted >= MIN_EACH and dismissed >= MIN_EACH:
        return
    raise UserError(
        f"{db}: {accepted} accepted and {dismissed} dismissed answers ({ignored} ignored or unanswered, not used); "
        f"refitting the gate needs at least {MIN_EACH} of each: answer more offers and try again"
    )


def _examples(answers: Sequence[AnsweredHistory]) -> list[GateExample]:
    ordered = sorted(answers, key=lambda a: a.proposal_id)
    return [
        GateExample(a.history, a.accepted, f"assist-block-{i * FOLDS // len(ordered)}") for i, a in enumerate(ordered)
    ]


def train_from_answers(
    answers: Sequence[AnsweredHistory],
    out: Path,
    spec: TrainSpec,
    source: AssistSource,
    default_rows: Sequence[AnnotatedRow] = (),
) -> AssistGateManifest:
    """Fit a gate on the person's answers (plus `default_rows`) with `spec`; save it to `out`."""
    accepted = sum(a.accepted for a in answers)
    check_enough(Path(source.db), accepted, len(answers) - accepted, source.ignored_left_out)
    shipped = examples_from_rows(default_rows)
    manifest, arrays = train_gate([*_examples(answers), *shipped], spec, default_encoder())
    keys = {trace_key_of_events(a.history) for a in answers} | {e.trace_key for e in shipped}
    fields = manifest.model_dump() | {"training_traces": sorted(keys)}
    refit = AssistGateManifest(**fields, assist=source.model_copy(update={"default_rows": len(shipped)}))
    save_gate(out, refit, arrays)
    return refit
