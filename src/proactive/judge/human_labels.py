"""The `human-labels` judge: the annotators' own verdicts on ProactiveBench test events.

It is the reference judge of `proactive bench`: it knows only the 233 test events
(matched by trace identity and last event) and judges them from the human labels:

- silence is accepted iff the annotators said no help was needed;
- a task is accepted iff help was needed and the task is nearer (MiniLM cosine) to a
  candidate the annotators accepted than to any they rejected.

It is not trained on anything; it *is* the annotations of these traces, so it can only
score those traces, and any other history is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from proactive.errors import UserError
from proactive.judge.content import ContentVerdict, LabelBook, content_verdict
from proactive.settings import data_dir
from proactive.types import Event, EventLabel, Judgement, Proposal


class HumanLabelsJudge:
    """Judge from the human annotations of the test traces (see the module docstring)."""

    name = "human-labels"
    #: One line for reports: what the judge learned from, and whether it saw the scored traces.
    provenance = "the annotators' labels of the test events themselves (reference, not trained)"

    def __init__(self, book: LabelBook) -> None:
        self.book = book
        # The embedding cache shares one SQLite connection: one encode at a time.
        self._lock = threading.Lock()

    def _verdict(self, task: str, label: EventLabel) -> ContentVerdict | None:
        with self._lock:
            return content_verdict(task, label)

    async def __call__(self, history: Sequence[Event], proposal: Proposal) -> Judgement:
        if not history:
            raise UserError("human-labels judge: empty history; it judges the last event of a test trace")
        label = self.book.for_history(history)
        if label is None:
            raise UserError(
                f"human-labels judge: event '{history[-1].text[:60]}' is not a labelled ProactiveBench "
                "test event; use --judge trained or --judge llm for other traces"
            )
        if proposal.is_silence:
            accepted = not label.help_needed
            reason = "no help was needed" if accepted else "help was needed here"
            return Judgement(accepted=accepted, reason=f"silence: {reason}", score=float(accepted))
        if not label.help_needed:
            return Judgement(accepted=False, reason="task offered where no help was needed", score=0.0)
        verdict = await asyncio.to_thread(self._verdict, proposal.task or "", label)
        if verdict is None:
            return Judgement(accepted=False, reason="help was needed but no candidate was annotated", score=0.5)
        reason = (
            f"nearest accepted candidate {verdict.similarity_accepted:.2f} vs "
            f"rejected {verdict.similarity_rejected:.2f}"
        )
        return Judgement(accepted=verdict.nearest_accepted, reason=reason, score=float(verdict.nearest_accepted))


def create(data: str | Path | None = None, **_: object) -> HumanLabelsJudge:
    """Build the judge from the ProactiveBench folder (`--data` / $PROACTIVEBENCH_DIR)."""
    return HumanLabelsJudge(LabelBook.load(data_dir(data)))
