"""The `trained` judge: two small linear models over hand-made features and MiniLM similarities.

A proposal is one of two problems (MEASURED.md): for a silence, the only question is
"does the person need help now?" (a help-needed model on state features); for a task,
"does this offer fit what the person is doing?" (a task model on state + task features).
Both are standardised logistic regressions stored as plain arrays, so judging needs only
numpy (no sklearn import, no pickle) and costs well under a millisecond after embedding.

Class weights are balanced inside each model by default: the held-back split has as many
accepted as rejected rows of each kind (30 per category), unlike the training file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from proactive.errors import UserError
from proactive.judge.features import FeatureBuilder, task_feature_names
from proactive.types import AnnotatedRow, Event, Judgement, Proposal, is_silence

if TYPE_CHECKING:  # artifact.py imports this module (JudgeModel)
    from proactive.judge.artifact import Manifest

Pair = tuple[Sequence[Event], str | None]

#: Chosen by leave-one-trace-out CV (docs/judge.md): the fit of the task to the latest
#: event relative to the trace's topic carries most of the signal; more features overfit.
CORE_TASK_FEATURES = (
    "sim_last",
    "sim_last_minus_topic",
    "sim_last_rank",
    "words_last",
    "sim_recent_max",
    "log_task_words",
    "t_provide",
)


TASK_NAMES = task_feature_names()


class TrainedSettings(BaseModel):
    """Everything that decides how the trained judge is fitted (saved in the manifest)."""

    C: float = Field(default=0.05, gt=0, description="Inverse L2 strength of the task model.")
    help_C: float = Field(default=0.01, gt=0, description="Inverse L2 strength of the help-needed model.")
    task_features: list[str] = Field(
        default_factory=lambda: list(CORE_TASK_FEATURES),
        description="Task features the task model reads (names from features.task_feature_names()).",
    )
    task_uses_state: bool = Field(
        default=False, description="Also feed the state features to the task model (hurt in LOTO CV)."
    )
    balance: bool = Field(default=True, description="Balance classes inside each model (50/50 held-back split).")
    unanimity_weight: bool = Field(
        default=False, description="Weight training rows by how strongly their annotators agreed."
    )
    help_rows: Literal["histories", "silence"] = Field(
        default="histories",
        description="Fit help-needed on every distinct history ('histories') or on silence rows only.",
    )
    task_embedding_dims: int = Field(
        default=0, ge=0, description="Principal components of the task embedding added to the task model."
    )
    threshold: float = Field(default=0.5, ge=0, le=1, description="Accept when P(accepted) >= threshold.")
    seed: int = Field(default=0, description="Seed for anything random (PCA solver).")

    @field_validator("task_features")
    @classmethod
    def _known_features(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in TASK_NAMES]
        if unknown or not names:
            raise ValueError(f"unknown task features {unknown}; choose from {TASK_NAMES}")
        return names


class LinearPart(BaseModel):
    """A standardised logistic regression as arrays: p = sigmoid(((x - mean) / scale) @ coef + bias)."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    bias: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.coef) + self.bias)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logits(x))))


