"""A run folder on disk: append-only per-event records, the manifest, prediction files.

Layout of RUN_DIR:

    run.json                 manifest (agent, model, judge, data hash, code version,
                             settings, sessions, timings, token counts)
    records/<trace>.jsonl    one line per finished event, appended, flushed and fsynced
    predictions/<trace>.json the authors' released trace format, rewritten atomically

The records are the source of truth and survive `kill -9` at any instant: a line is
either complete (it parses) or it is the torn tail of the last write, which is cut off
on the next start. Events are appended strictly in order, so "finished" is simply the
number of good lines, and a resumed run can neither repeat nor skip one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from proactive.errors import DataError
from proactive.fileio import DurableLog, write_atomic
from proactive.models.base import Usage
from proactive.types import Judgement, Proposal, Trace

RECORDS = "records"
PREDICTIONS = "predictions"
MANIFEST = "run.json"
#: The authors' released files spell this key without the second "r"; we keep their key
#: so their scripts read our files, and accept both spellings when reading.
OTHER_INFO = "other_infomation"


class EventRecord(BaseModel):
    """What the runner stored for one finished event."""

    index: int = Field(description="0-based position of the event in its trace.")
    time: str = Field(description="The event's time as written in the trace.")
    event: str = Field(description="The event sentence.")
    proposal: Proposal = Field(description="The agent's answer after this event.")
    judgement: Judgement | None = Field(default=None, description="The judge's verdict, if a judge ran.")
    usage: Usage | None = Field(default=None, description="Tokens the agent's model used, if any.")
    cached: bool = Field(default=False, description="True when the agent's answer came from the response cache.")
    invalid: bool = Field(
        default=False, description="True when the agent's answer failed its schema after the repair retry."
    )
    invalid_reason: str = Field(default="", description="The validation problem of an invalid answer.")
    agent_seconds: float = Field(default=0.0, description="Seconds the agent took.")
    judge_seconds: float = Field(default=0.0, description="Seconds the judge took.")
    session: int = Field(default=0, description="Which start of the run produced this record.")
    at: float = Field(default=0.0, description="Unix time when the record was written.")


class RecordLog:
    """The append-only record file of one trace (a `DurableLog` of `EventRecord` lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log = DurableLog(path)

    def load(self) -> list[EventRecord]:
        """Finished records in order; a torn last line (killed mid-write) is cut off the file."""
        return self._log.load(self._parse)

    def _parse(self, line: bytes, index: int) -> EventRecord:
        where = f"record {index}"
        try:
            record = EventRecord.model_validate_json(line)
        except ValidationError:
            raise DataError(self.path, where, "", "corrupt record line; delete the run folder") from None
        if record.index != index:
            raise DataError(self.path, where, "index", f"expected {index}, got {record.index}")
        return record

    def append(self, record: EventRecord) -> None:
        """Append one record and make it durable before returning."""
        self._log.append(record.model_dump_json())


def released_step(record: EventRecord) -> dict[str, Any]:
    """One step in the authors' released trace format (as their judge script leaves it)."""
    proposal = record.proposal
    step: dict[str, Any] = {
        "observation": {"time": record.time, "event": record.event},
        # Their judged files hold [None] for silence and [task] for a proposal.
        "agent_response": [None if proposal.is_silence else proposal.task],
        OTHER_INFO: {
            "Purpose": proposal.purpose,
            "Thoughts": proposal.thoughts,
            "Response": proposal.message,
            **({"GateProbability": proposal.gate_probability} if proposal.gate_probability is not None else {}),
            **({"InvalidAnswer": record.invalid_reason or True} if record.invalid else {}),
        },
    }
    if record.judgement is not None:
        step["judgement"] = [record.judgement.accepted]
        step["judge_reason"] = [record.judgement.reason]
    return step


class RunFolder:
    """Paths and files of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def log(self, trace_id: str) -> RecordLog:
        return RecordLog(self.root / RECORDS / f"{trace_id}.jsonl")

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}"
            raise DataError(self.manifest_path, where, "", "invalid JSON; delete the run folder") from None
        if not isinstance(data, dict):
            raise DataError(self.manifest_path, "", "", "expected a JSON object")
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["written_at"] = time.time()
        write_atomic(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")

    def write_predictions(self, trace: Trace, records: list[EventRecord]) -> Path:
        path = self.root / PREDICTIONS / f"{trace.id}.json"
        steps = [released_step(r) for r in records]
        # Derived from the records (rewritten on every start), so no fsync per event.
        write_atomic(path, json.dumps(steps, indent=2, ensure_ascii=False) + "\n", durable=False)
        return path
