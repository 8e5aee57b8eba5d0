"""The shipped gate: a leave-one-trace-out set of situation-signal gates, built on first use.

Nobody has to train anything before `proactive bench run`, `scripts/run.sh` or
`proactive assist`: the first use fits the set into the state dir (a few seconds here,
with a progress bar) and later uses load it. It is fitted on ProactiveBench's reward rows
and on our 72 hand-labelled training traces (`train_traces/`: coding, writing and daily
life, written unlike the released traces and unlike `data/new_traces`). The folder name
carries a fingerprint of the recipe (blocks, regularisations, the features' source), of
the reward file and of the training traces, so a change of any builds a new set instead
of reusing a stale one. Each member's manifest lists the traces it was fitted on, so the bench gives every
scored trace the member fitted without it, exactly as for a set trained by hand.

Why these blocks and rows: chosen on our own new traces (`data/new_traces/dev`, activity
written unlike the released traces) among candidates scored leave-one-trace-out on the
released ones (`bench/gate_choice.py`, tables in docs/agent.md). Fitted on the reward rows
alone, the words of the latest event scored best on the released traces and at chance on
new ones; the situation signals carried over. Fitted with the training traces too, the
situation signals alone had dev F1 0.575 (always-propose 0.453), balanced accuracy 0.700
and the best AUC (0.782), within noise of the words (0.592 / 0.711 / 0.724); the signals
were kept because the dev and training traces share their writers' style, which word
features can learn and a person's own activity does not share.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from rich.console import Console

from proactive import situation
from proactive.gate import features, signals
from proactive.gate.artifact import INDEX
from proactive.gate.training import TrainSpec
from proactive.types import AnnotatedRow

#: The recipe of the shipped gate (the inner grouped CV still picks C per member).
DEFAULT_BLOCKS = ["signals"]
DEFAULT_SPEC = TrainSpec(block_sets=[DEFAULT_BLOCKS], regularizations=[0.01, 0.03])
NAME = "default"
#: Hand-labelled traces the shipped gate is fitted on besides the reward rows (package data).
TRAIN_TRACES = Path(__file__).resolve().parent / "train_traces"


def fingerprint(reward_file: Path) -> str:
    """Short hash of the recipe, the feature code, the reward rows and the training traces."""
    digest = hashlib.sha256(DEFAULT_SPEC.model_dump_json().encode())
    # situation.py holds the error / search / question patterns the signals count.
    for module in (features, signals, situation):
        digest.update(inspect.getsource(module).encode())
    digest.update(reward_file.read_bytes())
    for path in sorted(TRAIN_TRACES.glob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def training_rows(reward_file: Path) -> list[AnnotatedRow]:
    """The reward rows and one row per event of the training traces."""
    from proactive.data.labelled import load_labelled_traces, rows_of_labelled
    from proactive.data.loaders import load_reward_rows

    return load_reward_rows(reward_file) + rows_of_labelled(load_labelled_traces(TRAIN_TRACES))


def default_gate_folder(data: Path, console: Console | None = None) -> Path:
    """The shipped LOTO gate set for the ProactiveBench folder `data`, built if missing."""
    from proactive.data.loaders import REWARD_FILE, load_test_traces
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
    train_loto_set(training_rows(reward_file), load_test_traces(data), folder, DEFAULT_SPEC, console=console)
    return folder
