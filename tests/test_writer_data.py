"""`proactive train writer-data`: the offer writer's SFT data at moments of need.

Real components: ProactiveBench's reward rows, the writer's real checks, and as teacher the
1.5B writer's **recorded real answers** on our dev traces (`tests/data/writer_qwen15.jsonl`,
the replay backend; only greedy answers are recorded, so `--samples 0`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oneline import assert_one_error_line
from proactive.agent.writer import decline_reason, writer_messages
from proactive.data.labelled import load_labelled_traces, names_object
from proactive.data.labels import trace_keys_by_id
from proactive.data.loaders import REWARD_FILE, load_test_traces
from proactive.train.manifest import load_dataset_manifest
from proactive.types import Observation

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "data" / "new_traces" / "dev"
TEACHER = f"replay/{ROOT / 'tests' / 'data' / 'writer_qwen15.jsonl'}"


def _run(out: Path, traces: Path, bench_data: Path, *more: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROACTIVEBENCH_DIR": str(bench_data)}
    command = [sys.executable, "-m", "proactive.cli.main", "train", "writer-data", "--out", str(out),
               "--traces", str(traces), "--teacher", TEACHER, "--samples", "0", *more]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture()
def two_dev_traces(tmp_path: Path) -> Path:
    folder = tmp_path / "labelled"
    folder.mkdir()
    for path in sorted(DEV.glob("*.json"))[:2]:
        shutil.copy(path, folder / path.name)
    return folder


def _examples(out: Path) -> list[list[dict[str, str]]]:
    return [json.loads(line)["messages"] for line in (out / "sft.jsonl").read_text(encoding="utf-8").splitlines()]


def test_targets_are_the_writers_own_conversation_named_and_leak_free(
    tmp_path: Path, two_dev_traces: Path, bench_data: Path
) -> None:
    out = tmp_path / "data"
    done = _run(out, two_dev_traces, bench_data, "--rows", str(bench_data / REWARD_FILE))
    assert done.returncode == 0, done.stderr
    manifest = load_dataset_manifest(out)
    assert manifest.kind == "writer-sft" and manifest.teacher == TEACHER
    test_keys = set(trace_keys_by_id(load_test_traces(bench_data)).values())
    assert manifest.excluded_test_rows > 1000 and not test_keys & set(manifest.training_traces)
    traces = load_labelled_traces(two_dev_traces)
    moments = [(t, i) for t in traces for i, need in enumerate(t.help_needed) if need]
    examples = _examples(out)
    assert len(examples) == manifest.counts["examples"] > 0
    labelled = 0
    for messages in examples:
        target = json.loads(messages[-1]["content"])
        assert messages[-1]["role"] == "assistant" and set(target) == {"task"}
        assert target["task"] and messages[0]["role"] == "system"
        for trace, index in moments:
            observation = Observation(history=trace.trace.events[: index + 1])
            if writer_messages(observation) == messages[:-1]:  # a labelled moment: it names its object
                labelled += 1
                assert names_object(target["task"], trace.objects[index]), (trace.trace.id, index)
                assert decline_reason(target["task"], observation) == ""
    assert labelled == manifest.counts["labelled_kept"] > 0
    assert manifest.counts["rows_kept"] > 0 and manifest.counts["labelled_greedy"] == labelled
    # A dropped moment says why in the work log, with what the teacher wrote.
    work = [json.loads(line) for line in (out / "work.jsonl").read_text(encoding="utf-8").splitlines()]
    dropped = [w for w in work if w["source"] == "labelled" and w["task"] is None]
    assert len(dropped) == manifest.counts["labelled_moments"] - labelled
    assert all(w["why"].startswith("none of 1 candidates") for w in dropped)


def test_a_rerun_resumes_and_other_settings_are_refused(tmp_path: Path, two_dev_traces: Path, bench_data: Path) -> None:
    out = tmp_path / "data"
    assert _run(out, two_dev_traces, bench_data).returncode == 0
    work, sft = (out / "work.jsonl").read_bytes(), (out / "sft.jsonl").read_bytes()
    # A torn last line (a kill mid-append) is cut; nothing is decided twice, the data are the same.
    (out / "work.jsonl").write_bytes(work + b'{"key": "labelled|x')
    again = _run(out, two_dev_traces, bench_data)
    assert again.returncode == 0, again.stderr
    assert (out / "work.jsonl").read_bytes() == work and (out / "sft.jsonl").read_bytes() == sft
    refused = _run(out, two_dev_traces, bench_data, "--rows", str(bench_data / REWARD_FILE))
    assert_one_error_line(refused, [str(out), "new --out"])
    assert (out / "sft.jsonl").read_bytes() == sft
