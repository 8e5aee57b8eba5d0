"""Running judges over rows or a bench run's predictions, and agreement between two judges.

A bench run folder holds `predictions/<trace>.json` in the authors' released format:
a list of steps, each with `observation` {time, event} and `agent_response` (a list
whose first item is the proposed task or null; a bare string, null, or an object with
`task` / `pred_task` is accepted too). Step i is judged with the history of steps 0..i.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from proactive.errors import DataError, UserError
from proactive.judge.base import Judge
from proactive.types import Event, Proposal, is_silence

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


def _task_of(response: Any, path: Path, where: str) -> str | None:
    if isinstance(response, list):
        response = response[0] if response else None
    if isinstance(response, dict):
        response = response.get("task", response.get("pred_task"))
    if response is None or isinstance(response, str):
        return None if is_silence(response) else response
    raise DataError(path, where, "agent_response", "expected a task string, null, or a list holding one")


def load_run_pairs(run_dir: Path) -> list[tuple[str, int, Pair]]:
    """(trace id, step index, (history, task)) for every step of every prediction file."""
    folder = run_dir / "predictions"
    if not folder.is_dir():
        folder = run_dir
    files = sorted(p for p in folder.glob("*.json") if p.name != "run.json")
    if not files:
        raise UserError(f"{run_dir}: no prediction files (predictions/<trace>.json); run `proactive bench run` first")
    out: list[tuple[str, int, Pair]] = []
    for path in files:
        try:
            steps = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(path, f"line {exc.lineno}", "", f"invalid JSON ({exc.msg})") from None
        if not isinstance(steps, list):
            raise DataError(path, "", "", "expected a JSON list of steps")
        history: list[Event] = []
        for index, step in enumerate(steps):
            where = f"[{index}]"
            obs = step.get("observation") if isinstance(step, dict) else None
            if not isinstance(obs, dict) or "event" not in obs or "time" not in obs:
                raise DataError(path, where, "observation", "missing; expected {time, event}")
            history.append(Event(time=str(obs["time"]), text=str(obs["event"])))
            out.append((path.stem, index, (list(history), _task_of(step.get("agent_response"), path, where))))
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
