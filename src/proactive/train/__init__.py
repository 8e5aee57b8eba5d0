"""Training: SFT / preference data builders, LoRA fine-tuning (TRL + peft), GGUF export."""
