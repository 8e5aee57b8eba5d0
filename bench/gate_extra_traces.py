"""Would more hand-labelled training traces make the shipped gate carry over better?

Fits the shipped gate recipe (`gate/default.py`: situation signals, C and threshold by the
inner grouped CV) on the reward rows and the shipped training traces, and again with the
traces of each `--extra` folder added, then scores every event of our new traces with
each `full` gate: AUC, the gate alone's timing F1 and balanced accuracy at its own
threshold, how often it opens, and, given a `--threshold 0` run of the agent (the writer
asked at every event; nobody answers offers in these runs, so the writer's prompt does not
depend on earlier offers), the agent's timing F1 with that gate: it speaks where the gate
opens and the writer offered.

    proactive bench new-traces data/new_traces/dev data/new_traces/held data/new_traces/blind \\
        --threshold 0 --out runs/nt-t0
    .venv/bin/python bench/gate_extra_traces.py --extra /path/to/more_traces --t0 runs/nt-t0 \\
        data/new_traces/dev data/new_traces/held data/new_traces/blind

With `--leave-out PATTERN` the first gate is fitted without the shipped training traces whose
file name matches the pattern, and the second with all of them: how the third batch of training
traces was measured once it had been added (docs/agent.md, Session 16):

    .venv/bin/python bench/gate_extra_traces.py --leave-out '*3_*' \\
        data/new_traces/dev data/new_traces/held data/new_traces/blind

An extra trace whose first event equals an evaluation trace's is refused (it would be
fitting on a scored trace).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from proactive.bench.metrics import timing_metrics
from proactive.data.labelled import LabelledTrace, load_labelled_traces, rows_of_labelled
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.gate.default import DEFAULT_SPEC, TRAIN_TRACES
from proactive.gate.trained import TrainedGate
from proactive.gate.training import default_encoder, examples_from_rows, train_gate
from proactive.metrics import auc, confusion_counts
from proactive.settings import data_dir


def fitted_gate(extra: Sequence[LabelledTrace], leave_out: str | None = None) -> TrainedGate:
    """The `full` member of the shipped recipe, with `extra` traces added to its rows and the shipped
    training traces whose file name matches `leave_out` taken out."""
    shipped = [
        t for t in load_labelled_traces(TRAIN_TRACES) if not (leave_out and fnmatch(t.trace.id + ".json", leave_out))
    ]
    rows = load_reward_rows(data_dir(None) / REWARD_FILE) + rows_of_labelled([*shipped, *extra])
    manifest, arrays = train_gate(examples_from_rows(rows), DEFAULT_SPEC, default_encoder())
    return TrainedGate(manifest, arrays)


def writer_offers(run: Path | None, labelled: LabelledTrace) -> list[bool] | None:
    """Whether the writer offered at each event of a `--threshold 0` run, or None without one."""
    if run is None:
        return None
    path = run / "records" / f"{labelled.trace.id}.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; pass a finished `--threshold 0` run over these folders")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(records) != len(labelled.help_needed):
        raise SystemExit(f"{path}: {len(records)} records for {len(labelled.help_needed)} events")
    return [r["proposal"]["task"] is not None for r in records]


def report(name: str, gate: TrainedGate, traces: Sequence[LabelledTrace], run: Path | None) -> None:
    parts: dict[str, list[tuple[float, bool, bool | None]]] = {}
    for labelled in traces:
        events = labelled.trace.events
        probabilities = gate.probabilities([events[: i + 1] for i in range(len(events))])
        offers: Sequence[bool | None] = writer_offers(run, labelled) or [None] * len(events)
        parts.setdefault(labelled.part, []).extend(
            zip(probabilities.tolist(), labelled.help_needed, offers, strict=True)
        )
    parts["all"] = [row for rows in list(parts.values()) for row in rows]
    print(f"\n{name}: threshold {gate.threshold:.3f}, C {gate.manifest.regularization}, "
          f"inner CV F1 {gate.manifest.inner_cv['f1']:.3f}, {gate.manifest.examples} rows")  # fmt: skip
    print("part | events | AUC | gate F1 (always) | gate BA | opens | agent F1 | agent BA | speaks")
    for part, rows in parts.items():
        p = np.array([r[0] for r in rows])
        need = [r[1] for r in rows]
        opens = [x >= gate.threshold for x in p.tolist()]
        always = timing_metrics(confusion_counts(np.ones(len(need), dtype=bool), np.array(need)))
        alone = timing_metrics(confusion_counts(np.array(opens), np.array(need)))
        line = (f"{part} | {len(rows)} | {auc(p, np.array(need)):.3f} | {alone['f1']:.3f} ({always['f1']:.3f}) | "
                f"{alone['balanced_accuracy']:.3f} | {sum(opens) / len(opens):.0%}")  # fmt: skip
        if run is not None:
            spoke = [o and bool(r[2]) for o, r in zip(opens, rows, strict=True)]
            agent = timing_metrics(confusion_counts(np.array(spoke), np.array(need)))
            line += f" | {agent['f1']:.3f} | {agent['balanced_accuracy']:.3f} | {sum(spoke) / len(spoke):.0%}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="labelled traces to score (never fitted on)")
    parser.add_argument("--extra", type=Path, action="append", default=[], help="a folder of extra training traces")
    parser.add_argument("--leave-out", help="first fit without the shipped training traces matching this")
    parser.add_argument("--t0", type=Path, help="a `bench new-traces --threshold 0` run over the same folders")
    args = parser.parse_args()
    traces = [t for folder in args.folders for t in load_labelled_traces(folder)]
    scored = {trace_key_of_events(t.trace.events) for t in traces}
    if args.leave_out:
        report(f"shipped training traces but {args.leave_out}", fitted_gate([], args.leave_out), traces, args.t0)
    report("shipped training traces", fitted_gate([]), traces, args.t0)
    for folder in args.extra:
        extra = load_labelled_traces(folder)
        if clash := [t.trace.id for t in extra if trace_key_of_events(t.trace.events) in scored]:
            raise SystemExit(f"{folder}: {', '.join(clash)} start like a scored trace; it would be fitted on")
        report(f"+ {len(extra)} traces of {folder}", fitted_gate(extra), traces, args.t0)


if __name__ == "__main__":
    main()
