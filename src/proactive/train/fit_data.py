"""Read the fine-tuning files of dataset folders (sft.jsonl, kto.jsonl, manifest.json), checked row by row.

A bad row is one line naming the file, the line and the field, before any model loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proactive.errors import DataError, UserError
from proactive.fileio import read_jsonl

SFT_FILE = "sft.jsonl"
KTO_FILE = "kto.jsonl"
MANIFEST_FILE = "manifest.json"
ROLES = ("system", "user", "assistant")


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise UserError(f"{path}: not found; build the dataset with `proactive train build --out {path.parent}`")
    rows = []
    for where, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(path, where, "", "expected a JSON object per line")
        rows.append((int(where.removeprefix("line ")), row))
    if not rows:
        raise DataError(path, "", "", "no rows; build the dataset again with more traces or annotations")
    return rows


def _messages(path: Path, number: int, field: str, value: Any) -> list[dict[str, str]]:
    where = f"line {number}"
    if not isinstance(value, list) or not value:
        raise DataError(path, where, field, "expected a non-empty list of {role, content} messages")
    out = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(path, where, f"{field}[{index}].role", f"expected one of {list(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise DataError(path, where, f"{field}[{index}].content", "expected a string")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def read_sft(folder: Path) -> list[dict[str, Any]]:
    """Rows as TRL prompt/completion conversations: prompt = all turns but the last, completion = the last.

    Prompt/completion rows make TRL compute the loss on the completion only, which works for
    chat templates without generation markers (Qwen, SmolLM) where `assistant_only_loss` does not.
    """
    path = folder / SFT_FILE
    rows = []
    for number, row in _rows(path):
        messages = _messages(path, number, "messages", row.get("messages"))
        if messages[-1]["role"] != "assistant" or len(messages) < 2:
            raise DataError(path, f"line {number}", "messages", "the last message must be the assistant's target")
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return rows


def read_kto(folder: Path) -> list[dict[str, Any]]:
    """Unpaired preference rows {prompt, completion, label} as TRL's KTOTrainer reads them."""
    path = folder / KTO_FILE
    rows = []
    for number, row in _rows(path):
        prompt = _messages(path, number, "prompt", row.get("prompt"))
        completion = _messages(path, number, "completion", row.get("completion"))
        if completion[-1]["role"] != "assistant":
            raise DataError(path, f"line {number}", "completion", "expected an assistant message")
        if not isinstance(row.get("label"), bool):
            raise DataError(path, f"line {number}", "label", "expected true (desirable) or false (undesirable)")
        rows.append({"prompt": prompt, "completion": completion, "label": row["label"]})
    return rows


def training_traces(folders: Sequence[Path]) -> list[str]:
    """Union of the trace keys the datasets' manifests say they touched (the bench refuses scored ones)."""
    keys: set[str] = set()
    for folder in folders:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise UserError(f"{path}: not found; every training dataset needs the manifest its builder writes")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(path, "", "", f"not JSON ({exc.msg}); rebuild the dataset") from None
        traces = manifest.get("training_traces") if isinstance(manifest, dict) else None
        if not isinstance(traces, list) or not all(isinstance(key, str) for key in traces):
            raise DataError(path, "", "training_traces", "expected a list of trace keys; rebuild the dataset")
        keys.update(traces)
    return sorted(keys)
