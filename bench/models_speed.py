"""Speed of the embedded models on this machine: prompt and generation tokens/s, peak RSS.

Each model runs in its own process so peak RSS is that model's alone. Figures come from
the framework's own backend (`local/<alias>`, n_threads=1, cache off), not from
llama.cpp's internal timers, so they include every overhead a user pays.

    .venv/bin/python bench/models_speed.py                 # every pulled model
    .venv/bin/python bench/models_speed.py --models smollm2-135m --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import subprocess
import sys
from typing import Any

from proactive.doctor.build import check_build, cpu_flags, cpu_kind
from proactive.models import store
from proactive.models.base import Message
from proactive.models.llama import LlamaModel, LlamaOptions

EVENTS = [
    "The user opened the spreadsheet budget_2024.xlsx in LibreOffice Calc.",
    "The user typed totals into column F for rows 2 to 40.",
    "The user searched the web for 'average monthly grocery spending'.",
    "The user switched to the email client and opened a message from the landlord.",
    "The user copied the rent amount from the email into the spreadsheet.",
]


def _trace_prompt(events: int) -> list[Message]:
    lines = [f"[{9 + i // 6:02d}:{(i * 7) % 60:02d}] {EVENTS[i % len(EVENTS)]}" for i in range(events)]
    return [
        {"role": "system", "content": "You watch a user's activity and decide whether to offer help."},
        {"role": "user", "content": "Recent activity:\n" + "\n".join(lines) + "\nShould you offer help? Explain."},
    ]


async def _measure(alias: str, threads: int, gen_tokens: int) -> dict[str, Any]:
    model = LlamaModel(alias, LlamaOptions(n_threads=threads, n_ctx=4096))
    warm = await model.generate([{"role": "user", "content": "hi"}], max_tokens=1)  # loads the model
    load_seconds = warm.latency
    prompt = await model.generate(_trace_prompt(30), max_tokens=1)  # ~30-event trace, fresh prompt
    story: list[Message] = [{"role": "user", "content": "Write a long, detailed story about a lighthouse keeper."}]
    await model.generate(story, max_tokens=1)  # evaluate the short prompt first ...
    gen = await model.generate(story, max_tokens=gen_tokens)  # ... so this call is almost all generation
    grown: list[Message] = [
        *_trace_prompt(30),
        {"role": "assistant", "content": prompt.text},
        {"role": "user", "content": "A new event: the user saved the spreadsheet. Offer help now?"},
    ]
    await model.generate(_trace_prompt(30), max_tokens=1)
    reuse = await model.generate(grown, max_tokens=1)
    return {
        "model": alias,
        "threads": threads,
        "load_s": round(load_seconds, 2),
        "prompt_tokens": prompt.usage.new_prompt_tokens,
        "prompt_tok_s": round(prompt.usage.new_prompt_tokens / prompt.latency, 1),
        "gen_tokens": gen.usage.completion_tokens,
        "gen_tok_s": round(gen.usage.completion_tokens / gen.latency, 1),
        "extended_prompt_tokens": reuse.usage.prompt_tokens,
        "extended_new_tokens": reuse.usage.new_prompt_tokens,
        "extended_latency_s": round(reuse.latency, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="aliases (default: every pulled model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gen-tokens", type=int, default=96)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: measure one model, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(_measure(args.one, args.threads, args.gen_tokens))))
        return
    aliases = args.models or [row.alias for row in store.list_models() if row.verified]
    header = (
        "model",
        "first call s (load)",
        "prompt tok/s",
        "gen tok/s",
        "peak RSS MB",
        "30-event+1 prompt: new/total tok, s",
    )
    print(" | ".join(header))
    for alias in aliases:
        command = [sys.executable, __file__, "--one", alias, "--threads", str(args.threads),
                   "--gen-tokens", str(args.gen_tokens)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{alias} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{alias} | {row['load_s']} | {row['prompt_tok_s']} ({row['prompt_tokens']} tok) | "
            f"{row['gen_tok_s']} ({row['gen_tokens']} tok) | {row['peak_rss_mb']} | "
            f"{row['extended_new_tokens']}/{row['extended_prompt_tokens']}, {row['extended_latency_s']}"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    # Speed depends mostly on the SIMD level: label the rows with the CPU kind and the build's features.
    build = check_build()
    print(
        f"(n_threads={args.threads}; one process per model; cache off; "
        f"load average now {load} on {os.cpu_count()} cores; {datetime.date.today()})\n"
        f"(CPU: {cpu_kind(cpu_flags())}; llama.cpp {build.version} uses {' '.join(build.enabled())})"
    )


if __name__ == "__main__":
    main()
