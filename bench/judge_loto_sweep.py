"""Leave-one-trace-out sweep of trained-judge settings over the reward rows (model choice by LOTO only).

    .venv/bin/python bench/judge_loto_sweep.py [--data DIR] [--quick]

Prints one line per setting: accuracy, F1, category-balanced accuracy, per-category agreement.
"""

from __future__ import annotations

import argparse
import itertools
import time

from proactive.data.grouping import row_trace_keys
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.judge.evaluate import agreement_report
from proactive.judge.features import FeatureBuilder, task_feature_names
from proactive.judge.loto import loto_from_features
from proactive.judge.trained import CORE_TASK_FEATURES, TrainedSettings, rows_to_pairs
from proactive.settings import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="ProactiveBench folder")
    parser.add_argument("--quick", action="store_true", help="a handful of settings only")
    args = parser.parse_args()
    rows = load_reward_rows(data_dir(args.data) / REWARD_FILE)
    feats = FeatureBuilder().matrices(rows_to_pairs(rows))
    unanimous = [i for i, r in enumerate(rows) if len(set(r.annotations)) == 1]
    keys_of_rows = row_trace_keys(rows)
    grid: dict[str, list[object]] = {
        "C": [0.01, 0.05, 0.3] if not args.quick else [0.05],
        "help_C": [0.01, 0.05] if not args.quick else [0.01],
        "balance": [True, False],
        "unanimity_weight": [False, True],
        "help_rows": ["histories", "silence"],
        "task_features": [list(CORE_TASK_FEATURES), task_feature_names()],
        "task_uses_state": [False, True],
        "task_embedding_dims": [0, 16] if not args.quick else [0],
    }
    keys = list(grid)
    print("setting | acc | f1 | bal_acc | MN CR CD FA | unanimous rows: acc bal_acc | seconds")
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = TrainedSettings(**dict(zip(keys, values, strict=True)))  # type: ignore[arg-type]
        start = time.perf_counter()
        probs = loto_from_features(rows, feats, rows, feats, settings)
        accepted = (probs >= settings.threshold).tolist()
        truth, cats = [r.valid for r in rows], [r.category for r in rows]
        report = agreement_report(truth, accepted, cats, groups=keys_of_rows, resamples=0)
        unan = agreement_report(
            [truth[i] for i in unanimous],
            [accepted[i] for i in unanimous],
            [cats[i] for i in unanimous],
            groups=[keys_of_rows[i] for i in unanimous],
            resamples=0,
        )
        per_cat = " ".join(f"{report.categories[c].value:.3f}" for c in ("MN", "CR", "CD", "FA"))
        label = ",".join(
            f"{k}={'core' if v == list(CORE_TASK_FEATURES) else 'all' if isinstance(v, list) else v}"
            for k, v in zip(keys, values, strict=True)
        )
        print(
            f"{label} | {report.accuracy.value:.3f} | {report.f1.value:.3f} | "
            f"{report.balanced_accuracy.value:.3f} | {per_cat} | "
            f"{unan.accuracy.value:.3f} {unan.balanced_accuracy.value:.3f} | {time.perf_counter() - start:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
