"""`proactive train sft|kto|merge|export-gguf`: LoRA fine-tuning with TRL, merge, GGUF export.

The same commands run on GPUs unchanged: `accelerate launch -m proactive.cli.main train sft ...`
(device placement, DDP and bf16 are the Trainer's job).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from proactive.cli.options import check_float, check_int, check_out_dir

err = Console(stderr=True, highlight=False, soft_wrap=True)
OUTTYPES = ("q8_0", "f16", "bf16", "f32")


def _fit_command(kind: str, default_batch: int, run: Callable[[Any], Any]) -> Callable[..., None]:
    """One command body for `sft` and `kto`: they share every option but the trainer."""

    def command(
        base: str = typer.Option(..., "--base", help="HF model folder, GGUF alias (qwen2.5-coder-0.5b) or .gguf path."),
        data: list[Path] = typer.Option(..., "--data", help="Dataset folder from `train build` (repeatable)."),
        out: Path = typer.Option(..., "--out", help="Output folder: checkpoints/, adapter/, training.json."),
        lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
        lora_alpha: int = typer.Option(32, "--lora-alpha", help="LoRA alpha (scale = alpha / r)."),
        lora_dropout: float = typer.Option(0.05, "--lora-dropout", help="Dropout on the LoRA path."),
        epochs: float = typer.Option(1.0, "--epochs", help="Passes over the data (unless --max-steps)."),
        max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N optimizer steps."),
        lr: float = typer.Option(2e-4, "--lr", help="Learning rate."),
        batch_size: int = typer.Option(default_batch, "--batch-size", help="Rows per device per step."),
        grad_accum: int = typer.Option(4, "--grad-accum", help="Gradient accumulation steps."),
        max_length: int = typer.Option(2048, "--max-length", help="Tokens per row (longer rows are truncated)."),
        seed: int = typer.Option(0, "--seed", help="Seed for LoRA init, shuffling and dropout."),
        save_steps: int = typer.Option(50, "--save-steps", help="Checkpoint every N steps into OUT/checkpoints."),
        bf16: bool = typer.Option(True, "--bf16/--no-bf16", help="bf16 autocast (CPU with AVX512-BF16, or GPU)."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT's last checkpoint."),
        threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default 1; unused on GPU)."),
        beta: float = typer.Option(0.1, "--beta", help="KTO: pull towards the base model (ignored by sft)."),
        merge: bool = typer.Option(False, "--merge", help="Also merge the adapter into OUT/merged."),
        checkpointing: bool = typer.Option(
            True, "--gradient-checkpointing/--no-gradient-checkpointing", help="Less memory, more compute."
        ),
    ) -> None:
        from proactive.train.finetune import FitOptions, LoraSettings

        check_out_dir("--out", out)
        check_int("--lora-r", lora_r, 1)
        check_int("--lora-alpha", lora_alpha, 1)
        check_float("--lora-dropout", lora_dropout, 0.0, 0.99)
        check_float("--epochs", epochs, 0.01)
        check_float("--lr", lr, 1e-9)
        check_float("--beta", beta, 1e-6)
        for option, value in (("--batch-size", batch_size), ("--grad-accum", grad_accum),
                              ("--max-length", max_length), ("--save-steps", save_steps)):  # fmt: skip
            check_int(option, value, 1)
        check_int("--max-steps", max_steps, 1)
        check_int("--threads", threads, 1)
        options = FitOptions(
            base=base, data=[p.expanduser() for p in data], out=out.expanduser(),
            lora=LoraSettings(r=lora_r, alpha=lora_alpha, dropout=lora_dropout), epochs=epochs,
            max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
            seed=seed, save_steps=save_steps, bf16=bf16, resume=resume, threads=threads, beta=beta,
            gradient_checkpointing=checkpointing,
        )  # fmt: skip
        record = run(options)
        losses = record.losses
        last = f", last loss {losses[-1].loss:.4f}" if losses else ""
        speed = f", {record.seconds_per_step:.2f} s/step" if record.seconds_per_step else ""
        err.print(f"{kind}: {record.steps} steps{last}{speed}; adapter in {options.out / 'adapter'}")
        if merge:
            _merge(base, options.out / "adapter", options.out / "merged", threads)

    command.__doc__ = {
        "sft": "LoRA supervised fine-tuning (TRL SFTTrainer) on sft.jsonl; loss on the assistant target only.",
        "kto": "LoRA preference tuning (TRL KTOTrainer) on kto.jsonl (unpaired desirable/undesirable answers).",
    }[kind]
    return command


def _run_sft(options: Any) -> Any:
    from proactive.train.finetune import run_sft

    return run_sft(options)


def _run_kto(options: Any) -> Any:
    from proactive.train.kto import run_kto

    return run_kto(options)


def _merge(base: str, adapter: Path, out: Path, threads: int | None) -> None:
    from proactive.train.merge import merge_adapter

    with err.status(f"merging {adapter} into {base}"):
        merge_adapter(base, adapter, out, threads)
    err.print(f"merged model in {out} (run it as hf/{out}, or convert it with `proactive train export-gguf`)")


def merge_command(
    base: str = typer.Option(..., "--base", help="The base the adapter was trained on (folder, alias or .gguf)."),
    adapter: Path = typer.Option(..., "--adapter", help="Adapter folder (OUT/adapter of `train sft|kto`)."),
    out: Path = typer.Option(..., "--out", help="New folder for the merged model (safetensors + tokenizer)."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default 1)."),
) -> None:
    """Merge a LoRA adapter into its base and save a plain HF model folder with training.json."""
    check_out_dir("--out", out)
    check_int("--threads", threads, 1)
    _merge(base, adapter.expanduser(), out.expanduser(), threads)


def export_command(
    model: Path = typer.Option(..., "--model", help="Merged HF model folder (from `train merge`)."),
    out: Path = typer.Option(..., "--out", help="The .gguf file to write."),
    outtype: str = typer.Option("q8_0", "--outtype", help=f"Weight type: {', '.join(OUTTYPES)}."),
) -> None:
    """Convert a merged model to GGUF with llama.cpp's converter, check it decodes, write <out>.training.json."""
    from proactive.errors import UserError
    from proactive.train.export_gguf import export_gguf

    if outtype not in OUTTYPES:
        raise UserError(f"--outtype {outtype}: choose one of {', '.join(OUTTYPES)}")
    with err.status(f"converting {model} to {outtype} GGUF"):
        path = export_gguf(model.expanduser(), out.expanduser(), outtype)  # type: ignore[arg-type]
    err.print(f"wrote {path}; run it in the bench as local/{path}")


def register(app: typer.Typer) -> None:
    """Add the fine-tuning commands to the `train` app."""
    app.command("sft")(_fit_command("sft", 1, _run_sft))
    app.command("kto")(_fit_command("kto", 2, _run_kto))
    app.command("merge")(merge_command)
    app.command("export-gguf")(export_command)
