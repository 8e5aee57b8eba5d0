"""A fine-tuned model never scores a trace its training data touched unless the run says so.

The model is the real SmolLM2-135M GGUF (linked into a temporary folder, so it can carry
its own `.training.json` sidecar the way `proactive train export-gguf` writes one), run by
the real `llm` agent on the first events of code_11.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from proactive.data.labels import trace_key_of_events
from proactive.data.loaders import load_test_traces
from proactive.errors import UserError
from proactive.models import store
from proactive.models.training_manifest import gguf_sidecar, trained_on

TRACE = "code_11"


def _cli(*args: str) -> Result:
    from proactive.cli.main import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _fine_tuned(folder: Path, traces: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "tuned.gguf"
    model.symlink_to(store.model_path("smollm2-135m"))
    gguf_sidecar(model).write_text(json.dumps({"base": "smollm2-135m", "training_traces": traces}))
    return model


def _bench(bench_data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "bench", "run", "--agent", "llm", "--model", f"local/{model}", "--data", str(bench_data), "--out", str(out),
        "--traces", TRACE, "--limit", "2", "--no-baselines", "--samples", "50", "--max-tokens", "96", *extra,
    ]  # fmt: skip


@pytest.fixture()
def code_11_key(bench_data: Path) -> str:
    trace = next(t for t in load_test_traces(bench_data) if t.id == TRACE)
    return trace_key_of_events(trace.events)


def test_a_model_tuned_on_the_scored_trace_is_refused_in_one_line(
    tmp_path: Path, bench_data: Path, code_11_key: str, state_home: Path
) -> None:
    model = _fine_tuned(tmp_path / "model", ["some other trace", code_11_key])
    out = tmp_path / "refused"
    done = subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", *_bench(bench_data, model, out)],
        capture_output=True, text=True, env={**os.environ, "PROACTIVE_HOME": str(state_home)}, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "fine-tuned on data from the scored trace(s) code_11" in lines[0] and "--allow-seen" in lines[0]
    assert not out.exists()


def test_allow_seen_runs_and_the_header_says_the_model_saw_the_trace(
    tmp_path: Path, bench_data: Path, code_11_key: str, state_home: Path
) -> None:
    model = _fine_tuned(tmp_path / "model", [code_11_key])
    out = tmp_path / "allowed"
    done = _cli(*_bench(bench_data, model, out, "--allow-seen"))
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model_saw_traces"] == [TRACE] and manifest["events_done"] == 2
    header = [line for line in done.stdout.splitlines() if line.startswith("model: fine-tuned from smollm2-135m")]
    assert len(header) == 1 and "SAW THE SCORED TRACES code_11 (--allow-seen)" in header[0]


def test_a_model_tuned_on_other_traces_runs_and_says_so(tmp_path: Path, bench_data: Path, state_home: Path) -> None:
    model = _fine_tuned(tmp_path / "model", ["1700000000|a trace that is not a test trace"])
    out = tmp_path / "clean"
    done = _cli(*_bench(bench_data, model, out))
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model_saw_traces"] == []
    assert "saw none of the scored traces" in done.stdout


def test_hf_specs_read_adapter_and_merged_manifests(tmp_path: Path) -> None:
    merged, adapter = tmp_path / "merged", tmp_path / "adapter"
    merged.mkdir()
    adapter.mkdir()
    (merged / "training.json").write_text(json.dumps({"base": "b", "training_traces": ["t1"]}))
    (adapter / "training.json").write_text(json.dumps({"base": "b", "training_traces": ["t2", "t1"]}))
    record = trained_on(f"hf/{merged}+{adapter}")
    assert record is not None and record.training_traces == ["t1", "t2"] and len(record.manifests) == 2
    assert trained_on(f"hf/{tmp_path / 'plain'}") is None
    assert trained_on("local/smollm2-135m") is None


def test_an_unreadable_manifest_is_one_line_naming_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "training.json").write_text(json.dumps({"training_traces": "not a list"}))
    with pytest.raises(UserError, match=r"training\.json: field 'training_traces'"):
        trained_on(f"hf/{folder}")
