"""How close a finished `bench run` came to the token floor of its model on this machine.

floor = newly evaluated prompt tokens / prompt tok/s + generated tokens / generation tok/s,
with tok/s measured now by bench/models_speed.py (same backend, n_threads=1) unless given.
Prints wall time, tokens, the floor and the ratio wall / floor (goal <= 1.3).

    .venv/bin/python bench/bench_run_floor.py runs/llm-qwen1.5b
    .venv/bin/python bench/bench_run_floor.py runs/llm-qwen1.5b --prompt-tps 87 --gen-tps 25
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def measured_speed(alias: str) -> tuple[float, float]:
    """(prompt tok/s, generation tok/s) of `alias`, from models_speed.py in a child process."""
    script = Path(__file__).with_name("models_speed.py")
    out = subprocess.run([sys.executable, str(script), "--one", alias], capture_output=True, text=True, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return float(row["prompt_tok_s"]), float(row["gen_tok_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--prompt-tps", type=float)
    parser.add_argument("--gen-tps", type=float)
    args = parser.parse_args()
    manifest = json.loads((args.run_dir / "run.json").read_text())
    model = str(manifest.get("model") or "")
    if args.prompt_tps and args.gen_tps:
        prompt_tps, gen_tps = args.prompt_tps, args.gen_tps
    else:
        prompt_tps, gen_tps = measured_speed(model.removeprefix("local/"))
    tokens = manifest["tokens"]
    floor = tokens["new_prompt_tokens"] / prompt_tps + tokens["completion_tokens"] / gen_tps
    model_seconds = tokens["agent_seconds"]
    wall = manifest["wall_seconds"]
    figures = {
        "model": model,
        "events": manifest["events_done"],
        "cached_answers": tokens["cached_answers"],
        "wall_s": round(wall, 1),
        "agent_s": round(model_seconds, 1),
        "judge_s": round(tokens["judge_seconds"], 1),
        "prompt_tokens": tokens["prompt_tokens"],
        "new_prompt_tokens": tokens["new_prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"],
        "prompt_tok_s": prompt_tps,
        "gen_tok_s": gen_tps,
        "floor_s": round(floor, 1),
        "wall_over_floor": round(wall / floor, 2) if floor else None,
        "agent_over_floor": round(model_seconds / floor, 2) if floor else None,
    }
    for key, value in figures.items():
        print(f"{key:18s} {value}")


if __name__ == "__main__":
    main()
