"""The trained judge end to end on a few small traces: train via the CLI, exclusion, round trip, LOTO."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from proactive.data.grouping import row_trace_keys
from proactive.data.loaders import REWARD_FILE, load_reward_rows
from proactive.types import Proposal

ROWS_PER_TRACE = 40


def _cli(*args: str, home: Path) -> Result:
    """Run `proactive judge ...` in this process (importing torch once, not per command)."""
    from proactive.cli.main import app

    return CliRunner().invoke(app, ["judge", *args], env={"PROACTIVE_HOME": str(home), "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="module")
def small(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first 40 rows of the three smallest traces (both labels in each), plus a one-row file naming one."""
    root = tmp_path_factory.mktemp("judge")
    lines = [line for line in (bench_data / REWARD_FILE).read_text().splitlines() if line.strip()]
    rows = load_reward_rows(bench_data / REWARD_FILE)
    keys = row_trace_keys(rows)
    smallest = [k for k, _ in sorted(Counter(keys).items(), key=lambda kv: kv[1])[:3]]
    taken: Counter[str] = Counter()
    subset = []
    for line, key in zip(lines, keys, strict=True):
        if key in smallest and taken[key] < ROWS_PER_TRACE:  # few texts to embed: a quick test
            taken[key] += 1
            subset.append(line)
    (root / "subset.jsonl").write_text("\n".join(subset) + "\n")
    first_of_excluded = next(line for line, key in zip(lines, keys, strict=True) if key == smallest[0])
    (root / "exclude.jsonl").write_text(first_of_excluded + "\n")
    (root / "home").mkdir()
    return {"root": root, "subset": root / "subset.jsonl", "exclude": root / "exclude.jsonl", "home": root / "home"}


def test_train_excludes_whole_traces_and_round_trips(small: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    out = small["root"] / "artifact"
    done = _cli(
        "train",
        "--data",
        str(small["subset"]),
        "--out",
        str(out),
        "--exclude-traces",
        str(small["exclude"]),
        "--seed",
        "0",
        "--no-cv",
        home=small["home"],
    )
    assert done.exit_code == 0, done.output
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
    assert verdict.score == pytest.approx(float(loaded[0]))
    assert verdict.accepted == (verdict.score >= judge.model.settings.threshold)

    # Scoring the training file itself warns about the overlap and counts it.
    scored = _cli("eval", "--judge", str(out), "--data", str(small["subset"]), "--json", home=small["home"])
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.stdout)
    assert result["overlap_rows"] == len(rows) - keys.count(excluded_key)
    assert "warning" in scored.stderr
    # The output names the judge: its artifact folder and the sha256 of its training data.
    assert str(out) in result["judge_spec"] and manifest["data_sha256"][:16] in result["judge_spec"]


def row_trace_key_of(row: object) -> str:
    from proactive.data.labels import row_trace_key

    return row_trace_key(row)  # type: ignore[arg-type]


def test_loto_eval_never_sees_the_scored_trace(small: dict[str, Path]) -> None:
    done = _cli(
        "eval", "--loto-train", str(small["subset"]), "--data", str(small["subset"]), "--json", home=small["home"]
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    rows = load_reward_rows(small["subset"])
    assert result["rows"] == len(rows)
    assert result["overlap_rows"] == 0
    assert str(small["subset"]) in result["judge_spec"] and "leave-one-trace-out" in result["judge_spec"]
    assert set(result["categories"]) == {"MN", "CR", "CD", "FA"}
    confusion = result["confusion"]
    assert result["accuracy"] == pytest.approx((confusion["tp"] + confusion["tn"]) / len(rows))


def test_overlap_rows_is_counted_from_the_rows_each_model_saw(
    small: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROACTIVE_HOME", str(small["home"]))
    from proactive.judge.features import FeatureBuilder
    from proactive.judge.loto import loto_probabilities, loto_report
    from proactive.judge.trained import TrainedSettings

    rows = load_reward_rows(small["subset"])
    keys = row_trace_keys(rows)
    held = keys[0]
    settings, builder = TrainedSettings(), FeatureBuilder()
    honest = loto_probabilities(rows, rows, settings, builder)
    assert honest.overlap_rows == 0
    # Without the exclusion every scored row's trace is among the fitted rows: the count shows it.
    leaky = loto_probabilities(rows, rows, settings, builder, leave_out=False)
    assert leaky.overlap_rows == len(rows)
    assert not np.allclose(honest.probabilities, leaky.probabilities)
    # Rows of a trace absent from the training rows never overlap, even without the exclusion.
    train = [r for r, k in zip(rows, keys, strict=True) if k != held]
    partial = loto_probabilities(train, rows, settings, builder, leave_out=False)
    assert partial.overlap_rows == len(rows) - keys.count(held)
    assert loto_report(rows, rows, settings, builder, resamples=10, leave_out=False).overlap_rows == len(rows)


def test_training_is_deterministic_given_seed(small: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROACTIVE_HOME", str(small["home"]))
    from proactive.judge.train import train_artifact

    first, second = small["root"] / "a", small["root"] / "b"
    train_artifact(small["subset"], first, set(), seed=5, cv=False)
    train_artifact(small["subset"], second, set(), seed=5, cv=False)
    assert (first / "model.json").read_bytes() == (second / "model.json").read_bytes()


def test_agree_compares_two_judges_on_a_run(
    small: dict[str, Path], bench_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run folder in the released format: code_11's first 6 steps, alternating task / silence.
    steps = json.loads((bench_data / "test_data" / "code_11.json").read_text())[:6]
    predictions = []
    for index, step in enumerate(steps):
        task = "Explain how to capitalize a name in Ruby" if index % 2 else None
        predictions.append({"observation": step["observation"], "agent_response": [task]})
    run = small["root"] / "run"
    (run / "predictions").mkdir(parents=True)
    (run / "predictions" / "code_11.json").write_text(json.dumps(predictions))
    first, second = small["root"] / "agree-a", small["root"] / "agree-b"
    monkeypatch.setenv("PROACTIVE_HOME", str(small["home"]))
    from proactive.judge.train import train_artifact

    train_artifact(small["subset"], first, set(), c=0.05, cv=False)
    train_artifact(small["subset"], second, set(), c=5.0, cv=False)
    done = _cli("agree", str(run), "--judges", str(first), "--judges", str(second), "--json", home=small["home"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["steps"] == 6
    assert sum(result["both"].values()) == 6
    both = result["both"]
    assert result["agreement"] == pytest.approx((both["both_accept"] + both["both_reject"]) / 6)
