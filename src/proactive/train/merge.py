"""`proactive train merge`: fold a LoRA adapter into its base and save a plain HF model folder.

The folder (safetensors, tokenizer with its chat template, training.json) is what
`hf/<dir>` loads and what `train export-gguf` converts.
"""

from __future__ import annotations

from pathlib import Path

from proactive.errors import UserError
from proactive.models import hf_load as base_model
from proactive.provenance import now_utc as now
from proactive.train.record import read_record, write_record


def merge_adapter(base: str, adapter: Path, out: Path, threads: int | None = None) -> Path:
    """Merge `adapter` into `base`, save it to `out` with the tokenizer and the adapter's training.json."""
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: --out exists and is not empty; pass a new folder")
    record = read_record(adapter)  # before the slow part: no provenance, no merge
    base_model.set_cpu_threads(threads)
    model, tokenizer = base_model.load_with_adapter(base, adapter)
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    record.derived.append(f"merge {adapter} into {base} at {now()}")
    write_record(out, record)
    return out
