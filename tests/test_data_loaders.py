"""ProactiveBench loaders, human labels, `proactive data validate` and `download` (real files, real HTTP)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from proactive.data.fetch import LAYOUT, download, validate
from proactive.data.labels import event_labels, group_rows_by_trace, trace_keys_by_id
from proactive.data.loaders import REWARD_FILE, load_reward_rows, load_test_traces
from proactive.errors import DataError, UserError
from proactive.types import is_silence, parse_time


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `proactive` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "proactive.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_validate_counts_on_the_shared_copy(bench_data: Path) -> None:
    result = run_cli("data", "validate", "--data", str(bench_data), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"traces": 12, "events": 233, "reward_rows": 1629, "scenes": 174}


def test_every_test_event_has_a_human_label(bench_data: Path) -> None:
    traces = load_test_traces(bench_data)
    rows = load_reward_rows(bench_data / REWARD_FILE)
    labels = event_labels(traces, rows)
    assert len(labels) == 233
    assert sum(label.help_needed for label in labels.values()) == 78
    groups = group_rows_by_trace(rows)
    assert len(groups) == 16
    assert set(trace_keys_by_id(traces).values()) <= set(groups)
    # task_status is not the human label: it disagrees on many events.
    by_id = {trace.id: trace for trace in traces}
    agree = sum(by_id[label.trace_id].task_status[label.index] == label.help_needed for label in labels.values())
    assert agree == 148


def _broken_copy(bench_data: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "pb"
    shutil.copytree(bench_data, copy, ignore=shutil.ignore_patterns("published_results"))
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("trace_missing_event", ["code_12.json:[3].observation:", "field 'event'"]),
        ("reward_bad_json", ["train_data.jsonl:line 7:", "invalid JSON"]),
        ("reward_bad_category", ["train_data.jsonl:line 2:", "field 'category'"]),
        ("scene_missing_goal", ["scenes.yaml:[5].user:", "field 'goal'"]),
        ("missing_file", ["writing_13.json:", "file not found"]),
    ],
)
def test_validator_names_file_place_and_field(
    bench_data: Path, tmp_path: Path, breakage: str, expected: list[str]
) -> None:
    copy = _broken_copy(bench_data, tmp_path)
    if breakage == "trace_missing_event":
        path = copy / "test_data/code_12.json"
        steps = json.loads(path.read_text())
        del steps[3]["observation"]["event"]
        path.write_text(json.dumps(steps))
    elif breakage in ("reward_bad_json", "reward_bad_category"):
        path = copy / REWARD_FILE
        lines = path.read_text().splitlines()
        if breakage == "reward_bad_json":
            lines[6] = lines[6][: len(lines[6]) // 2]
        else:
            row = json.loads(lines[1])
            row["category"] = "Maybe"
            lines[1] = json.dumps(row)
        path.write_text("\n".join(lines) + "\n")
    elif breakage == "scene_missing_goal":
        import yaml

        path = copy / "scenes/scenes.yaml"
        scenes = yaml.safe_load(path.read_text())
        del scenes[5]["user"]["goal"]
        path.write_text(yaml.safe_dump(scenes))
    else:
        (copy / "test_data/writing_13.json").unlink()
    result = run_cli("data", "validate", "--data", str(copy))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in expected:
        assert fragment in lines[0]


def test_loader_raises_data_error_not_traceback(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"obs": [{"time": "1", "event": "x"}], "pred_task": None}) + "\n")
    with pytest.raises(DataError, match=r"rows.jsonl:line 1: field 'valid'"):
        load_reward_rows(path)


def test_missing_data_dir_is_one_line(tmp_path: Path) -> None:
    result = run_cli("data", "validate", "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PROACTIVEBENCH_DIR" in result.stderr


@pytest.fixture()
def authors_layout_server(bench_data: Path, tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the shared files in the authors' repository layout."""
    root = tmp_path / "repo"
    for local, remote in LAYOUT.items():
        target = root / remote
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(bench_data / local)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_download_fetches_the_same_layout(authors_layout_server: str, tmp_path: Path, bench_data: Path) -> None:
    target = tmp_path / "downloaded"
    result = run_cli("data", "download", "--to", str(target), "--base-url", authors_layout_server)
    assert result.returncode == 0, result.stderr
    assert validate(target) == validate(bench_data)
    for local in LAYOUT:
        assert (target / local).read_bytes() == (bench_data / local).read_bytes()
    # A second download keeps what is there and fetches nothing.
    assert download(target, authors_layout_server) == []


def test_download_reports_http_errors(authors_layout_server: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="HTTP 404"):
        download(tmp_path / "x", authors_layout_server + "/wrong-root")


def test_silence_strings_and_times() -> None:
    for text in (None, "", "null", "NULL", " None ", '"null"'):
        assert is_silence(text)
    assert not is_silence("Offer a regex for names")
    assert parse_time("1717377997.0") == pytest.approx(1717377997.0)
    assert parse_time("Day 1, 11:00 PM") is None
