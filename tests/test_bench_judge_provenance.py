"""A trained judge never scores a trace it was fitted on unless the run says so, loudly.

Real components throughout: judges fitted on real ProactiveBench reward rows (a few
traces, no CV, so it stays quick), real bench runs on the first events of code_11.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from proactive.data.grouping import row_trace_keys
from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces

ROWS_PER_CATEGORY = 8
TRACE = "code_11"


def _cli(*args: str) -> Result:
    from proactive.cli.main import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def home(module_state_home: Path) -> Path:
    """One state dir for the module, so MiniLM embeddings are computed once."""
    return module_state_home


@pytest.fixture(scope="module")
def setup(bench_data: Path, home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reward rows of code_11 and two other test traces; a judge fitted on all of them; a LOTO set."""
    root = tmp_path_factory.mktemp("judges")
    lines = [line for line in (bench_data / REWARD_FILE).read_text().splitlines() if line.strip()]
    rows = load_reward_rows(bench_data / REWARD_FILE)
    keys = row_trace_keys(rows)
    test_keys = {t.id: trace_key_of_events(t.events) for t in load_test_traces(bench_data)}
    counts = Counter(keys)
    others = sorted((k for k in test_keys.values() if k != test_keys[TRACE] and counts[k]), key=counts.__getitem__)
    chosen = [test_keys[TRACE], *others[:2]]
    taken: Counter[tuple[str, str]] = Counter()
    subset = []
    for line, key, row in zip(lines, keys, rows, strict=True):
        # A few rows of each category (MN CR CD FA) per trace: both labels for both models, few texts.
        if key in chosen and taken[key, row.category] < ROWS_PER_CATEGORY:
            taken[key, row.category] += 1
            subset.append(line)
    rows_file = root / "rows.jsonl"
    rows_file.write_text("\n".join(subset) + "\n")
    seen, loto = root / "judge-all", root / "judge-loto"
    done = _cli("judge", "train", "--data", str(rows_file), "--out", str(seen), "--no-cv")
    assert done.exit_code == 0, done.output
    done = _cli(
        "judge", "train", "--loto", "--data", str(rows_file), "--bench-data", str(bench_data),
        "--out", str(loto), "--no-cv",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "13 fitted, 0 kept" in done.output
    return {"root": root, "rows": rows_file, "seen": seen, "loto": loto, "code_11_key": Path(test_keys[TRACE])}


def _bench(bench_data: Path, out: Path, judge: Path, *extra: str) -> list[str]:
    return [
        "bench", "run", "--agent", "always", "--data", str(bench_data), "--out", str(out), "--judge", str(judge),
        "--traces", TRACE, "--limit", "3", "--no-baselines", "--samples", "50", *extra,
    ]  # fmt: skip


def test_judge_trained_on_the_scored_trace_is_refused_in_one_line(
    setup: dict[str, Path], bench_data: Path, home: Path
) -> None:
    manifest = json.loads((setup["seen"] / "manifest.json").read_text())
    assert str(setup["code_11_key"]) in manifest["training_traces"]
    out = setup["root"] / "refused"
    env = {**os.environ, "PROACTIVE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", *_bench(bench_data, out, setup["seen"])],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "trained on 1 of the 1 scored traces (code_11)" in lines[0] and "--allow-seen" in lines[0]
    assert not (out / "run.json").exists()


def test_allow_seen_runs_and_the_header_says_the_judge_saw_the_trace(setup: dict[str, Path], bench_data: Path) -> None:
    out = setup["root"] / "allowed"
    done = _cli(*_bench(bench_data, out, setup["seen"], "--allow-seen"))
    assert done.exit_code == 0, done.output
    loud = "JUDGE TRAINED ON THE SCORED TRACE (allowed by --allow-seen)"
    header = [line for line in done.stdout.splitlines() if line.startswith("judge for code_11:")]
    assert len(header) == 1 and loud in header[0] and str(setup["seen"]) in header[0]
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["judge_saw_traces"] == [TRACE]
    assert loud in manifest["judge_per_trace"][TRACE]
    assert manifest["events_done"] == 3
    steps = json.loads((out / "predictions" / f"{TRACE}.json").read_text())
    assert len(steps) == 3 and all(s["judge_reason"][0].startswith("trained judge: P(accept") for s in steps)
    assert any(loud in line for line in json.loads((out / "metrics.json").read_text())["header"])


def test_loto_set_holds_one_judge_per_trace_none_trained_on_its_own(setup: dict[str, Path], bench_data: Path) -> None:
    index = json.loads((setup["loto"] / "index.json").read_text())
    traces = load_test_traces(bench_data)
    assert [e["trace_id"] for e in index["entries"]] == [t.id for t in traces]
    subset_keys = set(row_trace_keys(load_reward_rows(setup["rows"])))
    for entry, trace in zip(index["entries"], traces, strict=True):
        assert entry["trace_key"] == trace_key_of_events(trace.events)
        manifest = json.loads((setup["loto"] / entry["folder"] / "manifest.json").read_text())
        assert entry["trace_key"] not in manifest["training_traces"]
        assert set(manifest["training_traces"]) == subset_keys - {entry["trace_key"]}
    full = json.loads((setup["loto"] / index["full"] / "manifest.json").read_text())
    assert set(full["training_traces"]) == subset_keys
    # Resumable: a second run keeps every folder whose manifest already lists the intended traces.
    before = (setup["loto"] / TRACE / "model.json").stat().st_mtime_ns
    again = _cli(
        "judge", "train", "--loto", "--data", str(setup["rows"]), "--bench-data", str(bench_data),
        "--out", str(setup["loto"]), "--no-cv",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "0 fitted, 13 kept" in again.output
    assert (setup["loto"] / TRACE / "model.json").stat().st_mtime_ns == before


def test_bench_with_a_loto_set_names_each_traces_judge(setup: dict[str, Path], bench_data: Path) -> None:
    out = setup["root"] / "loto-run"
    done = _cli(*_bench(bench_data, out, setup["loto"]))
    assert done.exit_code == 0, done.output
    header = [line for line in done.stdout.splitlines() if line.startswith("judge for code_11:")]
    assert len(header) == 1, done.stdout
    assert f"trained judge {setup['loto'] / TRACE} (trained without this trace" in header[0]
    assert "trained without this trace, checked against its manifest" in header[0]
    assert "SCORED TRACE" not in done.stdout
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["judge_saw_traces"] == []
    steps = json.loads((out / "predictions" / f"{TRACE}.json").read_text())
    assert len(steps) == 3 and all(s["judge_reason"][0].startswith("trained judge: P(accept") for s in steps)


def test_trace_without_an_entry_gets_full_only_if_full_never_saw_it(setup: dict[str, Path]) -> None:
    from proactive.errors import UserError
    from proactive.judge.artifact import LotoIndex, pick_judge_folder, save_index

    copy = setup["root"] / "loto-without-code_11"
    shutil.copytree(setup["loto"], copy)
    index = LotoIndex.model_validate_json((copy / "index.json").read_text())
    save_index(copy, index.model_copy(update={"entries": [e for e in index.entries if e.trace_id != TRACE]}))
    key = str(setup["code_11_key"])
    with pytest.raises(UserError, match="trained on the scored trace"):
        pick_judge_folder(copy, key, allow_seen=False)
    assert pick_judge_folder(copy, key, allow_seen=True) == (copy / "full", True)
    # A trace the full judge never saw (not in the rows) is scored by it without complaint.
    assert pick_judge_folder(copy, "00:00|a trace nobody annotated", allow_seen=False) == (copy / "full", False)


def test_trained_judge_carries_its_provenance(setup: dict[str, Path]) -> None:
    from proactive.judge.trained import create

    manifest = json.loads((setup["seen"] / "manifest.json").read_text())
    judge = create(artifact=setup["seen"])
    assert judge.training_traces == set(manifest["training_traces"])
    assert str(setup["seen"]) in judge.provenance and manifest["data_sha256"][:16] in judge.provenance
    picked = create(artifact=setup["loto"], trace_key=str(setup["code_11_key"]))
    assert picked.folder == setup["loto"] / TRACE and not picked.saw_trace
    assert str(setup["code_11_key"]) not in picked.training_traces
