"""Leave-one-trace-out judge sets: one judge per test trace, fitted without it, for the bench.

`proactive judge train --loto` writes, per test trace of the data folder, a judge fitted
on every reward row except that trace's (its manifest lists the trace keys it saw), a
`full` judge on every row (for traces outside the set and live use), and `index.json`
(trace id, trace key, folder), as `proactive gate train --loto` does for gates. The
bench, given such a folder as `--judge`, scores each trace with the judge fitted without
it (`pick_judge_folder`). Training is resumable: a sub-folder whose manifest already
lists the intended training traces, data hash and settings is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from proactive.data.labels import trace_key_of_events
from proactive.errors import UserError
from proactive.judge.artifact import LotoIndex, load_artifact, save_index
from proactive.judge.train import TrainingData, progress_callback, refuse_mixed_folder
from proactive.judge.trained import TrainedSettings
from proactive.provenance import LotoEntry
from proactive.types import Trace

FULL = "full"


def _already_trained(folder: Path, data: TrainingData, expected: set[str], settings: TrainedSettings) -> bool:
    if not (folder / "manifest.json").is_file():
        return False
    try:
        manifest = load_artifact(folder)[1]
    except UserError:
        return False  # a damaged judge of ours: fitted again from the same rows
    return (
        set(manifest.training_traces) == expected
        and manifest.data_sha256 == data.sha256
        and manifest.settings == settings.model_dump()
    )


def train_loto_set(
    source: Path,
    traces: Sequence[Trace],
    out: Path,
    excluded: Collection[str] = (),
    settings: TrainedSettings | None = None,
    cv: bool = True,
    progress: Any = None,
) -> tuple[LotoIndex, list[str]]:
    """One judge per test trace fitted without it, a `full` judge, and `index.json`.

    Returns the index and the sub-folders kept from an earlier run (not fitted again).
    """
    refuse_mixed_folder(out, loto=True)
    dropped = set(excluded)
    settings = settings or TrainedSettings()
    data = TrainingData.load(source, progress=progress)
    all_keys = set(data.keys.tolist()) - dropped
    jobs = [(trace.id, trace_key_of_events(trace.events)) for trace in traces] + [(FULL, "")]
    if len({name for name, _ in jobs}) != len(jobs):
        raise UserError(f"{source}: two test traces share an id; a LOTO set needs one folder per trace")
    advance = progress_callback(progress, "fitting leave-one-trace-out judges")
    entries, kept = [], []
    for done, (name, key) in enumerate(jobs, start=1):
        folder = out / name
        drop = dropped | ({key} if key else set())
        if _already_trained(folder, data, all_keys - drop, settings):
            kept.append(name)
        else:
            data.fit_and_save(folder, drop, settings, cv)
        if key:
            entries.append(LotoEntry(trace_id=name, trace_key=key, folder=name))
        advance(done, len(jobs))
    index = LotoIndex(entries=entries, full=FULL)
    save_index(out, index)
    return index, kept
