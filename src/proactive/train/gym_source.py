"""Agent SFT targets from gym traces: the teacher answers each event, the judge filters.

Per event the teacher (the `llm` agent's model, same system prompt and conversation)
answers; the judge judges (history, proposal). A rejected answer is regenerated with the
judge's reason as feedback (one extra user turn, used only for the regeneration) up to
`max_retries` times, else the event is dropped: the paper's reward-model filter. Every
judged answer is also a KTO row.

Resumable: each trace's results go to `work/gym/<trace file>.jsonl`, one line per event,
flushed and fsync'ed as soon as the event is done; a re-run replays those lines and
goes on at the first event without one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from proactive.agent.llm_agent import AgentAnswer, LLMAgent
from proactive.data.labels import trace_key_of_events
from proactive.errors import DataError
from proactive.fileio import DurableLog
from proactive.gym.state import TraceLine
from proactive.judge.base import Judge
from proactive.models.base import Message
from proactive.models.structured import ModelOutputError
from proactive.prompts import render
from proactive.train.conversation import KtoRow, SftExample, plain, prompt_messages, silence_answer
from proactive.types import Event, Proposal, is_silence

FEEDBACK_TEMPLATE = "train_feedback.j2"
#: Trace line kinds and sources that are events the agent observes (see docs/gym.md).
OBSERVED_SOURCES = ("environment", "agent")


class GymTrace(BaseModel):
    """The events of one gym trace file, as the agent observed them."""

    path: str = Field(description="The trace file.")
    events: list[Event] = Field(description="Observed events in file order.")

    @property
    def key(self) -> str:
        return trace_key_of_events(self.events)


class Attempt(BaseModel):
    """One teacher answer and its verdict (accepted None: the answer was invalid, not judged)."""

    text: str = Field(description="The raw answer text the teacher wrote.")
    task: str | None = Field(default=None, description="The proposed task; None is silence.")
    accepted: bool | None = Field(description="The judge's verdict; None for an invalid answer.")
    reason: str = Field(default="", description="The judge's reason, or the schema problem.")


class EventRecord(BaseModel):
    """The outcome of one event of a gym trace (one line of the work file)."""

    event_index: int = Field(description="0-based index of the event.")
    attempts: list[Attempt] = Field(description="Teacher answers in order; the last one accepted when kept.")

    @property
    def kept(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].accepted is True

    @property
    def context_answer(self) -> str:
        """The assistant turn later events see for this event.

        The accepted answer when kept. For a dropped event the teacher's last valid answer:
        at bench time the agent's conversation holds whatever it said itself, so later
        targets must be learnt after a real answer, not after an invented one; and a turn
        must be there, or the user/assistant alternation breaks. Silence when every answer
        was invalid, as the `llm` agent records an invalid answer.
        """
        valid = [a for a in self.attempts if a.accepted is not None]
        return valid[-1].text if valid else silence_answer()


def trace_files(folder: Path) -> list[Path]:
    """The scene trace files of a `gym run` output folder, in name order."""
    if not folder.is_dir():
        raise DataError(folder, "", "", "not a folder; pass the --out folder of `proactive gym run` to --traces")
    files = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    if not files:
        raise DataError(folder, "", "", "no <scene>.jsonl trace files; pass the --out folder of `proactive gym run`")
    return files


def read_gym_trace(path: Path) -> GymTrace:
    """The observed events of a trace file; a torn last line (a run in progress) is left out."""
    data = path.read_text(encoding="utf-8")
    lines = data.split("\n")
    events: list[Event] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = TraceLine.model_validate_json(raw)
        except ValidationError as exc:
            if number == len(lines):  # no newline after it: torn by a stopped run
                break
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "(line)"
            raise DataError(path, f"line {number}", field, "not a gym trace line; pass a `gym run` folder") from None
        if line.kind == "event" and line.source in OBSERVED_SOURCES:
            events.append(Event(time=line.time, text=line.text, source=line.source))
    return GymTrace(path=str(path), events=events)


def read_records(path: Path) -> list[EventRecord]:
    """The finished events of a work file, in order (a torn last line is cut off, to be redone)."""

    def parse(line: bytes, index: int) -> EventRecord:
        where = f"line {index + 1}"
        try:
            record = EventRecord.model_validate_json(line)
        except ValidationError:
            raise DataError(path, where, "", "damaged work file; delete it to redo this trace") from None
        if record.event_index != index:
            raise DataError(path, where, "event_index", "out of order; delete the file to redo this trace")
        return record

    return DurableLog(path).load(parse)


class GymTargets:
    """Writes judge-accepted teacher answers for the events of gym traces."""

    def __init__(self, agent: LLMAgent, judge: Judge, max_retries: int, work: Path) -> None:
        self.agent, self.judge, self.max_retries, self.work = agent, judge, max_retries, work

    async def run_trace(self, trace: GymTrace, advance: Callable[[int], None]) -> list[EventRecord]:
        """Every event's record, reusing those already in the work file."""
        path = self.work / (Path(trace.path).stem + ".jsonl")
        records = read_records(path)[: len(trace.events)]
        advance(len(records))
        for index in range(len(records), len(trace.events)):
            answers = [r.context_answer for r in records]
            record = await self.run_event(trace.events[: index + 1], answers)
            DurableLog(path).append(record.model_dump_json())
            records.append(record)
            advance(1)
        return records

    async def run_event(self, history: list[Event], answers: list[str]) -> EventRecord:
        """Answer, judge, and regenerate with feedback until accepted or out of retries."""
        messages = prompt_messages(history, answers)
        attempts: list[Attempt] = []
        for _ in range(self.max_retries + 1):
            asked = messages if not attempts else self._with_feedback(messages, attempts[-1])
            attempt = await self._attempt(history, asked)
            attempts.append(attempt)
            if attempt.accepted:
                break
        return EventRecord(event_index=len(history) - 1, attempts=attempts)

    @staticmethod
    def _with_feedback(messages: list[Message], last: Attempt) -> list[Message]:
        feedback = render(FEEDBACK_TEMPLATE, reason=last.reason.rstrip(".") or "no reason given").strip()
        return [*messages, {"role": "assistant", "content": last.text}, {"role": "user", "content": feedback}]

    async def _attempt(self, history: list[Event], messages: list[Message]) -> Attempt:
        config = self.agent.config
        try:
            result = await self.agent.model.generate(
                messages, schema=AgentAnswer, temperature=config.temperature, max_tokens=config.max_tokens
            )
        except ModelOutputError as exc:
            return Attempt(text=exc.answer, accepted=None, reason=f"invalid answer: {exc.problem[:160]}")
        answer: AgentAnswer = result.parsed
        task = None if is_silence(answer.task) else (answer.task or "").strip()
        proposal = Proposal(task=task, purpose=answer.purpose, thoughts=answer.thoughts, message=answer.message)
        verdict = await self.judge(history, proposal)
        return Attempt(text=result.text.strip(), task=task, accepted=verdict.accepted, reason=verdict.reason)


