"""The judge role: would the person accept this proposal (or this silence)?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from proactive.registry import Registry
from proactive.types import Event, Judgement, Proposal


@runtime_checkable
class Judge(Protocol):
    """An async callable: (history, proposal) -> judgement. Silence is a proposal with task None."""

    name: str

    async def __call__(self, history: Sequence[Event], proposal: Proposal) -> Judgement: ...


JUDGES = Registry("judge")
JUDGES.register("trained", "proactive.judge.trained:create")
JUDGES.register("trained-loto", "proactive.judge.trained:create_loto")
JUDGES.register("llm", "proactive.judge.llm_judge:create")
JUDGES.register("human-labels", "proactive.judge.human_labels:create")


def get_judge(name: str, **options: object) -> Judge:
    """Build a judge by registered name (a folder path loads a trained artifact)."""
    from pathlib import Path

    if Path(name).is_dir():
        judge: Judge = JUDGES.factory("trained")(artifact=Path(name), **options)
        return judge
    judge = JUDGES.factory(name)(**options)
    return judge
