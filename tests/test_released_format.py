"""The one parser of the released prediction format, and `bench score` on messy folders.

Other systems' files mix task strings, nulls, silence strings and the operation objects
the paper's own fine-tuned agent writes ({"Operation": ..., "Arguments": [...]}). Every
readable entry is scored; unreadable ones are listed per file with their index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proactive.cli.main import app
from proactive.data.released import parse_response, read_released, render_operation
from proactive.errors import UserError
from proactive.judge.agree import load_run_pairs

OPERATION = {"Operation": "browser.search", "Arguments": ["python asyncio", 3]}


def _step(event: str, response: Any, **extra: Any) -> dict[str, Any]:
    return {"observation": {"time": "1", "event": event}, "agent_response": response, **extra}


def test_operation_objects_render_as_calls() -> None:
    assert render_operation(OPERATION) == "browser.search(python asyncio, 3)"
    assert render_operation({"operation": "file.open", "arguments": {"path": "a.py"}}) == "file.open(path=a.py)"
    assert render_operation({"Operation": "terminal.clear"}) == "terminal.clear()"
    assert render_operation({"task": "x"}) is None


@pytest.mark.parametrize(
    ("response", "tasks"),
    [
        (None, [None]),
        ([], [None]),
        ("null.", [None]),
        (["Fix the bug", None, "N/A"], ["Fix the bug", None, None]),
        ([OPERATION], ["browser.search(python asyncio, 3)"]),
        (OPERATION, ["browser.search(python asyncio, 3)"]),
        ({"pred_task": "Summarise the notes"}, ["Summarise the notes"]),
        ({"task": None}, [None]),
        ({"candidate_task": ["a", "b"]}, [None]),  # a test-data step: no prediction
    ],
)
def test_response_shapes(response: Any, tasks: list[str | None]) -> None:
    assert parse_response(response) == tasks


def test_unreadable_entries_are_listed_and_reading_goes_on(tmp_path: Path) -> None:
    steps = [
        _step("First.", ["Explain the error"], judgement=[True]),
        _step("Second.", 42),  # not a prediction
        _step("Third.", [OPERATION], judgement=[False]),
        {"agent_response": ["no observation"]},
        _step("Fifth.", ["Fix it"], judgement="yes"),
        "not an object",
        _step("Seventh.", [{"Operation": ""}]),
        _step("Eighth.", None),
    ]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(steps))
    released = read_released(path)
    assert [s.index for s in released.steps] == [0, 2, 7]
    assert [s.tasks for s in released.steps] == [["Explain the error"], ["browser.search(python asyncio, 3)"], [None]]
    assert [u.index for u in released.unreadable] == [1, 3, 4, 5, 6]
    # Entries with a readable observation stay in the history of later steps.
    assert [e.text for e in released.history(released.steps[-1])] == [
        "First.", "Second.", "Third.", "Fifth.", "Seventh.", "Eighth.",
    ]  # fmt: skip
    note = released.note()
    assert note is not None and note.startswith("mixed.json: entry 1 unreadable (agent_response: expected")
    assert "entry 4 unreadable (judgement:" in note and "entry 3 unreadable (observation:" in note


def test_a_file_that_is_not_json_is_one_unreadable_entry(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"observation": ')
    released = read_released(path)
    assert released.steps == [] and len(released.unreadable) == 1 and released.unreadable[0].index is None
    assert released.note() == f"broken.json: whole file unreadable ({released.unreadable[0].reason})"


def _response(index: int) -> Any:
    """A fixed mix: task strings, nulls and silence strings, operation objects."""
    return [["Explain what the user is looking at"], [None], [OPERATION], None, ["None."]][index % 5]


def _messy_folder(bench_data: Path, folder: Path) -> dict[str, int]:
    """Every test trace in released format with mixed responses; code_11 entry 4 is malformed."""
    folder.mkdir()
    expected = {"events": 0, "proposals": 0}
    for source in sorted((bench_data / "test_data").glob("*_1?.json")):
        steps = []
        for index, step in enumerate(json.loads(source.read_text())):
            response = _response(index)
            if source.stem == "code_11" and index == 4:
                response = {"unexpected": "shape"}
            else:
                expected["events"] += 1
                expected["proposals"] += index % 5 in (0, 2)
            steps.append({"observation": step["observation"], "agent_response": response, "judgement": [True]})
        (folder / source.name).write_text(json.dumps(steps))
    (folder / "other_system_log.json").write_text("not json at all")
    return expected


def test_bench_score_scores_every_readable_event_and_lists_the_rest(bench_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "released"
    expected = _messy_folder(bench_data, folder)
    command = ["bench", "score", str(folder), "--data", str(bench_data), "--json", "--samples", "50"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout[result.stdout.index("{") :])
    split = metrics["splits"]["real_average"]
    assert split["counts"]["events_scored"] == expected["events"] == split["counts"]["events_in_split"] - 1
    assert split["timing"]["events"] == expected["events"]
    assert split["timing"]["propose_rate"] == pytest.approx(expected["proposals"] / expected["events"])
    assert split["paper"]["predictions"] == expected["events"]
    unreadable = metrics["unreadable_entries"]
    assert set(unreadable) == {"code_11.json", "other_system_log.json"}
    assert [e["index"] for e in unreadable["code_11.json"]] == [4]
    assert unreadable["other_system_log.json"][0]["index"] is None
    notes = "\n".join(metrics["notes"])
    assert "code_11.json: entry 4 unreadable (agent_response: expected a task string" in notes
    assert "other_system_log.json: whole file unreadable (invalid JSON" in notes


def test_judge_agree_reads_the_same_entries(bench_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "released"
    expected = _messy_folder(bench_data, folder)
    problems: list[str] = []
    pairs = load_run_pairs(folder, problems)
    assert len(pairs) == expected["events"]
    assert sum(task is not None for _, _, (_, task) in pairs) == expected["proposals"]
    assert any(task == "browser.search(python asyncio, 3)" for _, _, (_, task) in pairs)
    assert len(problems) == 2 and any(p.startswith("code_11.json: entry 4 unreadable") for p in problems)
    with pytest.raises(UserError, match=r"code_11\.json:\[4\]"):
        load_run_pairs(folder)  # without a list for the problems, nothing is skipped unseen


def test_a_folder_with_nothing_readable_is_one_line(bench_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    result = CliRunner().invoke(app, ["bench", "score", str(folder), "--data", str(bench_data)])
    assert isinstance(result.exception, UserError)  # the console entry prints it as one line, exit 2
    message = str(result.exception)
    assert "no readable prediction in any file" in message and "a.json: whole file unreadable" in message
    assert "\n" not in message
