"""Re-record tests/data/agent_invalid_smollm2.jsonl: real smollm2-135m answers that fail their schema.

Run from the repository root with the small model pulled:

    PROACTIVE_HOME=$(mktemp -d) .venv/bin/python tests/data/record_invalid_answers.py

Tight `max_tokens` caps make the real model's grammar-constrained JSON stop mid-string,
so answers fail validation even after the repair retry (the recorder keeps such failed
answers too, and replay fails them the same way). Three recordings, on trace code_11:

1. the `llm` agent's must-propose writer (annotate candidates), max_tokens 65, events 1-2: the
   first event's answers break before the task (the writer asks for the task alone), the
   second's after it (the writer keeps the task it completed). The cap is chosen so that both
   happen with the current agent_writer_system.j2 (at 60 both events broke before the task);
2. the writer with max_tokens 8, event 1: every try breaks, so the writer raises;
3. `bench run --agent llm --max-tokens 90 --limit 3`: the first answer is invalid (silence).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from typer.testing import CliRunner

from proactive.agent.base import AgentConfig, Observation
from proactive.agent.llm_agent import LLMAgent
from proactive.cli.main import app
from proactive.data.loaders import load_trace_file
from proactive.errors import UserError
from proactive.models.base import get_model
from proactive.models.cache import RECORD_ENV
from proactive.settings import data_dir
from proactive.types import Proposal

HERE = Path(__file__).resolve().parent
TARGET = HERE / "agent_invalid_smollm2.jsonl"
MODEL = "local/smollm2-135m"


def writer_steps(max_tokens: int, steps: int) -> None:
    """Run the must-propose writer on the first `steps` events of code_11 (answers are recorded)."""
    trace = load_trace_file(data_dir(None) / "test_data" / "code_11.json")
    agent = LLMAgent(AgentConfig(model=MODEL, max_tokens=max_tokens), get_model(MODEL, cache=False), must_propose=True)
    proposals: list[Proposal] = []
    for index in range(steps):
        observation = Observation(history=trace.events[: index + 1], previous=list(proposals))
        try:
            step = asyncio.run(agent(observation))
        except UserError as exc:
            print(f"max_tokens {max_tokens}, event {index}: {exc}")
            return
        proposals.append(step.proposal)
        print(f"max_tokens {max_tokens}, event {index}: invalid={step.invalid} task={step.proposal.task!r}")


def main() -> None:
    # The recorder writes only inside the state dir (raw prompts); the file is moved here after.
    from proactive.settings import state_dir

    scratch = state_dir() / "recordings" / TARGET.name
    scratch.unlink(missing_ok=True)
    os.environ[RECORD_ENV] = str(scratch)
    writer_steps(65, 2)
    writer_steps(8, 1)
    out = Path(os.environ.get("PROACTIVE_HOME", "/tmp")) / "record-llm-run"
    result = CliRunner().invoke(app, [
        "bench", "run", "--agent", "llm", "--model", MODEL, "--traces", "code_11", "--limit", "3",
        "--max-tokens", "90", "--out", str(out), "--no-baselines", "--no-report",
    ])  # fmt: skip
    print(result.output[-400:])
    shutil.move(scratch, TARGET)
    print(f"recorded {len(TARGET.read_text().splitlines())} exchanges in {TARGET}")


if __name__ == "__main__":
    main()
