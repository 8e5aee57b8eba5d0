"""Tiny fine-tuning datasets written by the training tests (the format `proactive train build` writes).

Use it with `from fitdata import write_dataset`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEM = "You watch the user's screen and offer one helpful task, or stay silent."
TRACES = ["2024-01-01 09:00|opened report", "2024-01-02 10:00|edited slides"]


def sft_rows(count: int = 6, target: str = '{"task": "Summarise report{i}.txt"}') -> list[dict[str, Any]]:
    """Rows of {"messages": [system, user, (assistant, user)..., assistant target]}."""
    rows: list[dict[str, Any]] = []
    for i in range(count):
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"The user opened report{i}.txt."},
        ]
        if i % 2:  # some rows carry an earlier answer, which must not be trained on
            messages += [
                {"role": "assistant", "content": "EARLIER ANSWER"},
                {"role": "user", "content": f"The user scrolled report{i}.txt."},
            ]
        messages.append({"role": "assistant", "content": target.replace("{i}", str(i))})
        rows.append({"messages": messages})
    return rows


def write_dataset(folder: Path, target: str = '{"task": "Summarise report{i}.txt"}', count: int = 6) -> Path:
    """sft.jsonl, kto.jsonl (half desirable) and manifest.json with two trace keys."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = sft_rows(count, target)
    (folder / "sft.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    kto = [
        {"prompt": row["messages"][:-1], "completion": row["messages"][-1:], "label": index % 2 == 0}
        for index, row in enumerate(rows)
    ]
    (folder / "kto.jsonl").write_text("".join(json.dumps(row) + "\n" for row in kto))
    (folder / "manifest.json").write_text(json.dumps({"training_traces": TRACES}))
    return folder