class JudgeModel(BaseModel):
    """The fitted judge: help-needed model, task model, optional task-embedding projection."""

    settings: TrainedSettings
    help_model: LinearPart
    task_model: LinearPart
    projection_mean: list[float] = Field(default_factory=list)
    projection: list[list[float]] = Field(default_factory=list)

    def _task_inputs(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        columns = [TASK_NAMES.index(name) for name in self.settings.task_features]
        parts = [feats["state"]] if self.settings.task_uses_state else []
        parts.append(feats["task"][:, columns])
        if self.projection:
            parts.append((feats["task_vec"] - np.asarray(self.projection_mean)) @ np.asarray(self.projection).T)
        return np.hstack(parts)

    def accept_probability(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """P(the person accepts) per row: 1 - P(help) for silences, the task model for tasks."""
        silence_p = 1.0 - self.help_model.proba(feats["state"])
        task_p = self.task_model.proba(self._task_inputs(feats))
        return np.where(feats["is_task"], task_p, silence_p)


def _weights(labels: np.ndarray, strength: np.ndarray, settings: TrainedSettings) -> np.ndarray:
    weights = strength.astype(float) if settings.unanimity_weight else np.ones(len(labels))
    if settings.balance:
        for value in (False, True):
            mask = labels == value
            if mask.any():
                weights[mask] *= (len(labels) / 2.0) / weights[mask].sum()
    return weights


def _fit_linear(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float) -> LinearPart:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    if len(set(y.tolist())) < 2:
        raise UserError("training rows hold only one label; need accepted and rejected rows")
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((x - mean) / scale, y, sample_weight=weights)
    return LinearPart(
        mean=mean.tolist(), scale=scale.tolist(), coef=model.coef_[0].tolist(), bias=float(model.intercept_[0])
    )


def _agreement_strength(rows: Sequence[AnnotatedRow]) -> np.ndarray:
    """How far each row's annotators agreed: 1.0 unanimous, 0.33 for a 2-1 vote (training weight only)."""
    out = []
    for row in rows:
        votes = row.annotations or [row.valid]
        share = sum(votes) / len(votes)
        out.append(abs(share - 0.5) * 2 if len(votes) > 1 else 1.0)
    return np.asarray(out)


def fit_judge(rows: Sequence[AnnotatedRow], feats: dict[str, np.ndarray], settings: TrainedSettings) -> JudgeModel:
    """Fit both models on annotated rows whose features are already computed (same order)."""
    is_task = feats["is_task"]
    valid = np.asarray([r.valid for r in rows], dtype=bool)
    help_needed = np.asarray([r.help_needed for r in rows], dtype=bool)
    strength = np.maximum(_agreement_strength(rows), 0.2)
    if settings.help_rows == "silence":
        hidx = np.flatnonzero(~is_task)
    else:  # one row per distinct history: every candidate row repeats the same label
        seen: dict[tuple[str, ...], int] = {}
        for i, row in enumerate(rows):
            seen.setdefault(tuple(e.text for e in row.history), i)
        hidx = np.asarray(sorted(seen.values()))
    h_labels = help_needed[hidx]
    help_model = _fit_linear(
        feats["state"][hidx], h_labels, _weights(h_labels, strength[hidx], settings), settings.help_C
    )
    model = JudgeModel(settings=settings, help_model=help_model, task_model=help_model)
    tidx = np.flatnonzero(is_task)
    if settings.task_embedding_dims:
        from sklearn.decomposition import PCA

        dims = min(settings.task_embedding_dims, len(tidx) - 1)
        pca = PCA(n_components=dims, random_state=settings.seed).fit(feats["task_vec"][tidx])
        model.projection_mean = pca.mean_.tolist()
        model.projection = pca.components_.tolist()
    task_x = model._task_inputs({k: v[tidx] for k, v in feats.items()})
    t_labels = valid[tidx]
    model.task_model = _fit_linear(task_x, t_labels, _weights(t_labels, strength[tidx], settings), settings.C)
    return model


def rows_to_pairs(rows: Sequence[AnnotatedRow]) -> list[Pair]:
    """(history, task or None) per row; silence strings become None."""
    return [(row.history, None if is_silence(row.task) else row.task) for row in rows]


class TrainedJudge:
    """Judge protocol over a fitted `JudgeModel`; `score_pairs` is the fast batch path.

    Like the trained gate, it carries its provenance: `training_traces` (the trace keys
    it was fitted on, from its manifest), the folder it came from, and `saw_trace` (True
    only when it scores a trace it was trained on, which `pick_judge_folder` allows only
    with `allow_seen`), so reports can say which judge scored what.
    """

    name = "trained"

    def __init__(
        self,
        model: JudgeModel,
        builder: FeatureBuilder | None = None,
        training_traces: Sequence[str] = (),
        folder: Path | None = None,
        manifest: Manifest | None = None,
        trace_key: str | None = None,
        saw_trace: bool = False,
    ):
        self.model = model
        self.builder = builder or FeatureBuilder()
        self.training_traces = set(manifest.training_traces if manifest is not None else training_traces)
        self.folder = folder
        self.manifest = manifest
        #: Identity of the trace this judge was picked for (None: not picked for one trace).
        self.trace_key = trace_key
        #: True when this judge was trained on the trace it scores (allowed only by a flag).
        self.saw_trace = saw_trace

    @property
    def where(self) -> str:
        return f"trained judge {self.folder}" if self.folder is not None else "trained judge (in memory)"

    @property
    def fitted_on(self) -> str:
        """The data it was fitted on: rows, traces, file and the file's sha256."""
        if self.manifest is None:
            return f"fitted on {len(self.training_traces)} traces"
        m = self.manifest
        traces = len(m.training_traces)
        return f"fitted on {m.rows} rows of {traces} traces of {m.data_file} (sha256 {m.data_sha256[:16]})"

    @property
    def spec(self) -> str:
        """What this judge is: its artifact folder and the data it was fitted on."""
        return f"{self.where}, {self.fitted_on}"

    @property
    def provenance(self) -> str:
        """One line for reports: which judge, and whether it saw the scored trace (that first)."""
        if self.saw_trace:
            return f"JUDGE TRAINED ON THE SCORED TRACE (allowed by --allow-seen): {self.spec}"
        if self.trace_key is not None:
            return f"{self.where} (trained without this trace, checked against its manifest), {self.fitted_on}"
        return self.spec

    def score_pairs(self, pairs: Sequence[Pair]) -> np.ndarray:
        """P(accepted) for many (history, task) pairs at once."""
        if not pairs:
            return np.zeros(0)
        return self.model.accept_probability(self.builder.matrices(pairs))

    async def __call__(self, history: Sequence[Event], proposal: Proposal) -> Judgement:
        if not history:
            raise UserError("trained judge: the history is empty; it needs at least the latest event")
        task = None if proposal.is_silence else proposal.task
        score = float(np.clip(self.score_pairs([(history, task)])[0], 0.0, 1.0))
        accepted = score >= self.model.settings.threshold
        what = "silence" if task is None else "task"
        return Judgement(accepted=accepted, score=score, reason=f"trained judge: P(accept {what}) = {score:.2f}")


def load_judge(
    folder: Path,
    trace_key: str | None = None,
    allow_seen: bool = False,
    builder: FeatureBuilder | None = None,
) -> TrainedJudge:
    """The judge of `folder` (one judge or a LOTO set) that may score `trace_key`.

    With a LOTO set the judge fitted without the trace is picked (the `full` one when the
    trace has no entry or is unknown); a judge trained on the trace is refused unless
    `allow_seen` (see `pick_judge_folder`).
    """
    from proactive.judge.artifact import load_artifact, pick_judge_folder

    chosen, seen = pick_judge_folder(folder, trace_key, allow_seen)
    model, manifest = load_artifact(chosen)
    return TrainedJudge(model, builder, folder=chosen, manifest=manifest, trace_key=trace_key, saw_trace=seen)


def create(
    artifact: Path | str | None = None,
    trace_key: str | None = None,
    allow_seen: bool = False,
    builder: FeatureBuilder | None = None,
    **_: object,
) -> TrainedJudge:
    """Load a trained judge from an artifact folder (default: the state dir's `judge-trained`)."""
    from proactive.judge.artifact import default_artifact_dir

    folder = Path(artifact).expanduser() if artifact is not None else default_artifact_dir()
    return load_judge(folder, trace_key, allow_seen, builder)


def create_loto(
    artifact: Path | str | None = None,
    trace_key: str | None = None,
    allow_seen: bool = False,
    builder: FeatureBuilder | None = None,
    **_: object,
) -> TrainedJudge:
    """Load from a LOTO set (default: the state dir's `judge-loto`, from `judge train --loto`)."""
    from proactive.judge.artifact import default_loto_dir

    folder = Path(artifact).expanduser() if artifact is not None else default_loto_dir()
    return load_judge(folder, trace_key, allow_seen, builder)
