"""What `proactive judge train` and `proactive judge eval` do, apart from argument parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from proactive.data.grouping import row_trace_keys, trace_order
from proactive.data.loaders import load_reward_rows
from proactive.errors import UserError
from proactive.judge.agree import judge_pairs
from proactive.judge.artifact import (
    INDEX_FILE,
    MODEL_FILE,
    Manifest,
    default_artifact_dir,
    save_artifact,
)
from proactive.judge.evaluate import AgreementReport, agreement_report
from proactive.judge.features import FeatureBuilder
from proactive.judge.loto import loto_probabilities, loto_report
from proactive.judge.trained import TrainedSettings, fit_judge, rows_to_pairs
from proactive.provenance import code_version, file_sha256, now_utc
from proactive.types import AnnotatedRow


def progress_callback(progress: Any, description: str) -> Callable[[int, int], None]:
    """A (done, total) callback driving one rich progress bar (or nothing without progress)."""
    if progress is None:
        return lambda done, total: None
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


@dataclass
class TrainingData:
    """Reward rows with their features computed once, so many judges can be fitted from them."""

    source: Path
    sha256: str
    rows: list[AnnotatedRow]
    keys: np.ndarray
    feats: dict[str, np.ndarray]
    builder: FeatureBuilder

    @classmethod
    def load(cls, source: Path, builder: FeatureBuilder | None = None, progress: Any = None) -> TrainingData:
        rows = load_reward_rows(source)
        builder = builder or FeatureBuilder()
        pairs = rows_to_pairs(rows)
        builder.warm(pairs, progress_callback(progress, "embedding texts"))
        keys = np.asarray(row_trace_keys(rows), dtype=object)
        return cls(source, file_sha256(source), rows, keys, builder.matrices(pairs), builder)

    def fit_and_save(
        self, out: Path, excluded: set[str], settings: TrainedSettings, cv: bool, progress: Any = None
    ) -> Manifest:
        """Fit on every row outside the excluded traces; write the artifact; return its manifest."""
        keep = np.flatnonzero([key not in excluded for key in self.keys])
        rows = [self.rows[int(i)] for i in keep]
        if not rows:
            raise UserError(f"{self.source}: no rows left after excluding {len(excluded)} traces")
        model = fit_judge(rows, {k: v[keep] for k, v in self.feats.items()}, settings)
        scores: dict[str, object] = {}
        if cv and len(trace_order(row_trace_keys(rows))) > 1:
            callback = progress_callback(progress, "leave-one-trace-out CV")
            scores = loto_report(rows, rows, settings, self.builder, callback, resamples=200).flat()
        present = set(self.keys.tolist())
        manifest = Manifest(
            created=now_utc(),
            code_version=code_version(),
            data_file=str(self.source),
            data_sha256=self.sha256,
            rows=len(rows),
            excluded_traces=sorted(excluded & present) + sorted(excluded - present),
            excluded_rows=len(self.rows) - len(rows),
            training_traces=trace_order(row_trace_keys(rows)),
            settings=settings.model_dump(),
            cv=scores,
        )
        leaked = set(manifest.training_traces) & excluded
        if leaked:  # cannot happen by construction; a judge must never carry a wrong manifest
            raise AssertionError(f"excluded traces were trained on: {sorted(leaked)}")
        save_artifact(out, model, manifest)
        return manifest


def refuse_mixed_folder(out: Path, loto: bool) -> None:
    """One folder holds one judge or one LOTO set, never both (the bench could not tell which is meant)."""
    if not loto and (out / INDEX_FILE).is_file():
        raise UserError(f"{out}: holds a leave-one-trace-out judge set (index.json); pass another --out")
    if loto and (out / MODEL_FILE).is_file():
        raise UserError(f"{out}: holds a single trained judge (model.json); pass another --out for --loto")


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
    folder = out or default_artifact_dir()
    refuse_mixed_folder(folder, loto=False)
    data = TrainingData.load(source, builder, progress)
    return data.fit_and_save(folder, excluded, TrainedSettings(C=c, seed=seed), cv, progress)


def eval_with_loto(
    train_file: Path, rows: Sequence[AnnotatedRow], seed: int, progress: Any = None
) -> tuple[AgreementReport, str]:
    """Each scored row judged by a trained judge fitted on `train_file` minus the row's whole trace."""
    train_rows = load_reward_rows(train_file)
    settings = TrainedSettings(seed=seed)
    builder = FeatureBuilder()
    builder.warm(rows_to_pairs([*train_rows, *rows]), progress_callback(progress, "embedding texts"))
    scores = loto_probabilities(
        train_rows, rows, settings, builder, progress_callback(progress, "fit per held-out trace")
    )
    report = agreement_report(
        [r.valid for r in rows],
        (scores.probabilities >= settings.threshold).tolist(),
        [r.category for r in rows],
        groups=row_trace_keys(rows),
        overlap_rows=scores.overlap_rows,
        seed=seed,
    )
    spec = (
        f"trained judges fitted on {train_file} (sha256 {file_sha256(train_file)[:16]}) "
        "minus each scored trace (leave-one-trace-out)"
    )
    return report, spec


def judge_spec(judge: object, name: str) -> str:
    """What a judge is, in one line: its model spec or artifact, as the judge states it."""
    for attribute in ("spec", "provenance"):
        value = getattr(judge, attribute, None)
        if value:
            return str(value)
    return name


def eval_with_judge(
    name: str, rows: Sequence[AnnotatedRow], options: dict[str, object], seed: int, progress: Any = None
) -> tuple[AgreementReport, str]:
    """Score rows with a named judge (or artifact folder) and count rows from its training traces."""
    from proactive.judge.base import get_judge

    judge = get_judge(name, **options)
    seen = set(getattr(judge, "training_traces", set()))
    keys = row_trace_keys(rows)
    overlap = int(np.sum([key in seen for key in keys]))
    verdicts = asyncio.run(judge_pairs(judge, rows_to_pairs(rows), progress_callback(progress, f"judging with {name}")))
    report = agreement_report(
        [r.valid for r in rows],
        [accepted for accepted, _ in verdicts],
        [r.category for r in rows],
        groups=keys,
        overlap_rows=overlap,
        seed=seed,
    )
    return report, judge_spec(judge, name)
