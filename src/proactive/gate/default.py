"""The shipped gate: a leave-one-trace-out set of situation-signal gates, built on first use.

Nobody has to train anything before `proactive bench run`, `scripts/run.sh` or
`proactive assist`: the first use fits the set from ProactiveBench's reward rows into the
state dir (a few seconds here, with a progress bar) and later uses load it. The folder
name carries a fingerprint of the recipe (blocks, regularisations, the features' source)
and of the reward file, so a change of either builds a new set instead of reusing a stale
one. Each member's manifest lists the traces it was fitted on, so the bench gives every
scored trace the member fitted without it, exactly as for a set trained by hand.

Why these blocks: chosen on our own new traces (`data/new_traces/dev`, activity written
unlike the released traces) among candidates scored leave-one-trace-out on the released
ones (`bench/gate_choice.py`, table in docs/agent.md). The words of the latest event
scored best on the released traces and at chance on new ones; the situation signals
carried over.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from rich.console import Console

from proactive.gate import features, signals
from proactive.gate.artifact import INDEX
from proactive.gate.training import TrainSpec

#: The recipe of the shipped gate (the inner grouped CV still picks C per member).
DEFAULT_BLOCKS = ["signals", "keywords"]
DEFAULT_SPEC = TrainSpec(block_sets=[DEFAULT_BLOCKS], regularizations=[0.01, 0.03])
NAME = "default"


def fingerprint(reward_file: Path) -> str:
    """Short hash of the recipe, the feature code and the reward rows the set is fitted on."""
    digest = hashlib.sha256(DEFAULT_SPEC.model_dump_json().encode())
    for module in (features, signals):
        digest.update(inspect.getsource(module).encode())
    digest.update(reward_file.read_bytes())
    return digest.hexdigest()[:12]


def default_gate_folder(data: Path, console: Console | None = None) -> Path:
    """The shipped LOTO gate set for the ProactiveBench folder `data`, built if missing."""
    from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
    from proactive.gate.loto import train_loto_set
    from proactive.settings import state_dir

    reward_file = data / REWARD_FILE
    if not reward_file.is_file():
        from proactive.errors import UserError

        raise UserError(
            f"{reward_file}: the default gate is fitted on ProactiveBench's reward rows, which are missing; "
            "pass --data DIR (or set PROACTIVEBENCH_DIR), or pass --gate DIR / --gate llm"
        )
    folder = state_dir() / "gates" / f"{NAME}-{fingerprint(reward_file)}"
    if (folder / INDEX).is_file():
        return folder
    console = console or Console(stderr=True)
    console.print(f"building the default gate set (first use; seconds) into {folder}", style="dim")
    rows = load_reward_rows(reward_file)
    train_loto_set(rows, load_test_traces(data), folder, DEFAULT_SPEC, console=console)
    return folder
