"""LoRA fine-tuning with TRL: the options, the shared trainer plumbing, and SFT.

One code path for CPU and GPUs: device placement, DDP and bf16 autocast are the
Trainer's (accelerate's) job; here we only pick few CPU threads when there is no GPU.
Checkpoints go to OUT/checkpoints every `save_steps`; a second run with the same OUT
resumes from the last one (the step count, optimizer and scheduler continue).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console

from proactive.errors import UserError, missing_extra
from proactive.models import hf_load as base_model
from proactive.provenance import code_version
from proactive.provenance import now_utc as now
from proactive.train import fit_data
from proactive.train.record import RECORD_FILE, LossPoint, TrainingRecord, read_record, write_record

#: Attention and MLP projections of the Llama/Qwen/SmolLM families.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
err = Console(stderr=True, highlight=False, soft_wrap=True)


class LoraSettings(BaseModel):
    """The peft LoRA configuration."""

    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=32, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGETS))


class FitOptions(BaseModel):
    """Everything one `train sft|kto` run needs."""

    base: str = Field(description="HF model folder, GGUF alias or .gguf path.")
    data: list[Path] = Field(description="Dataset folders (sft.jsonl / kto.jsonl + manifest.json).")
    out: Path = Field(description="Output folder: checkpoints/, adapter/, training.json.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, description="Stop after this many optimizer steps (overrides epochs).")
    lr: float = Field(default=2e-4, gt=0)
    batch_size: int = Field(default=1, gt=0)
    grad_accum: int = Field(default=4, gt=0)
    max_length: int = Field(default=2048, gt=0)
    seed: int = 0
    save_steps: int = Field(default=50, gt=0)
    bf16: bool = Field(default=True, description="bf16 autocast (about 2x faster on CPUs with AVX512-BF16).")
    resume: bool = True
    threads: int | None = Field(default=None, description="torch CPU threads (default 1, ignored on GPU).")
    beta: float = Field(default=0.1, gt=0, description="KTO only: strength of the pull towards the base model.")
    gradient_checkpointing: bool = Field(
        default=True, description="Recompute activations in the backward pass: less memory, ~30% more compute."
    )

    def hyper(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include={"epochs", "max_steps", "lr", "batch_size", "grad_accum",
                                                     "max_length", "save_steps", "bf16", "beta",
                                                     "gradient_checkpointing"})  # fmt: skip


def lora_config(settings: LoraSettings) -> Any:
    try:
        from peft import LoraConfig
    except ImportError:
        raise missing_extra("peft", "train") from None
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )


def common_args(options: FitOptions) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and KTOConfig."""
    torch = base_model.import_torch()
    return {
        # transformers refuses bf16 without an accelerator unless told it runs on CPU on purpose;
        # with a GPU present this stays False and the Trainer places the model on it.
        "use_cpu": not torch.cuda.is_available(),
        "output_dir": str(options.out / CHECKPOINTS),
        "per_device_train_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.grad_accum,
        "learning_rate": options.lr,
        "num_train_epochs": options.epochs,
        "max_steps": options.max_steps if options.max_steps is not None else -1,
        "max_length": options.max_length,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": options.save_steps,
        "save_total_limit": 2,
        "seed": options.seed,
        "data_seed": options.seed,
        "bf16": options.bf16,
        "gradient_checkpointing": options.gradient_checkpointing,
        "report_to": "none",
        "dataloader_num_workers": 0,
    }


def last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = out / CHECKPOINTS
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def load_model_and_tokenizer(options: FitOptions) -> tuple[Any, Any]:
    base_model.set_cpu_threads(options.threads)
    source = base_model.resolve_base(options.base)
    tokenizer = base_model.load_tokenizer(source)
    return base_model.load_causal_lm(source), tokenizer


