"""Can the llm judge tell good from bad? Its P(yes) on rows of traces the bench never scores.

For each reward row of a non-test trace (`--split`), stratified up to `--per-category` rows
of each category (MN, CR, CD, FA; seed 0), writes to `OUT/scores.jsonl` (resumable: rows
already there are skipped) the judge's P(yes) for the row's offer or silence, asked exactly
as the bench asks it, and P(yes) for the `always` baseline's generic offer at the same moment.
Then prints each category's agreement at several thresholds, the ranking quality (AUC) of
P(yes) for offers and for silences, and how often the generic offer would be accepted. A
judge whose P(yes) does not rank people's verdicts cannot tell an agent from always-propose.

    python bench/llm_judge_calibration.py --out runs/judge-calibration [--per-category 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

from rich.progress import track
from sklearn.metrics import roc_auc_score

from proactive.agent.baselines import GENERIC_TASK
from proactive.data.labels import row_trace_key, trace_keys_by_id
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
from proactive.judge.llm_judge import DEFAULT_MODEL, create
from proactive.settings import data_dir
from proactive.types import Proposal

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-category", type=int, default=15)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--split", default="real_average")
    args = parser.parse_args()
    data = data_dir(None)
    rows = load_reward_rows(data / REWARD_FILE)
    test_keys = set(trace_keys_by_id(load_test_traces(data, args.split)).values())
    kept = [(i, r) for i, r in enumerate(rows) if row_trace_key(r) not in test_keys]
    by_category: dict[str, list[int]] = {}
    for index, row in kept:
        by_category.setdefault(row.category, []).append(index)
    rng = random.Random(0)
    chosen = sorted(i for ids in by_category.values() for i in rng.sample(ids, min(args.per_category, len(ids))))
    args.out.mkdir(parents=True, exist_ok=True)
    scores_path = args.out / "scores.jsonl"
    done = {json.loads(line)["row"] for line in scores_path.open()} if scores_path.exists() else set()
    judge = create(args.model)
    traces = {row_trace_key(rows[i]) for i in chosen}
    print(f"{len(chosen)} rows of {len(traces)} non-test traces ({len(kept)} such rows in all); {len(done)} done")
    with scores_path.open("a") as out:
        for index in track([i for i in chosen if i not in done], description="judging"):
            row = rows[index]
            # The judge itself, as the bench calls it: in logprob mode its score is P(yes).
            p_accept = asyncio.run(judge(row.history, Proposal(task=row.task))).score
            p_generic = asyncio.run(judge(row.history, Proposal(task=GENERIC_TASK))).score
            record = {
                "row": index, "trace": row_trace_key(row), "category": row.category, "valid": row.valid,
                "proposal": row.task is not None, "p_accept": p_accept, "p_generic": p_generic,
            }  # fmt: skip
            out.write(json.dumps(record) + "\n")
            out.flush()
    report([json.loads(line) for line in scores_path.open()])


def report(records: list[dict[str, object]]) -> None:
    """Agreement per category by threshold, AUCs, and the generic offer's acceptance."""
    print(f"\n{len(records)} rows; agreement with people per category")
    print("threshold | MN | CR | CD | FA | balanced | generic offer accepted")
    for threshold in THRESHOLDS:
        shares = []
        for name in ("MN", "CR", "CD", "FA"):
            of = [r for r in records if r["category"] == name]
            shares.append(sum((float(r["p_accept"]) >= threshold) == r["valid"] for r in of) / max(len(of), 1))
        generic = sum(float(r["p_generic"]) >= threshold for r in records) / len(records)
        cells = " | ".join(f"{s:.2f}" for s in shares)
        print(f"{threshold:g} | {cells} | {sum(shares) / 4:.3f} | {generic:.2f}")
    for kind, proposal in (("offers", True), ("silences", False)):
        of = [r for r in records if r["proposal"] is proposal]
        labels = [bool(r["valid"]) for r in of]
        if len(set(labels)) == 2:
            auc = roc_auc_score(labels, [float(r["p_accept"]) for r in of])
            print(f"AUC of P(yes) for people's verdict on {kind}: {auc:.3f} ({len(of)} rows)")
    offers = [r for r in records if r["proposal"]]
    higher = sum(float(r["p_generic"]) >= float(r["p_accept"]) for r in offers) / max(len(offers), 1)
    print(f"the generic offer scores at least the real offer's P(yes) at {higher:.0%} of offer rows")


if __name__ == "__main__":
    main()
