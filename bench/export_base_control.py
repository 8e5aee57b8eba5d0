"""Export an un-tuned base through the same dequantize -> HF folder -> GGUF path as a fine-tuned model.

The control for `proactive train` comparisons: a fine-tuned GGUF is the Q4_K_M base
dequantized by transformers, LoRA-merged and re-quantized by llama.cpp's converter.
Comparing it with the original Q4_K_M file would mix the effect of the training with
the effect of the conversion, so the base goes through the same path with no training
(and so gets no training record: the bench treats it as any other model).

    python bench/export_base_control.py qwen2.5-coder-0.5b runs/base-05b.gguf --outtype q8_0
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from proactive.models import hf_load
from proactive.train.export_gguf import convert, decode_one_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="GGUF alias, .gguf path or HF folder")
    parser.add_argument("out", type=Path, help="the .gguf file to write")
    parser.add_argument("--outtype", default="q8_0")
    args = parser.parse_args()
    started = time.perf_counter()
    hf_load.set_cpu_threads(None)
    source = hf_load.resolve_base(args.base)
    model, tokenizer = hf_load.load_causal_lm(source), hf_load.load_tokenizer(source)
    with tempfile.TemporaryDirectory(dir=args.out.parent) as scratch:
        folder = Path(scratch) / "hf"
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
        convert(folder, args.out, args.outtype)
    token = decode_one_token(args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.0f} MB, first token {token!r}, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
