"""Inter-annotator agreement of reward rows: pairwise percent agreement and Fleiss' kappa.

A subject is one reward row (a candidate task, or the silence row); its raters are the
annotators, each saying accept (True) or not. For N subjects each rated by n raters into k
categories, with n_ij raters putting subject i in category j (Fleiss 1971):

    P_i   = (sum_j n_ij^2 - n) / (n (n - 1))      agreement on subject i (share of agreeing pairs)
    P_bar = mean_i P_i                              pairwise percent agreement
    p_j   = sum_i n_ij / (N n)                      share of all ratings in category j
    P_e   = sum_j p_j^2                             agreement expected by chance
    kappa = (P_bar - P_e) / (1 - P_e)

Fleiss' kappa needs the same number of raters per subject, so rows with another count (the
released data has rows with two) are left out and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proactive.annotate.export import build_rows
from proactive.annotate.store import REQUIRED_LABELS, Store
from proactive.data.loaders import parse_reward_row
from proactive.errors import UserError
from proactive.fileio import read_jsonl


class Agreement(BaseModel):
    """Agreement figures of one group of rows."""

    group: str = Field(description="'all', 'setting=coding', 'rows=task', 'rows=silence' ...")
    subjects: int = Field(description="Rows with the expected number of raters (used).")
    left_out: int = Field(description="Rows with another number of raters (not used).")
    raters: int = Field(description="Raters per subject.")
    pairwise: float | None = Field(description="Mean share of agreeing rater pairs (P_bar).")
    kappa: float | None = Field(description="Fleiss' kappa; None when chance agreement is 1 (one category only).")
    accept_rate: float | None = Field(description="Share of all ratings that accept.")


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> tuple[float, float | None]:
    """(P_bar, kappa) of a subjects x categories count table with a constant number of raters."""
    if not counts:
        raise ValueError("no subjects")
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError("every subject needs the same number (>= 2) of raters")
    subjects = len(counts)
    per_subject = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in counts]
    p_bar = sum(per_subject) / subjects
    shares = [sum(row[j] for row in counts) / (subjects * raters) for j in range(len(counts[0]))]
    p_e = sum(p * p for p in shares)
    kappa = None if p_e >= 1.0 else (p_bar - p_e) / (1 - p_e)
    return p_bar, kappa


def agreement(group: str, annotations: Sequence[Sequence[bool]], raters: int = REQUIRED_LABELS) -> Agreement:
    """Figures for binary ratings (one list of booleans per row); rows with another rater count are left out."""
    used = [votes for votes in annotations if len(votes) == raters]
    left_out = len(annotations) - len(used)
    if not used:
        return Agreement(group=group, subjects=0, left_out=left_out, raters=raters, pairwise=None, kappa=None,
                         accept_rate=None)  # fmt: skip
    counts = [[sum(votes), raters - sum(votes)] for votes in used]
    pairwise, kappa = fleiss_kappa(counts)
    accept = sum(row[0] for row in counts) / (len(used) * raters)
    return Agreement(group=group, subjects=len(used), left_out=left_out, raters=raters, pairwise=pairwise,
                     kappa=kappa, accept_rate=accept)  # fmt: skip


def report(rows: Sequence[dict[str, Any]], raters: int = REQUIRED_LABELS) -> list[Agreement]:
    """Overall, by row kind (task / silence), and per setting when rows carry one."""
    groups: dict[str, list[list[bool]]] = {"all": []}
    for row in rows:
        votes = list(row["annotation"])
        kind = "rows=silence" if row["pred_task"] is None else "rows=task"
        keys = ["all", kind] + ([f"setting={row['setting']}"] if row.get("setting") else [])
        for key in keys:
            groups.setdefault(key, []).append(votes)
    return [agreement(name, votes, raters) for name, votes in groups.items()]


def rows_from_file(path: Path) -> list[dict[str, Any]]:
    """Reward rows of a JSONL file, checked by the reward loader (one-line errors), with `setting` if present."""
    if not path.is_file():
        raise UserError(f"{path}: reward rows file not found; check --rows")
    rows = []
    for where, raw in read_jsonl(path):  # read once: checked by the reward parser, `setting` kept
        row = parse_reward_row(raw, path, where)
        rows.append({"pred_task": row.task, "annotation": row.annotations, "setting": raw.get("setting")})
    return rows


def rows_from_db(path: Path) -> list[dict[str, Any]]:
    """The rows `annotate export` would write for the database (items with three labels)."""
    if not path.is_file():
        raise UserError(f"{path}: annotation database not found; check --db")
    return build_rows(Store(path).all_labels()).rows


def rater_counts(rows: Sequence[dict[str, Any]]) -> Counter[int]:
    """How many rows have each number of annotations."""
    return Counter(len(row["annotation"]) for row in rows)
