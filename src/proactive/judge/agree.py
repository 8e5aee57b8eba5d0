"""Running judges over rows or a bench run's predictions, and agreement between two judges.

A bench run folder holds `predictions/<trace>.json` in the authors' released format,
read by `proactive.data.released` (the same parser as `bench score`); a step's first
prediction is judged with the history of steps 0..i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from proactive.data.released import read_released, released_files
from proactive.errors import DataError, UserError
from proactive.judge.base import Judge
from proactive.types import Event, Proposal

Pair = tuple[Sequence[Event], str | None]
Progress = Callable[[int, int], None]


async def judge_pairs(
    judge: Judge, pairs: Sequence[Pair], progress: Progress | None = None
) -> list[tuple[bool, float]]:
    """(accepted, score) per pair; uses a judge's batch path (`score_pairs`) when it has one."""
    batch = getattr(judge, "score_pairs", None)
    if batch is not None:
        threshold = judge.model.settings.threshold  # type: ignore[attr-defined]
        scores = batch(pairs)
        if progress is not None:
            progress(len(pairs), len(pairs))
        return [(bool(s >= threshold), float(s)) for s in scores]
    out = []
    for done, (history, task) in enumerate(pairs, start=1):
        verdict = await judge(history, Proposal(task=task))
        out.append((verdict.accepted, verdict.score))
        if progress is not None:
            progress(done, len(pairs))
    return out


def load_run_pairs(run_dir: Path, problems: list[str] | None = None) -> list[tuple[str, int, Pair]]:
    """(trace id, step index, (history, first prediction)) for every readable step of every file.

    Files are read by the one parser of the released format (`proactive.data.released`):
    operation objects count as proposals. Unreadable entries are skipped and described,
    one line per file, in `problems` when the caller passes a list; without one, the
    first unreadable entry is an error (nothing is skipped unseen).
    """
    out: list[tuple[str, int, Pair]] = []
    for path in released_files(run_dir):
        released = read_released(path)
        if released.unreadable:
            if problems is None:
                first = released.unreadable[0]
                where = "" if first.index is None else f"[{first.index}]"
                raise DataError(path, where, "", f"{first.reason}; fix or remove the entry")
            problems.append(released.note() or "")
        for step in released.steps:
            out.append((path.stem, step.index, (released.history(step), step.tasks[0])))
    if not out:
        raise UserError(f"{run_dir}: no readable prediction steps; run `proactive bench run` first")
    return out


class JudgeAgreement(BaseModel):
    """How often two judges give the same verdict on the same proposals."""

    judges: list[str]
    steps: int = Field(description="Proposals (including silences) judged by both.")
    agreement: float = Field(description="Share of steps with the same verdict.")
    cohen_kappa: float | None = Field(description="Agreement beyond chance (None when undefined).")
    accept_rate: dict[str, float] = Field(description="Share accepted by each judge.")
    agreement_tasks: float | None = Field(description="Agreement on steps with a proposed task.")
    agreement_silences: float | None = Field(description="Agreement on silent steps.")
    both: dict[str, int] = Field(description="Counts: both_accept, both_reject, only_first, only_second.")


def agreement_between(
    names: Sequence[str], first: Sequence[bool], second: Sequence[bool], is_task: Sequence[bool]
) -> JudgeAgreement:
    """Agreement, Cohen's kappa and per-kind agreement of two verdict lists."""
    a, b, t = (np.asarray(x, dtype=bool) for x in (first, second, is_task))
    same = a == b
    pa, pb = float(a.mean()), float(b.mean())
    chance = pa * pb + (1 - pa) * (1 - pb)
    observed = float(same.mean())
    kappa = (observed - chance) / (1 - chance) if chance < 1 else None
    return JudgeAgreement(
        judges=list(names),
        steps=len(a),
        agreement=observed,
        cohen_kappa=kappa,
        accept_rate={names[0]: pa, names[1]: pb},
        agreement_tasks=float(same[t].mean()) if t.any() else None,
        agreement_silences=float(same[~t].mean()) if (~t).any() else None,
        both={
            "both_accept": int(np.sum(a & b)),
            "both_reject": int(np.sum(~a & ~b)),
            "only_first": int(np.sum(a & ~b)),
            "only_second": int(np.sum(~a & b)),
        },
    )
