"""`proactive bench new-traces` and the default agent of `bench run`, through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oneline import assert_one_error_line
from proactive.cli.main import app
from proactive.data.labelled import load_labelled_traces

runner = CliRunner()
TRACES = Path(__file__).parent / "data" / "writer_traces"
REPO_TRACES = Path(__file__).resolve().parents[1] / "data" / "new_traces"


def test_our_new_traces_load_and_are_labelled_as_documented() -> None:
    dev, held = load_labelled_traces(REPO_TRACES / "dev"), load_labelled_traces(REPO_TRACES / "held")
    assert {t.trace.id for t in dev}.isdisjoint({t.trace.id for t in held})
    traces = dev + held
    assert len(traces) == 16 and sum(len(t.trace.events) for t in traces) == 224
    assert sum(t.need_count for t in traces) == 63
    assert {t.setting for t in traces} == {"coding", "writing", "daily"}
    for labelled in traces:
        for need, objects in zip(labelled.help_needed, labelled.objects, strict=True):
            assert bool(objects) == need


#: Each blind set, in the order written: traces, events, moments of need, traces per setting.
_BLIND_COUNTS = [
    ("blind", 8, 117, 32, {"coding": 2, "writing": 3, "daily": 3}),
    ("blind2", 12, 186, 48, {"coding": 6, "writing": 3, "daily": 3}),
    ("blind3", 12, 183, 48, {"coding": 4, "writing": 4, "daily": 4}),
    ("blind4", 12, 185, 48, {"coding": 4, "writing": 4, "daily": 4}),
    ("blind5", 12, 189, 48, {"coding": 4, "writing": 4, "daily": 4}),
]
#: ... and the sets written before it, which it must not repeat a trace of.
BLIND_SETS = [
    (*counts, ("dev", "held", *(earlier[0] for earlier in _BLIND_COUNTS[:index])))
    for index, counts in enumerate(_BLIND_COUNTS)
]


@pytest.mark.parametrize(("part", "traces", "events", "need", "settings", "earlier"), BLIND_SETS)
def test_each_blind_set_loads_is_labelled_as_documented_and_new(
    part: str, traces: int, events: int, need: int, settings: dict[str, int], earlier: tuple[str, ...]
) -> None:
    blind = load_labelled_traces(REPO_TRACES / part)
    assert len(blind) == traces and sum(len(t.trace.events) for t in blind) == events
    assert sum(t.need_count for t in blind) == need
    assert {s: sum(t.setting == s for t in blind) for s in settings} == settings
    others = {t.trace.id for other in earlier for t in load_labelled_traces(REPO_TRACES / other)}
    assert others.isdisjoint({t.trace.id for t in blind})
    for labelled in blind:
        for need_now, objects in zip(labelled.help_needed, labelled.objects, strict=True):
            assert bool(objects) == need_now


def test_always_on_the_new_traces_scores_recall_one_and_resumes(state_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "always"
    args = ["bench", "new-traces", str(TRACES), "--agent", "always", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    figures = report["all"]
    assert figures["events"] == 15 and figures["need"] == 5 and figures["spoke"] == 15
    assert figures["recall"] == 1.0 and figures["f1"] == pytest.approx(figures["always_f1"])
    assert figures["grounded"] == 0.0  # the generic offer names nothing
    assert figures["timed_offers"] == 15  # no model, no response cache: every offer is timed
    records = sorted((out / "records").glob("*.jsonl"))
    before = [p.read_bytes() for p in records]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert [p.read_bytes() for p in records] == before  # nothing re-run, nothing lost
    other = runner.invoke(app, ["bench", "new-traces", str(TRACES), "--agent", "never", "--out", str(out)])
    assert other.exit_code != 0 and "holds another run" in str(other.exception)


def test_a_bad_label_is_one_line_naming_file_and_field(tmp_path: Path, state_home: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(TRACES / "migrate_error.json", folder / "a.json")
    document = json.loads((folder / "a.json").read_text())
    del document["events"][1]["help_needed"]
    (folder / "a.json").write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", "bench", "new-traces", str(folder), "--agent", "always",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "a.json:events[1]: field 'help_needed'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_bench_run_defaults_to_the_gated_agent_with_the_shipped_gate(
    bench_data: Path, default_gate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shipped set was built by the fixture in its own state dir: reuse it, as a second use would.
    monkeypatch.setenv("PROACTIVE_HOME", str(default_gate.parents[1]))
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "bench", "run", "--out", str(out), "--data", str(bench_data), "--traces", "code_11", "--limit", "4",
        "--model", "local/smollm2-135m", "--judge", "none", "--no-report",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["agent"] == "gated" and manifest["settings"]["gate"] == "default"
    assert "code_11" in manifest["agent_provenance"] and "trained without the scored trace" in manifest[
        "agent_provenance"
    ]
    records = [json.loads(line) for line in (out / "records" / "code_11.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["proposal"]["gate_probability"] is not None for r in records)


def test_a_writer_fine_tuned_on_a_scored_trace_is_refused(tmp_path: Path, state_home: Path) -> None:
    from proactive.data.labels import trace_key_of_events
    from proactive.models.training_manifest import gguf_sidecar

    model = tmp_path / "tuned.gguf"
    seen = load_labelled_traces(TRACES)[0]
    gguf_sidecar(model).write_text(json.dumps({"training_traces": [trace_key_of_events(seen.trace.events)]}))
    result = subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", "bench", "new-traces", str(TRACES), "--model",
         f"local/{model}", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert_one_error_line(result, ["fine-tuned on data from the scored trace(s)", seen.trace.id])
    assert not (tmp_path / "out").exists()
