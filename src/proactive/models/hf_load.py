"""Load a transformers model for the `hf/` backend and for training: an HF folder, a GGUF alias or a .gguf path.

transformers reads a GGUF (`gguf_file=`) by dequantizing it into torch weights, so the
small embedded models we already pull can be fine-tuned without any model hub.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proactive.errors import UserError, missing_extra


@dataclass(frozen=True)
class BaseSource:
    """Where a base model's weights are: `folder` plus, for a GGUF, the file inside it."""

    folder: Path
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return str(self.folder / self.gguf_file) if self.gguf_file else str(self.folder)

    def load_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve_base(name: str) -> BaseSource:
    """An HF model folder (with config.json), else a GGUF alias or .gguf path; one-line error otherwise."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(
                f"{path}: not a Hugging Face model folder (no config.json); "
                "pass a folder written by save_pretrained, a GGUF alias or a .gguf file"
            )
        return BaseSource(folder=path)
    from proactive.models import llama, store

    if not name.endswith(".gguf") and name not in store.SOURCES:
        raise UserError(
            f"{name}: no such model folder, and not a GGUF alias ({', '.join(sorted(store.SOURCES))}) or .gguf file"
        )
    gguf = llama.check(name)  # exists, verified, starts with the GGUF magic
    return BaseSource(folder=gguf.parent, gguf_file=gguf.name)


def import_torch() -> Any:
    """torch, or the one-line `pip install 'proactive[train]'` error."""
    try:
        import torch
    except ImportError:
        raise missing_extra("torch", "train") from None
    return torch


def set_cpu_threads(threads: int | None) -> None:
    """On CPU use few threads (1 was ~5x faster per step on 2 shared cores); leave GPUs alone."""
    torch = import_torch()
    if torch.cuda.is_available():
        return
    chosen = threads if threads is not None else int(os.environ.get("PROACTIVE_TORCH_THREADS", "1"))
    torch.set_num_threads(max(1, chosen))


def load_tokenizer(source: BaseSource) -> Any:
    """The tokenizer (with the chat template) of a base; pad falls back to eos."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise missing_extra("transformers", "train") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.folder), **source.load_kwargs())
    except (OSError, ValueError) as exc:
        raise UserError(f"{source.label}: cannot load the tokenizer ({_first_line(exc)})") from None
    if tokenizer.chat_template is None:
        raise UserError(f"{source.label}: the tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(source: BaseSource, dtype: str = "float32") -> Any:
    """The causal LM of a base in `dtype` (float32 for training; bf16 autocast is the trainer's job)."""
    torch = import_torch()
    try:
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise missing_extra("transformers", "train") from None
    kwargs = source.load_kwargs()
    if source.gguf_file and (config := _dequantize_config(source.gguf_file)) is not None:
        kwargs["quantization_config"] = config
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source.folder), dtype=getattr(torch, dtype), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{source.label}: transformers cannot load this model ({_first_line(exc)})") from None
    if source.gguf_file:
        _forget_gguf_origin(model)
    return model


def _dequantize_config(gguf_file: str) -> Any:
    """Ask for plain dense weights: packed GGUF blocks (used when `kernels` is installed) cannot train."""
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always dequantize GGUF files
        return None
    return GgufConfig(gguf_file=gguf_file, dequantize=True)


def _forget_gguf_origin(model: Any) -> None:
    """Once dequantized the weights are ordinary tensors; drop the GGUF quantizer so the Trainer
    trains them and save_pretrained writes a plain safetensors model (not a GGUF-quantized config)."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_with_adapter(base: str, adapter: Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(peft model, tokenizer) of a base plus a saved LoRA adapter; one line when it does not fit."""
    if not (adapter / "adapter_config.json").is_file():
        raise UserError(f"{adapter}: no adapter_config.json; pass the adapter folder train sft|kto wrote (OUT/adapter)")
    try:
        from peft import PeftModel
    except ImportError:
        raise missing_extra("peft", "train") from None
    source = resolve_base(base)
    model = load_causal_lm(source, dtype)
    tokenizer = load_tokenizer(source)
    try:
        return PeftModel.from_pretrained(model, str(adapter)), tokenizer
    except (ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"{adapter}: this adapter does not fit base '{base}' ({_first_line(exc)})") from None