def _step_timer() -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        """Wall seconds of each optimizer step (for sizing runs), without the setup time."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._began = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._began = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seconds.append(time.perf_counter() - self._began)

    return StepTimer()


def train_and_save(trainer: Any, options: FitOptions, kind: str, traces: list[str]) -> TrainingRecord:
    """Train (resuming from the last checkpoint when asked), save the adapter and training.json."""
    started = now()
    timer = _step_timer()
    trainer.add_callback(timer)
    resume_from = last_checkpoint(options.out) if options.resume else None
    if resume_from is not None:
        traces = _with_earlier_traces(options.out, traces)
    trainer.train(resume_from_checkpoint=resume_from)
    adapter = options.out / ADAPTER
    trainer.save_model(str(adapter))
    losses = [
        LossPoint(step=int(entry["step"]), loss=float(entry["loss"]))
        for entry in trainer.state.log_history
        if "loss" in entry and "step" in entry
    ]
    record = TrainingRecord(
        kind=kind,
        base=options.base,
        data=[str(folder) for folder in options.data],
        training_traces=traces,
        steps=int(trainer.state.global_step),
        seed=options.seed,
        lora=options.lora.model_dump(),
        hyper=options.hyper(),
        losses=losses,
        seconds_per_step=sum(timer.seconds) / len(timer.seconds) if timer.seconds else None,
        started=started,
        finished=now(),
        code_version=code_version(),
    )
    if trainer.is_world_process_zero():  # under DDP only one process writes
        write_record(adapter, record)
        write_record(options.out, record)
    return record


def _with_earlier_traces(out: Path, traces: list[str]) -> list[str]:
    """A resumed adapter carries what the earlier run saw too, even if --data changed since."""
    if not (out / RECORD_FILE).is_file():
        return traces
    return sorted(set(traces) | set(read_record(out).training_traces))


def check_options(options: FitOptions) -> list[str]:
    """Refuse unusable inputs before loading a model; returns the datasets' training traces."""
    if not options.data:
        raise UserError("--data: give at least one dataset folder")
    for folder in options.data:
        if not folder.is_dir():
            raise UserError(f"{folder}: dataset folder not found (--data); build one with `proactive train build`")
    if options.out.exists() and not options.out.is_dir():
        raise UserError(f"{options.out}: --out must be a folder")
    if not options.resume and last_checkpoint(options.out) is not None:
        # starting over beside old checkpoints would let a later --resume pick up the wrong run
        raise UserError(f"{options.out}: holds checkpoints of an earlier run; pass --resume or a new --out")
    return fit_data.training_traces(options.data)


def build_sft_trainer(options: FitOptions, rows: list[dict[str, Any]] | None = None) -> Any:
    """An SFTTrainer on the datasets' sft.jsonl (loss on the assistant target only)."""
    try:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer
    except ImportError:
        raise missing_extra("trl", "train") from None
    if rows is None:
        rows = [row for folder in options.data for row in fit_data.read_sft(folder)]
    model, tokenizer = load_model_and_tokenizer(options)
    config = SFTConfig(**common_args(options), completion_only_loss=True)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(options.lora),
    )
    kept: Any = trainer.train_dataset  # a map-style Dataset here (built from a list)
    _check_kept(len(rows), len(kept), options.max_length)
    return trainer


def _check_kept(given: int, kept: int, max_length: int) -> None:
    """TRL truncates from the end and drops rows whose target is cut off entirely: say so."""
    if kept == 0:
        raise UserError(
            f"--max-length {max_length}: every row's prompt is longer than this, so no target is left to train on; "
            "raise --max-length or rebuild the data with a smaller --token-budget"
        )
    if kept < given:
        err.print(
            f"warning: {given - kept} of {given} rows dropped: their target lies beyond --max-length {max_length}"
        )


def run_sft(options: FitOptions, after: Callable[[TrainingRecord], None] | None = None) -> TrainingRecord:
    """`proactive train sft`: check inputs, train LoRA on sft.jsonl, save OUT/adapter + training.json."""
    traces = check_options(options)
    rows = [row for folder in options.data for row in fit_data.read_sft(folder)]
    trainer = build_sft_trainer(options, rows)
    record = train_and_save(trainer, options, "sft", traces)
    if after is not None:
        after(record)
    return record
