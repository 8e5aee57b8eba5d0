"""What `proactive judge train` and `proactive judge eval` do, apart from argument parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from proactive.data.grouping import drop_traces, row_trace_keys, trace_order
from proactive.data.loaders import load_reward_rows
from proactive.errors import UserError
from proactive.judge.agree import judge_pairs
from proactive.judge.artifact import Manifest, code_version, default_artifact_dir, file_sha256, now_utc, save_artifact
from proactive.judge.evaluate import AgreementReport, agreement_report
from proactive.judge.features import FeatureBuilder
from proactive.judge.loto import loto_probabilities, loto_report
from proactive.judge.trained import TrainedSettings, fit_judge, rows_to_pairs
from proactive.types import AnnotatedRow


def progress_callback(progress: Any, description: str) -> Callable[[int, int], None]:
    """A (done, total) callback driving one rich progress bar (or nothing without progress)."""
    if progress is None:
        return lambda done, total: None
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


def train_artifact(
    source: Path,
    out: Path | None,
    excluded: set[str],
    seed: int = 0,
    c: float = 0.05,
    cv: bool = True,
    progress: Any = None,
    builder: FeatureBuilder | None = None,
) -> Manifest:
    """Fit on `source` minus the excluded traces; write the artifact; return its manifest."""
    all_rows = load_reward_rows(source)
    rows = drop_traces(all_rows, excluded)
    if not rows:
        raise UserError(f"{source}: no rows left after excluding {len(excluded)} traces")
    settings = TrainedSettings(C=c, seed=seed)
    builder = builder or FeatureBuilder()
    pairs = rows_to_pairs(rows)
    builder.warm(pairs, progress_callback(progress, "embedding texts"))
    feats = builder.matrices(pairs)
    model = fit_judge(rows, feats, settings)
    scores: dict[str, object] = {}
    if cv and len(trace_order(row_trace_keys(rows))) > 1:
        report = loto_report(
            rows, rows, settings, builder, progress_callback(progress, "leave-one-trace-out CV"), resamples=200
        )
        scores = report.flat()
    present = {k for k in row_trace_keys(all_rows)}
    manifest = Manifest(
        created=now_utc(),
        code_version=code_version(),
        data_file=str(source),
        data_sha256=file_sha256(source),
        rows=len(rows),
        excluded_traces=sorted(excluded & present) + sorted(excluded - present),
        excluded_rows=len(all_rows) - len(rows),
        training_traces=trace_order(row_trace_keys(rows)),
        settings=settings.model_dump(),
        cv=scores,
    )
    save_artifact(out or default_artifact_dir(), model, manifest)
    return manifest


def eval_with_loto(train_file: Path, rows: Sequence[AnnotatedRow], seed: int, progress: Any = None) -> AgreementReport:
    """Each scored row judged by a trained judge fitted on `train_file` minus the row's whole trace."""
    train_rows = load_reward_rows(train_file)
    settings = TrainedSettings(seed=seed)
    builder = FeatureBuilder()
    builder.warm(rows_to_pairs([*train_rows, *rows]), progress_callback(progress, "embedding texts"))
    probs = loto_probabilities(
        train_rows, rows, settings, builder, progress_callback(progress, "fit per held-out trace")
    )
    return agreement_report(
        [r.valid for r in rows],
        (probs >= settings.threshold).tolist(),
        [r.category for r in rows],
        overlap_rows=0,
        seed=seed,
    )


def eval_with_judge(
    name: str, rows: Sequence[AnnotatedRow], options: dict[str, object], seed: int, progress: Any = None
) -> AgreementReport:
    """Score rows with a named judge (or artifact folder) and count rows from its training traces."""
    from proactive.judge.base import get_judge

    judge = get_judge(name, **options)
    seen = set(getattr(judge, "training_traces", set()))
    overlap = int(np.sum([key in seen for key in row_trace_keys(rows)]))
    verdicts = asyncio.run(judge_pairs(judge, rows_to_pairs(rows), progress_callback(progress, f"judging with {name}")))
    return agreement_report(
        [r.valid for r in rows],
        [accepted for accepted, _ in verdicts],
        [r.category for r in rows],
        overlap_rows=overlap,
        seed=seed,
    )