def gym_outputs(trace: GymTrace, records: list[EventRecord]) -> tuple[list[SftExample], list[KtoRow]]:
    """SFT examples (kept events) and KTO rows (every judged answer) of one trace's records."""
    examples: list[SftExample] = []
    kto: list[KtoRow] = []
    key = trace.key
    for record in records:
        index = record.event_index
        prompt = prompt_messages(trace.events[: index + 1], [r.context_answer for r in records[:index]])
        for attempt in record.attempts:
            if attempt.accepted is None:
                continue
            completion = [{"role": "assistant", "content": attempt.text}]
            kto.append(KtoRow(prompt=plain(prompt), completion=completion, label=attempt.accepted,
                              source="gym", trace_key=key))  # fmt: skip
        if record.kept:
            last = record.attempts[-1]
            messages = [*plain(prompt), {"role": "assistant", "content": last.text}]
            examples.append(SftExample(messages=messages, source="gym", trace_key=key, event_index=index,
                                       attempts=len(record.attempts), reason=last.reason))  # fmt: skip
    return examples, kto


def records_summary(records: list[EventRecord]) -> dict[str, int]:
    """Counts for the card: events, kept, dropped, attempts, invalid answers, silences kept."""
    kept = [r for r in records if r.kept]
    return {
        "gym_events": len(records),
        "gym_kept": len(kept),
        "gym_dropped_rejected": len(records) - len(kept),
        "gym_attempts": sum(len(r.attempts) for r in records),
        "gym_invalid_answers": sum(1 for r in records for a in r.attempts if a.accepted is None),
        "gym_kept_after_retry": sum(1 for r in kept if len(r.attempts) > 1),
        "gym_kept_silence": sum(1 for r in kept if r.attempts[-1].task is None),
    }
