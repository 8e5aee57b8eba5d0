"""The trained judge end to end on a few small traces: train via the CLI, exclusion, round trip, LOTO."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from proactive.data.grouping import row_trace_keys
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.types import Proposal


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROACTIVE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", "judge", *args],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def small(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three smallest traces of the reward file, plus a one-row file naming one of them."""
    root = tmp_path_factory.mktemp("judge")
    lines = [line for line in (bench_data / REWARD_FILE).read_text().splitlines() if line.strip()]
    rows = load_reward_rows(bench_data / REWARD_FILE)
    keys = row_trace_keys(rows)
    smallest = [k for k, _ in sorted(Counter(keys).items(), key=lambda kv: kv[1])[:3]]
    subset = [line for line, key in zip(lines, keys, strict=True) if key in smallest]
    (root / "subset.jsonl").write_text("\n".join(subset) + "\n")
    first_of_excluded = next(line for line, key in zip(lines, keys, strict=True) if key == smallest[0])
    (root / "exclude.jsonl").write_text(first_of_excluded + "\n")
    (root / "home").mkdir()
    return {"root": root, "subset": root / "subset.jsonl", "exclude": root / "exclude.jsonl", "home": root / "home"}


def test_train_excludes_whole_traces_and_round_trips(small: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    out = small["root"] / "artifact"
    done = _cli(
        "train", "--data", str(small["subset"]), "--out", str(out),
        "--exclude-traces", str(small["exclude"]), "--seed", "0", "--no-cv", home=small["home"],
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    rows = load_reward_rows(small["subset"])
    keys = row_trace_keys(rows)
    excluded_key = row_trace_keys(load_reward_rows(small["exclude"]))[0]
    assert manifest["excluded_traces"] == [excluded_key]
    assert manifest["excluded_rows"] == keys.count(excluded_key)
    assert manifest["rows"] == len(rows) - keys.count(excluded_key)
    assert excluded_key not in manifest["training_traces"] and len(manifest["training_traces"]) == 2
    assert (out / "model.json").stat().st_size < 50_000_000

    # Round trip: the loaded artifact scores exactly like a model fitted in this process.
    monkeypatch.setenv("PROACTIVE_HOME", str(small["home"]))
    from proactive.judge.features import FeatureBuilder
    from proactive.judge.trained import TrainedSettings, create, fit_judge, rows_to_pairs

    judge = create(artifact=out)
    kept = [r for r in rows if row_trace_key_of(r) != excluded_key]
    builder = FeatureBuilder()
    fresh = fit_judge(kept, builder.matrices(rows_to_pairs(kept)), TrainedSettings(**manifest["settings"]))
    loaded = judge.score_pairs(rows_to_pairs(rows))
    in_memory = fresh.accept_probability(builder.matrices(rows_to_pairs(rows)))
    np.testing.assert_allclose(loaded, in_memory, rtol=1e-9, atol=1e-12)
    verdict = asyncio.run(judge(rows[0].history, Proposal(task=rows[0].task)))
    assert verdict.score == pytest.approx(float(loaded[0])) and 0.0 <= verdict.score <= 1.0

    # Scoring the training file itself warns about the overlap and counts it.
    scored = _cli("eval", "--judge", str(out), "--data", str(small["subset"]), "--json", home=small["home"])
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["overlap_rows"] == len(rows) - keys.count(excluded_key)
    assert "warning" in scored.stderr


def row_trace_key_of(row: object) -> str:
    from proactive.data.labels import row_trace_key

    return row_trace_key(row)  # type: ignore[arg-type]


def test_loto_eval_never_sees_the_scored_trace(small: dict[str, Path]) -> None:
    done = _cli("eval", "--loto-train", str(small["subset"]), "--data", str(small["subset"]), "--json", home=small["home"])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == len(load_reward_rows(small["subset"]))
    assert result["overlap_rows"] == 0
    assert set(result["categories"]) == {"MN", "CR", "CD", "FA"}
    assert 0.0 <= result["accuracy"] <= 1.0 and result["accuracy_lo"] <= result["accuracy"] <= result["accuracy_hi"]


def test_training_is_deterministic_given_seed(small: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROACTIVE_HOME", str(small["home"]))
    from proactive.judge.train import train_artifact

    first, second = small["root"] / "a", small["root"] / "b"
    train_artifact(small["subset"], first, set(), seed=5, cv=False)
    train_artifact(small["subset"], second, set(), seed=5, cv=False)
    assert (first / "model.json").read_bytes() == (second / "model.json").read_bytes()
