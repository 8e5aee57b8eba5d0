"""Issue 18's comparison of offer writers, printed from finished run folders.

For each writer: a `proactive bench new-traces` run (timing, grounding of offers at moments of
need, distinct tasks, seconds per offer over the offers not read from the response cache) and
three `proactive bench run` runs on ProactiveBench's 233 test events with the same default
gate (LOTO: each trace's gate member fitted without it): judged by `human-labels` (content
share), by the trained LOTO judges (`--judge runs/judge-loto`) and by the `llm` judge (the
1.5B). The accept rate of a judge is the share of the writer's offers it accepted.

    .venv/bin/python bench/writer_comparison.py \\
        --writer "tuned 0.5B" runs/cmp-nt-05b-tuned runs/cmp-pb-05b-tuned runs/cmp-pbloto-05b-tuned \\
                 runs/cmp-pbllm-05b-tuned \\
        --writer ...

A folder that does not exist yet prints as "-" (the runs take hours on a CPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _metrics(run: Path) -> dict[str, Any] | None:
    path = run / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def accept_rate(run: Path) -> tuple[int, int] | None:
    """(accepted, offers) over the run's records: the judge's verdicts on the writer's offers."""
    records = sorted((run / "records").glob("*.jsonl"))
    if not records or _metrics(run) is None:
        return None
    accepted = offers = 0
    for path in records:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row["proposal"].get("task") is None:
                continue
            offers += 1
            accepted += bool((row.get("judgement") or {}).get("accepted"))
    return accepted, offers


def _rate(run: Path) -> str:
    counts = accept_rate(run)
    if counts is None:
        return "-"
    accepted, offers = counts
    return f"{accepted / max(1, offers):.2f} ({accepted}/{offers})"


def row(name: str, new_traces: Path, human: Path, loto: Path, llm: Path) -> str:
    nt = _metrics(new_traces)
    pb = _metrics(human)
    cells = [name]
    if pb is None:
        cells += ["-", "-"]
    else:
        split = pb["splits"]["real_average"]
        content = split["content"]
        cells += [f"{content['share']:.2f} [{content['share_lo']:.2f}, {content['share_hi']:.2f}]",
                  f"{split['paper']['f1']:.3f}"]  # fmt: skip
    cells += [_rate(loto), _rate(llm)]
    if nt is None:
        cells += ["-"] * 5
    else:
        part = nt["all"]
        grounded = round(part["grounded"] * part["offers_at_need"])
        cells += [
            f"{part['f1']:.3f} (always {part['always_f1']:.3f})",
            f"{part['grounded']:.2f} ({grounded}/{part['offers_at_need']})",
            f"{part['distinct']:.2f}",
            f"{part['seconds_per_offer_median']:.2f} / {part['seconds_per_offer_p95']:.2f} ({part['timed_offers']})",
            str(part["spoke"]),
        ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writer", nargs=5, action="append", required=True,
                        metavar=("NAME", "NEW_TRACES_RUN", "PB_HUMAN_RUN", "PB_LOTO_RUN", "PB_LLM_RUN"))  # fmt: skip
    args = parser.parse_args()
    print("| writer | content share (human-labels) [95%] | paper F1 (human-labels) | LOTO judge accepts | "
          "llm judge accepts | new traces: timing F1 | grounded at need | distinct | s per offer median / p95 "
          "(timed) | offers |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, *runs in args.writer:
        print(row(name, *(Path(r) for r in runs)))


if __name__ == "__main__":
    main()
