"""Which judge scores which trace of a bench run, decided before anything is written.

A judge that learned nothing from annotated rows (`human-labels`, `llm`) scores every
trace. A trained judge is checked against each scored trace's identity: a LOTO set gives
each trace the judge fitted without it; a single judge (or a LOTO set's `full` judge)
whose manifest lists a scored trace is refused, in one line naming the traces, unless
the run allows it (`--allow-seen`), and then every such trace is marked in the notes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proactive.errors import UserError
from proactive.judge.base import JUDGES, Judge

#: Registered judge names that load a trained artifact from the state dir.
TRAINED_NAMES = ("trained", "trained-loto")

SEEN_NOTE = "JUDGE TRAINED ON THE SCORED TRACE (allowed by --allow-seen)"


@dataclass
class TraceJudges:
    """The judge of each trace of a run, and one line per trace saying where it came from."""

    judges: dict[str, Judge]
    summary: str
    #: trace id -> provenance line; only for trained judges (they differ per trace).
    per_trace: dict[str, str] = field(default_factory=dict)
    #: Trace ids scored by a judge trained on them (possible only with allow_seen).
    seen: list[str] = field(default_factory=list)


def trained_folder(name: str) -> Path | None:
    """The artifact folder a --judge value names, or None for judges that are not trained on rows."""
    from proactive.judge.artifact import default_artifact_dir, default_loto_dir

    if name == "trained":
        return default_artifact_dir()
    if name == "trained-loto":
        return default_loto_dir()
    path = Path(name).expanduser()
    if path.is_dir() or (name not in JUDGES.names() and "/" in name):
        return path  # a missing path too: loading it gives the one-line "no trained judge here"
    return None


def judges_for_traces(
    name: str, traces: Sequence[tuple[str, str]], allow_seen: bool, build_other: Callable[[], Judge]
) -> TraceJudges:
    """A judge per (trace id, trace key); raises one UserError when a trained judge saw a scored trace."""
    folder = trained_folder(name)
    if folder is None:
        judge = build_other()
        line = str(getattr(judge, "provenance", "not stated by the judge"))
        return TraceJudges(judges={trace_id: judge for trace_id, _ in traces}, summary=line)
    from proactive.judge.artifact import load_artifact, pick_judge_folder
    from proactive.judge.features import FeatureBuilder
    from proactive.judge.trained import TrainedJudge

    picked = {trace_id: pick_judge_folder(folder, key, allow_seen=True) for trace_id, key in traces}
    seen = [trace_id for trace_id, (_, saw) in picked.items() if saw]
    if seen and not allow_seen:
        where = sorted({str(picked[t][0]) for t in seen})
        raise UserError(
            f"{', '.join(where)}: this judge was trained on {len(seen)} of the {len(traces)} scored traces "
            f"({', '.join(seen)}); train a LOTO set (`proactive judge train --loto --out DIR`) and pass it as "
            "--judge, or pass --allow-seen to accept the leak"
        )
    builder = FeatureBuilder()  # one embedding memo for every per-trace judge
    loaded = {chosen: load_artifact(chosen) for chosen, _ in picked.values()}  # each folder read once
    judges: dict[str, Judge] = {}
    notes: dict[str, str] = {}
    for trace_id, key in traces:
        chosen, saw = picked[trace_id]
        model, manifest = loaded[chosen]
        judge = TrainedJudge(model, builder, folder=chosen, manifest=manifest, trace_key=key, saw_trace=saw)
        judges[trace_id] = judge
        notes[trace_id] = judge.provenance
    if seen:
        summary = f"{len(seen)} of {len(traces)} traces ({', '.join(seen)}) scored by a {SEEN_NOTE}"
    else:
        summary = (
            f"{len(traces)} scored trace(s), each judged by a judge trained without it (checked against its manifest)"
        )
    return TraceJudges(judges=judges, summary=summary, per_trace=notes, seen=seen)
