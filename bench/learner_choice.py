"""How the per-person learner's settings were chosen: on *tuning* people, never the reported ones.

`proactive assist simulate --user personas` reports the three stated people of
`proactive.bench.personas` (coder, writer, searcher) on seeds 0..N-1. The settings of
`proactive.assist.learner` (prior variance of the situation/kind weights and of the timing
inputs, the width of the Thompson draws, the gate floor) were chosen here instead, on four
other people with other preferences (one who wants only fixes, one who likes explanations,
one who never wants interrupting in a chat, one who likes writing help) and on seeds 100..139,
over the same day of offers (the 12 test traces, the writer-free `candidates` offers and
the shipped LOTO gate, as `assist simulate` uses them).

Rule: among the settings whose pooled offers per hour are at most halved, the widest draw
(the most exploration, so a door closed too early still reopens) whose pooled accepted
share reaches x1.5; ties by accepted share.

    .venv/bin/python bench/learner_choice.py [--seeds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
from pathlib import Path

from proactive.assist import learner
from proactive.bench import personal_sim
from proactive.bench.assist_sim import load_traces
from proactive.bench.personal_sim import compare, offer_moments, run_personas
from proactive.bench.personas import Persona
from proactive.judge.base import get_judge

TUNING_PEOPLE = (
    Persona("fixer", "wants only fixes", liked_kinds=frozenset({"fix"}), liked_floor=0.7, other_factor=0.2,
            probes=(("browsing", "fix"), ("browsing", "search"))),
    Persona("reader", "likes explanations", liked_kinds=frozenset({"explain"}), liked_floor=0.7, other_factor=0.3,
            probes=(("browsing", "explain"), ("browsing", "code"))),
    Persona("nochat", "never while chatting", hated_situations=frozenset({"chat"}),
            probes=(("browsing", "explain"), ("chat", "explain"))),
    Persona("writehelp", "likes writing help", liked_kinds=frozenset({"write"}), liked_floor=0.75, other_factor=0.3,
            probes=(("writing", "write"), ("writing", "search"))),
)  # fmt: skip
FLOORS = (0.1, 0.25)
PERSON_VARIANCES = (1.0, 4.0)
TIMING_VARIANCES = (1.0, 0.1)
DRAW_SCALES = (1.0, 0.7, 0.5, 0.3)


def configure(floor: float, person_variance: float, timing_variance: float, scale: float) -> None:
    """Set the learner's module settings (read at call time by `fresh`, `decide` and the replay)."""
    for name in learner.NAMES:
        if name.startswith(("situation:", "offer:")):
            learner.PRIOR_VARIANCE[name] = person_variance
        elif name.startswith(("minutes", "last answer:")):
            learner.PRIOR_VARIANCE[name] = timing_variance
    learner.DRAW_SCALE = scale
    personal_sim.GATE_FLOOR = floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40, help="tuning seeds 100..100+N-1")
    args = parser.parse_args()
    data = Path(os.environ.get("PROACTIVEBENCH_DIR", "../shared/proactivebench"))
    traces = load_traces(data / "test_data")
    moments = asyncio.run(offer_moments(traces, get_judge("human-labels", data=data), "default", data))
    seeds = list(range(100, 100 + args.seeds))
    shipped = (personal_sim.GATE_FLOOR, learner.DRAW_SCALE)
    rows = []
    print("| floor | situation/kind var | timing var | draw | accepted share × [95%] | offers/h × [95%] | per person |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setting in itertools.product(FLOORS, PERSON_VARIANCES, TIMING_VARIANCES, DRAW_SCALES):
        configure(*setting)
        report = run_personas(moments, seeds, personas=TUNING_PEOPLE, arms=("off", "on"))
        pooled = compare(report, "on")
        share, rate = pooled["accepted share ×"], pooled["offers per hour ×"]
        people = " ".join(
            f"{p.name} {compare(report, 'on', p.name)['accepted share ×'][0]:.2f}" for p in TUNING_PEOPLE
        )
        rows.append((setting, share, rate))
        print(f"| {' | '.join(f'{v:g}' for v in setting)} | {share[0]:.2f} [{share[1]:.2f}, {share[2]:.2f}] "
              f"| {rate[0]:.2f} [{rate[1]:.2f}, {rate[2]:.2f}] | {people} |", flush=True)  # fmt: skip
    fit = [r for r in rows if r[2][0] <= 0.5 and r[1][0] >= 1.5]
    if fit:
        best = max(fit, key=lambda r: (r[0][3], r[1][0]))
        print(f"chosen by the rule: floor, situation/kind var, timing var, draw = {best[0]}")
    else:
        print("no setting reaches x1.5 with offers at most halved")
    print(f"shipped: floor {shipped[0]}, draw {shipped[1]}")


if __name__ == "__main__":
    main()
