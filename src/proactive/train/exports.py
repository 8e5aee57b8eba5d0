"""The files of a built data set: TRL JSONL, LLaMA-Factory sharegpt, per-example metadata, card, manifest.

- `sft.jsonl`: TRL conversational format, each row `{"messages": [...]}` only;
- `kto.jsonl`: TRL unpaired preference format, `{"prompt": [...], "completion": [...], "label": bool}`;
- `sharegpt.json` + `dataset_info.json`: LLaMA-Factory's sharegpt format (`conversations`
  with `from` human/gpt, the system prompt in its own column) and the entry that names it;
- `examples.meta.jsonl`: per SFT example its source, trace, event, attempts and judge reason;
- `README.md`: the dataset card; `manifest.json`: `DatasetManifest`.
Every file is written atomically.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from proactive.fileio import write_atomic
from proactive.train.conversation import KtoRow, SftExample
from proactive.train.manifest import DatasetManifest, save_dataset_manifest

SFT_FILE = "sft.jsonl"
KTO_FILE = "kto.jsonl"
SHAREGPT_FILE = "sharegpt.json"
DATASET_INFO_FILE = "dataset_info.json"
META_FILE = "examples.meta.jsonl"
CARD_FILE = "README.md"
SHAREGPT_NAME = "proactive_sft"
_SHAREGPT_ROLE = {"user": "human", "assistant": "gpt"}


def _jsonl(rows: Sequence[object]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def sharegpt_row(example: SftExample) -> dict[str, object]:
    """One LLaMA-Factory sharegpt row: the system prompt apart, then human/gpt turns."""
    system = "".join(m["content"] for m in example.messages if m["role"] == "system")
    turns = [
        {"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in example.messages if m["role"] != "system"
    ]
    return {"conversations": turns, "system": system}


def dataset_info() -> dict[str, object]:
    """LLaMA-Factory's `dataset_info.json` entry for `sharegpt.json`."""
    return {
        SHAREGPT_NAME: {
            "file_name": SHAREGPT_FILE,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
    }


def example_meta(example: SftExample) -> dict[str, object]:
    return example.model_dump(exclude={"messages"}) | {"turns": len(example.messages)}


def write_exports(
    out: Path, examples: Sequence[SftExample], kto: Sequence[KtoRow], manifest: DatasetManifest, notes: Sequence[str]
) -> None:
    """Write every file of the data set (the manifest last: its presence means the set is whole)."""
    write_atomic(out / SFT_FILE, _jsonl([{"messages": e.messages} for e in examples]))
    write_atomic(out / KTO_FILE, _jsonl([row.export() for row in kto]))
    write_atomic(out / SHAREGPT_FILE, json.dumps([sharegpt_row(e) for e in examples], ensure_ascii=False, indent=1))
    write_atomic(out / DATASET_INFO_FILE, json.dumps(dataset_info(), indent=2) + "\n")
    write_atomic(out / META_FILE, _jsonl([example_meta(e) for e in examples]))
    write_atomic(out / CARD_FILE, card(examples, kto, manifest, notes))
    save_dataset_manifest(out, manifest)


def _is_silence_target(example: SftExample) -> bool:
    try:
        return json.loads(example.messages[-1]["content"]).get("task") is None
    except (json.JSONDecodeError, AttributeError):
        return False


def _share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if whole else "0"


def card(examples: Sequence[SftExample], kto: Sequence[KtoRow], manifest: DatasetManifest, notes: Sequence[str]) -> str:
    """The dataset card: counts per source, silence share, drops and why, judge, filters, trace keys."""
    by_source = Counter(e.source for e in examples)
    silent = sum(_is_silence_target(e) for e in examples)
    kto_by = Counter((row.source, row.label) for row in kto)
    lines = [
        "# proactive agent SFT + KTO data",
        "",
        f"Built {manifest.created} by proactive {manifest.code_version}. Teacher: {manifest.teacher or 'none'}.",
        f"Judge: {manifest.judge or 'none'}.",
        "",
        "## Counts",
        "",
        f"- SFT examples: {len(examples)} ("
        + ", ".join(f"{src}: {n}" for src, n in sorted(by_source.items()))
        + f"); silence targets {_share(silent, len(examples))}, "
        + f"task targets {_share(len(examples) - silent, len(examples))}",
        f"- KTO rows: {len(kto)} ("
        + ", ".join(f"{src} {'accepted' if ok else 'rejected'}: {n}" for (src, ok), n in sorted(kto_by.items()))
        + ")",
    ]
    lines += [f"- {name}: {value}" for name, value in manifest.counts.items()]
    lines += ["", "## Filters and drops", "", *[f"- {note}" for note in notes]]
    lines += ["", "## Sources", ""]
    lines += [f"- {s.kind}: `{s.path}` (sha256 {s.sha256[:16]})" for s in manifest.sources]
    lines += ["", f"## Trace keys used ({len(manifest.trace_keys)})", ""]
    lines += [f"- `{key}`" for key in manifest.trace_keys]
    lines += ["", f"## Traces the judge was fitted on ({len(manifest.judge_training_traces)})", ""]
    lines += [f"- `{key}`" for key in manifest.judge_training_traces]
    lines += [
        "",
        "A model fitted on this data has effectively seen every trace listed above (`training_traces` in "
        "manifest.json); the bench refuses to score it on them without --allow-seen.",
        "",
    ]
    return "\n".join(lines)
