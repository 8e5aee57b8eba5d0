"""`proactive train kto`: LoRA preference tuning with TRL's KTOTrainer on unpaired kto.jsonl rows.

With a peft model the reference model is the same network with the adapter switched
off, so no second copy of the base is loaded.
"""

from __future__ import annotations

from typing import Any

from proactive.errors import UserError, missing_extra
from proactive.train import fit_data
from proactive.train.finetune import (
    FitOptions,
    check_options,
    common_args,
    load_model_and_tokenizer,
    lora_config,
    train_and_save,
)
from proactive.train.record import TrainingRecord


def build_kto_trainer(options: FitOptions, rows: list[dict[str, Any]]) -> Any:
    try:
        from datasets import Dataset
        from trl import KTOConfig, KTOTrainer
    except ImportError:
        raise missing_extra("trl", "train") from None
    model, tokenizer = load_model_and_tokenizer(options)
    config = KTOConfig(**common_args(options), beta=options.beta)
    return KTOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(options.lora),
    )


def run_kto(options: FitOptions) -> TrainingRecord:
    """Check inputs, train LoRA with KTO on kto.jsonl, save OUT/adapter + training.json."""
    if options.batch_size < 2:
        # KTO's KL term is estimated from mismatched pairs inside a batch; one row gives none.
        raise UserError("--batch-size: KTO needs at least 2 rows per batch; pass --batch-size 2 or more")
    traces = check_options(options)
    rows = [row for folder in options.data for row in fit_data.read_kto(folder)]
    labels = {row["label"] for row in rows}
    if len(rows) < options.batch_size:
        raise UserError(f"--data: only {len(rows)} kto rows, fewer than --batch-size {options.batch_size}")
    if labels != {True, False}:
        raise UserError(
            f"{options.data[0] / fit_data.KTO_FILE}: every row has label={labels.pop()}; "
            "KTO needs both desirable (true) and undesirable (false) completions"
        )
    trainer = build_kto_trainer(options, rows)
    return train_and_save(trainer, options, "kto", traces)
