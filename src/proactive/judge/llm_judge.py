"""The `llm` judge: a chat model reads the recent events and the offer and says accept or not.

Two ways to ask, same prompt files (`prompts/judge_system.j2`, `prompts/judge_user.j2`):

- ``mode="logprob"`` (default): the model answers yes/no and the score is read from the
  first token's log-probabilities (`ChatModel.choice_probabilities`); one short call.
- ``mode="json"``: grammar-constrained JSON {thought, accepted}; the reason is the
  model's thought, and the score is also read from log-probabilities when the backend
  can (so the two calls agree on the same prompt apart from the answer format).

Optional few-shot: with ``examples=<reward-row file>``, the judge retrieves the most
similar annotated rows (MiniLM on latest event + offer), always from other traces than
the judged one, half accepted and half rejected, so the examples cannot leak the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from proactive.data.labels import row_trace_key, trace_key_of_events
from proactive.errors import UserError
from proactive.models.base import ChatModel, Message, get_model
from proactive.prompts import render
from proactive.types import AnnotatedRow, Event, Judgement, Proposal

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
#: Latest events shown to the model (older ones are counted, not shown: prompt cost).
SHOWN_EVENTS = 8
SILENCE_TEXT = "(the assistant stays silent and offers nothing)"


class Verdict(BaseModel):
    """The JSON the model writes in json mode."""

    thought: str = Field(description="One or two sentences of reasoning.", max_length=300)
    accepted: bool = Field(description="Would the person accept the offer (or the silence)?")


class ExampleBank:
    """Annotated rows to retrieve few-shot examples from, by similarity of (latest event, offer)."""

    def __init__(self, rows: Sequence[AnnotatedRow]) -> None:
        from proactive.models.embeddings import embed

        self.rows = list(rows)
        self.keys = np.asarray([row_trace_key(r) for r in self.rows], dtype=object)
        self.vectors = embed([self._text(r.history, r.task) for r in self.rows])

    @staticmethod
    def _text(history: Sequence[Event], task: str | None) -> str:
        return f"{history[-1].text} || {task or 'silence'}"

    def nearest(self, history: Sequence[Event], task: str | None, k: int) -> list[AnnotatedRow]:
        """Up to k rows of the same kind (task/silence) from other traces, balanced accepted/rejected."""
        from proactive.models.embeddings import embed

        query = embed([self._text(history, task)])[0]
        same_kind = np.asarray([(r.task is None) == (task is None) for r in self.rows])
        allowed = (self.keys != trace_key_of_events(history)) & same_kind
        order = [i for i in np.argsort(-(self.vectors @ query)) if allowed[i]]
        picked: list[AnnotatedRow] = []
        for want in (True, False):
            picked += [self.rows[i] for i in order if self.rows[i].valid == want][: (k + 1) // 2 if want else k // 2]
        return picked


class LLMJudge:
    """Judge protocol over any `ChatModel`."""

    name = "llm"

    def __init__(
        self,
        model: ChatModel,
        mode: Literal["logprob", "json"] = "logprob",
        bank: ExampleBank | None = None,
        shots: int = 4,
        threshold: float = 0.5,
    ) -> None:
        self.model, self.mode, self.bank, self.shots, self.threshold = model, mode, bank, shots, threshold
        #: Where the few-shot examples come from (for the provenance line), when there is a bank.
        self.examples_source: str | None = None
        # Examples always come from other traces than the judged row's, so nothing the
        # judge reads overlaps the scored trace: no rows count as overlapping.
        self.training_traces: set[str] = set()

    @property
    def spec(self) -> str:
        """What this judge is: the model spec (e.g. 'replay/<file>' for recorded answers) and how it asks."""
        shots = (
            f"{self.shots}-shot from other traces of {self.examples_source or 'an example bank'}"
            if self.bank is not None and self.shots
            else "zero-shot"
        )
        model = getattr(self.model, "spec", type(self.model).__name__)
        return f"llm judge on {model} ({self.mode} mode, {shots}, threshold {self.threshold:g})"

    @property
    def provenance(self) -> str:
        """One line for reports: the model, and that nothing was trained on the scored traces."""
        return f"{self.spec}: not trained on annotated rows; examples never come from the judged trace"

    def messages(self, history: Sequence[Event], task: str | None, answer_format: str) -> list[Message]:
        """The rendered system and user messages for one judgement."""
        examples = []
        if self.bank is not None and self.shots:
            for row in self.bank.nearest(history, task, self.shots):
                examples.append(
                    {
                        "events": [e.text for e in row.history[-3:]],
                        "offer": row.task or SILENCE_TEXT,
                        "accepted": row.valid,
                    }
                )
        shown = history[-SHOWN_EVENTS:]
        system = render("judge_system.j2", answer_format=answer_format)
        user = render(
            "judge_user.j2",
            examples=examples,
            events=[e.text for e in shown],
            omitted=len(history) - len(shown),
            offer=task or SILENCE_TEXT,
            answer_format=answer_format,
        )
        return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]

    async def _probability(self, history: Sequence[Event], task: str | None) -> float:
        probs = await self.model.choice_probabilities(self.messages(history, task, "yes_no"), ["yes", "no"])
        return float(probs.get("yes", 0.0))

    async def __call__(self, history: Sequence[Event], proposal: Proposal) -> Judgement:
        if not history:
            raise UserError("llm judge: the history is empty; it needs at least the latest event")
        task = None if proposal.is_silence else proposal.task
        if self.mode == "logprob":
            score = await self._probability(history, task)
            return Judgement(accepted=score >= self.threshold, score=score, reason=f"P(yes) = {score:.2f}")
        result = await self.model.generate(self.messages(history, task, "json"), schema=Verdict, max_tokens=200)
        verdict: Verdict = result.parsed
        try:
            score = await self._probability(history, task)
        except (NotImplementedError, UserError):
            score = 1.0 if verdict.accepted else 0.0
        return Judgement(accepted=verdict.accepted, score=score, reason=verdict.thought)


def create(
    model: str | ChatModel = DEFAULT_MODEL,
    mode: Literal["logprob", "json"] = "logprob",
    examples: str | Path | None = None,
    shots: int = 4,
    threshold: float = 0.5,
    **model_options: Any,
) -> LLMJudge:
    """Build the llm judge; `model` is a "provider/model" spec (default: embedded Qwen 1.5B)."""
    from proactive.data.loaders import load_reward_rows

    chat = get_model(model, **model_options) if isinstance(model, str) else model
    bank = ExampleBank(load_reward_rows(Path(examples))) if examples else None
    judge = LLMJudge(chat, mode=mode, bank=bank, shots=shots, threshold=threshold)
    judge.examples_source = str(examples) if examples else None
    return judge
