"""Agent SFT targets and KTO rows from human-annotated reward rows.

Rows are grouped into events by (trace, history length). After each event the target
is the valid (accepted) candidate with the most accepting annotators when help was
needed, silence when it was not; help needed with no valid candidate drops the event.
The decision is the annotators'; the words around it (purpose, thoughts, message) are
written by the teacher for that fixed decision when one is given, else left empty: a
model fitted on empty words learns the decision, not an explanation nobody wrote.

Test traces: rows of the 12 ProactiveBench test traces are excluded by default (a model
fitted on them must not be scored on them); the caller passes their keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field, ValidationError

from proactive.agent.llm_agent import AgentAnswer
from proactive.data.labels import group_rows_by_trace
from proactive.models.base import ChatModel, Message
from proactive.models.structured import ModelOutputError
from proactive.prompts import render
from proactive.train.conversation import KtoRow, SftExample, fixed_answer, plain, prompt_messages, silence_answer
from proactive.types import AnnotatedRow, is_silence

FILL_TEMPLATE = "train_fill.j2"
#: The longest task the agent's answer schema lets it write (grammar-capped at bench time).
TASK_CAP = next(m.max_length for m in AgentAnswer.model_fields["task"].metadata if hasattr(m, "max_length"))


class FillAnswer(BaseModel):
    """The teacher's words for a decision already made (same caps as the agent's answer)."""

    purpose: str = Field(max_length=60, description="What the person is trying to do.")
    thoughts: str = Field(max_length=80, description="Why help is or is not needed now, in one sentence.")
    message: str = Field(max_length=80, description="The one-line offer shown to the person, or ''.")


class RowEvent(BaseModel):
    """The annotated rows of one event and the decision taken from them."""

    trace_key: str
    index: int = Field(description="0-based event index (history length - 1).")
    rows: list[AnnotatedRow]
    help_needed: bool = Field(description="Majority of the event's rows (a tie counts as needed).")
    task: str | None = Field(default=None, description="The target task; None is silence.")
    dropped: bool = Field(default=False, description="Help needed but no valid candidate.")


def row_task(row: AnnotatedRow) -> str | None:
    return None if is_silence(row.task) else (row.task or "").strip()


def decide(trace_key: str, rows: Sequence[AnnotatedRow]) -> RowEvent:
    """The target of one event: most-accepted valid candidate, silence, or dropped."""
    needed = sum(r.help_needed for r in rows) * 2 >= len(rows)
    event = RowEvent(trace_key=trace_key, index=len(rows[0].history) - 1, rows=list(rows), help_needed=needed)
    if not needed:
        return event
    valid = [r for r in rows if r.valid and row_task(r) is not None]
    if not valid:
        return event.model_copy(update={"dropped": True})
    # Most accepting annotators first; among equals, one the agent can write (its task cap),
    # then file order (max keeps the first of equals).
    best = max(valid, key=lambda r: (sum(r.annotations), len(row_task(r) or "") <= TASK_CAP))
    return event.model_copy(update={"task": row_task(best)})


def row_events(rows: Sequence[AnnotatedRow]) -> list[RowEvent]:
    """Every annotated event, grouped by trace then ordered by position."""
    events: list[RowEvent] = []
    for key, trace_rows in group_rows_by_trace(rows).items():
        by_length: dict[int, list[AnnotatedRow]] = defaultdict(list)
        for row in trace_rows:
            by_length[len(row.history)].append(row)
        events += [decide(key, by_length[length]) for length in sorted(by_length)]
    return events


async def teacher_fill(model: ChatModel, prompt: list[Message], task: str | None) -> FillAnswer | None:
    """The teacher's words for the fixed decision; None when its answer stays invalid."""
    ask = render(FILL_TEMPLATE, task=task).strip()
    messages: list[Message] = [*prompt, {"role": "user", "content": ask}]
    try:
        result = await model.generate(messages, schema=FillAnswer, temperature=0.0, max_tokens=200)
        fill: FillAnswer = result.parsed
        # The words must fit the agent's own answer (the task is the annotators', checked apart).
        AgentAnswer(purpose=fill.purpose, thoughts=fill.thoughts, task=None, message=fill.message)
    except (ModelOutputError, ValidationError):
        return None
    return fill


async def rows_outputs(
    events: Sequence[RowEvent], model: ChatModel | None, advance: Callable[[int], None]
) -> tuple[list[SftExample], list[KtoRow], dict[str, int]]:
    """SFT examples (one per kept event) and KTO rows (one per row), with counts."""
    examples: list[SftExample] = []
    kto: list[KtoRow] = []
    counts = {"rows_events": len(events), "rows_kept": 0, "rows_dropped_no_valid_candidate": 0,
              "rows_kept_silence": 0, "rows_fill_failed": 0, "rows_task_over_agent_cap": 0}  # fmt: skip
    targets: dict[tuple[str, int], str] = {}
    for event in events:
        history = event.rows[0].history
        # Earlier turns are this trace's earlier targets; an event with none (not annotated
        # or dropped) reads as silence, the agent's default and what it says after an invalid answer.
        answers = [targets.get((event.trace_key, i), silence_answer()) for i in range(event.index)]
        messages = prompt_messages(history, answers)
        prompt = plain(messages)
        for row in event.rows:
            completion = [{"role": "assistant", "content": fixed_answer(row_task(row))}]
            kto.append(KtoRow(prompt=prompt, completion=completion, label=row.valid, source="rows",
                              trace_key=event.trace_key))  # fmt: skip
        advance(1)
        if event.dropped:
            counts["rows_dropped_no_valid_candidate"] += 1
            continue
        fill = await teacher_fill(model, messages, event.task) if model is not None else None
        if model is not None and fill is None:
            counts["rows_fill_failed"] += 1
        words = fill.model_dump() if fill is not None else {}
        target = fixed_answer(event.task, **words)
        targets[(event.trace_key, event.index)] = target
        examples.append(SftExample(messages=[*prompt, {"role": "assistant", "content": target}], source="rows",
                                   trace_key=event.trace_key, event_index=event.index))  # fmt: skip
        counts["rows_kept"] += 1
        counts["rows_kept_silence"] += event.task is None
        counts["rows_task_over_agent_cap"] += len(event.task or "") > TASK_CAP
    return examples, kto, counts
