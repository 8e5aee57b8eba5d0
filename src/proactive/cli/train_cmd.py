"""`proactive train`: fine-tuning data from traces and annotations, LoRA fine-tuning, export to GGUF."""

from __future__ import annotations

import typer

from proactive.cli import train_build_cmd, train_fit_cmd

app = typer.Typer(help="Training: SFT/KTO data builders, LoRA fine-tuning, GGUF export.", no_args_is_help=True)

train_build_cmd.register(app)
train_fit_cmd.register(app)
