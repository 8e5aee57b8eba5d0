"""`assist export --format kto`: each row is the offer writer's own prompt at that moment and its JSON answer.

The store is filled by the real AssistLoop (real store, consent, dry-run tools, terminal answers);
the agent is the real `always` baseline, wrapped so the test keeps the very Observation the loop
handed it at each event: the export must rebuild exactly that moment from the log alone.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proactive.agent.base import AgentStep, get_agent
from proactive.agent.writer import WriterOffer, writer_messages
from proactive.assist.attention import Attention
from proactive.assist.consent import Consent
from proactive.assist.loop import AssistLoop, Moment, TerminalPresenter
from proactive.assist.store import AssistStore
from proactive.assist.tools import ToolBox
from proactive.cli.main import app
from proactive.types import Event, Observation

START = 1_717_400_000.0
TEXTS = [
    "VS Code: billing/models.py, added an Invoice model with a due_date field",
    "Terminal: python manage.py migrate",
    "Terminal: OperationalError: no such table: billing_invoice",
    "Firefox: searching 'django no such table after migrate'",
    "Terminal: python manage.py makemigrations billing",
    "Terminal: python manage.py migrate again, OperationalError: no such table",
    "Firefox: reading Django docs on migrations",
    "VS Code: billing/admin.py, registering Invoice",
]
#: One answer per shown offer: accepted and dismissed ones become rows, ignored ones stay out of the log.
ANSWERS = ["accept", "dismiss", "ignore", "dismiss", "accept", "ignore", "accept", "dismiss"]


class Recording:
    """The real `always` agent, keeping each Observation it was given."""

    name = "always"

    def __init__(self) -> None:
        self.inner = get_agent("always")
        self.seen: list[Observation] = []

    async def __call__(self, observation: Observation) -> AgentStep:
        self.seen.append(observation.model_copy(deep=True))
        return await self.inner(observation)


def _fill(tmp_path: Path, max_history: int) -> tuple[Recording, list[str | None]]:
    agent = Recording()
    answers: list[str | None] = []
    with AssistStore() as store:
        loop = AssistLoop(agent, store, Consent(), ToolBox(tmp_path / "drafts", None, dry_run=True),
                          TerminalPresenter(ANSWERS, echo=lambda _: None), attention=Attention(max_per_hour=60),
                          repeat_minutes=0.0, max_history=max_history)  # fmt: skip
        for i, text in enumerate(TEXTS):
            step = asyncio.run(loop.step(Moment(event=Event(time=str(START + 60 * i), text=text), now=START + 60 * i)))
            answers.append(step.answer)
    assert all(a is not None for a in answers), "every offer was shown (nothing held back)"
    return agent, answers


def _export(tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    out = tmp_path / "kto.jsonl"
    result = CliRunner().invoke(app, ["assist", "export", "--format", "kto", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _check(rows: list[dict], agent: Recording, answers: list[str | None]) -> None:  # type: ignore[type-arg]
    answered = [i for i, a in enumerate(answers) if a in ("accepted", "dismissed")]
    assert len(rows) == len(answered)  # ignored ones are skipped
    for row, index in zip(rows, answered, strict=True):
        expected = writer_messages(agent.seen[index])
        # Byte for byte, as JSON would carry it.
        assert json.dumps(row["prompt"], ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]  # no silence (or any assistant) turn
        assert row["label"] is (answers[index] == "accepted")
        completion = row["completion"]
        assert len(completion) == 1 and completion[0]["role"] == "assistant"
        assert json.loads(completion[0]["content"]) == {"task": WriterOffer.model_validate_json(
            completion[0]["content"]).task}  # fmt: skip
        assert completion[0]["content"].startswith('{"task": "')


def test_kto_rows_are_the_writers_prompt_at_that_moment(tmp_path: Path, state_home: Path) -> None:
    agent, answers = _fill(tmp_path, max_history=200)
    rows = _export(tmp_path)
    _check(rows, agent, answers)
    # The earlier answered offers are in the log the writer read (the last row sees them all); ignored ones not.
    last = rows[-1]["prompt"][1]["content"]
    assert "(they accepted it)" in last and "(they dismissed it)" in last and "(no answer)" not in last


def test_kto_rows_follow_the_loops_history_window(tmp_path: Path, state_home: Path) -> None:
    """With a window shorter than the session, the oldest events (and offers) drop out as they did for the agent."""
    agent, answers = _fill(tmp_path, max_history=3)
    assert len(agent.seen[-1].history) == 3
    _check(_export(tmp_path), agent, answers)


def test_train_build_refuses_writer_rows_and_reads_the_llm_format(tmp_path: Path, state_home: Path) -> None:
    """Writer rows fed to `train build --kto-rows` would be re-dressed as the llm agent's: refused in one line."""
    from proactive.errors import DataError
    from proactive.train.build import read_kto_rows

    _fill(tmp_path, max_history=200)
    _export(tmp_path)
    with pytest.raises(DataError, match="kto-llm"):
        read_kto_rows(tmp_path / "kto.jsonl")
    out = tmp_path / "kto-llm.jsonl"
    result = CliRunner().invoke(app, ["assist", "export", "--format", "kto-llm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_kto_rows(out)
