"""`annotate candidates` with the real embedded smollm2-135m and real MiniLM embeddings on a 3-event trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from proactive.agent.llm_agent import _idle_models
from proactive.annotate.candidates import Proposed, dedup, farthest_point, select
from proactive.annotate.tasks import load_task_set
from proactive.cli.main import app
from proactive.data.loaders import TEST_DIR, load_trace_file
from proactive.models.cache import CachedModel
from proactive.models.embeddings import embed
from proactive.models.llama import LlamaModel

runner = CliRunner()
MODEL = "local/smollm2-135m"


def test_dedup_merges_spelling_variants_and_keeps_who_proposed() -> None:
    merged = dedup(
        [("Fix the test.", "a"), ("fix  the test", "b"), ("None", "a"), ("Write docs", "b"), ("Fix the test", "a")]
    )
    assert [(p.task, p.models) for p in merged] == [("Fix the test.", ["a", "b"]), ("Write docs", ["b"])]


def test_farthest_point_picks_the_most_spread_rows() -> None:
    angles = np.radians([0.0, 5.0, 90.0, 180.0, 95.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert farthest_point(vectors, 2) == [0, 3]  # the opposite one first
    assert farthest_point(vectors, 3) == [0, 2, 3]  # then the one at a right angle to both
    assert farthest_point(vectors, 9) == [0, 1, 2, 3, 4]


def test_select_on_minilm_drops_a_paraphrase_first(module_state_home: Path) -> None:
    proposed = [Proposed(task=t, models=["m"]) for t in (
        "Explain how to capitalize a person's name in Ruby.",
        "Show how to capitalise each word of a name in Ruby.",
        "Book a table for dinner on Friday.",
    )]  # fmt: skip
    kept = select(proposed, 2, lambda texts: embed(texts))
    assert [p.task for p in kept] == [proposed[0].task, proposed[2].task]


def test_candidates_cli_runs_a_real_model_resumes_and_feeds_the_loader(
    bench_data: Path, tmp_path: Path, module_state_home: Path
) -> None:
    source = json.loads((bench_data / TEST_DIR / "code_11.json").read_text(encoding="utf-8"))
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "code_11.json").write_text(json.dumps(source[:3]), encoding="utf-8")
    out = tmp_path / "candidates"
    args = ["annotate", "candidates", "--traces", str(traces), "--models", MODEL, "--out", str(out),
            "--per-event", "2", "--samples", "2", "--temperature", "0.9", "--max-tokens", "96"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = json.loads((out / "code_11.json").read_text(encoding="utf-8"))
    original = load_trace_file(traces / "code_11.json")
    assert [s["observation"]["event"] for s in steps] == [e.text for e in original.events]
    for step in steps:
        tasks, models = step["agent_response"]["candidate_task"], step["agent_response"]["candidate_models"]
        assert 1 <= len(tasks) <= 2 and len(models) == len(tasks)
        assert len({t.lower() for t in tasks}) == len(tasks)
        assert all(set(m) <= {f"{MODEL}#0", f"{MODEL}#1"} for m in models)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["traces"]["code_11"]["events"] == 3
    assert run["traces"]["code_11"]["candidates"] == sum(len(s["agent_response"]["candidate_task"]) for s in steps)
    # The output is a tasks folder as it is.
    loaded = load_task_set(out)
    assert loaded.files == 1 and len(loaded.items) + loaded.skipped_steps == 3
    # Resume: the finished trace is kept as it is; other settings are refused in one line.
    before = (out / "code_11.json").stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (out / "code_11.json").stat().st_mtime_ns == before
    changed = runner.invoke(app, [*args[:-1], "64"])
    assert changed.exit_code != 0 and "other settings" in str(changed.exception)


def test_samples_are_seeds_of_one_loaded_model(bench_data: Path, tmp_path: Path, module_state_home: Path) -> None:
    source = json.loads((bench_data / TEST_DIR / "code_11.json").read_text(encoding="utf-8"))
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "code_11.json").write_text(json.dumps(source[:2]), encoding="utf-8")
    _idle_models.pop(MODEL, None)  # whatever earlier tests of this process left idle
    args = ["annotate", "candidates", "--traces", str(traces), "--models", MODEL, "--out", str(tmp_path / "out"),
            "--per-event", "5", "--samples", "3", "--temperature", "0.9", "--max-tokens", "96"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # One model object served all three samples (it was one per sample before), loaded once.
    pool = _idle_models[MODEL]
    assert len(pool) == 1
    model = pool[0]
    assert isinstance(model, CachedModel) and isinstance(model.inner, LlamaModel)
    assert len(model.inner._pool) <= 1  # zero when every answer came from the response cache
    steps = json.loads((tmp_path / "out" / "code_11.json").read_text(encoding="utf-8"))
    writers = [runs for step in steps for runs in step["agent_response"]["candidate_models"]]
    assert {run for runs in writers for run in runs} <= {f"{MODEL}#{k}" for k in range(3)}
    # Different seeds, different samples: some candidate was not written by all three.
    assert any(len(runs) < 3 for runs in writers)


def test_candidates_refuses_samples_without_temperature(tmp_path: Path, bench_data: Path) -> None:
    args = ["annotate", "candidates", "--traces", str(bench_data / TEST_DIR / "code_11.json"), "--models", MODEL,
            "--out", str(tmp_path / "o"), "--samples", "3"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "--temperature" in str(result.exception)
    twice = runner.invoke(app, [*args[:5], f"{MODEL},{MODEL}", *args[6:8]])
    assert twice.exit_code != 0 and "named twice" in str(twice.exception)
