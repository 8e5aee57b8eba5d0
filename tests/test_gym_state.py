"""Gym state without a model: lenient clocks and durations, world updates, whole-line traces."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from proactive.gym.runner import TraceFile
from proactive.gym.state import (
    DEFAULT_START,
    Entity,
    TraceLine,
    WorldState,
    format_clock,
    parse_clock,
    parse_duration,
)


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected", "repaired"),
    [
        ("2024-06-03 14:30", _utc(2024, 6, 3, 14, 30), False),
        ("2024-06-03T14:30:05", _utc(2024, 6, 3, 14, 30, 5), False),
        ("1717377997.0", 1717377997.0, False),
        ("Day 2, 11:00 PM", _utc(2024, 6, 4, 23, 0), False),
        ("9:15 am", _utc(2024, 6, 3, 9, 15), False),
        ("Monday morning-ish", DEFAULT_START.timestamp(), True),
        ("25:99", DEFAULT_START.timestamp(), True),
        ("", DEFAULT_START.timestamp(), True),
    ],
)
def test_clock_parsing_is_lenient_and_never_raises(text: str, expected: float, repaired: bool) -> None:
    assert parse_clock(text) == (expected, repaired)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(42, 42), (7.6, 8), ("30", 30), ("2 min", 120), ("1m30s", 90), ("1 hour", 3600), (0, 1), (10**6, 3600)],
)
def test_durations_are_read_leniently_and_clamped(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


def test_unreadable_duration_takes_the_default() -> None:
    assert parse_duration("a while", default=17) == 17
    assert parse_duration(True, default=17) == 17


def test_world_clock_and_entity_updates() -> None:
    world = WorldState(overview="o", start=1000.0, clock=1000.0, entities=[Entity(name="VS Code", status="closed")])
    world.advance(45)
    world.advance(-3)  # a negative duration still moves the clock by the minimum
    assert world.clock == 1046.0
    assert world.apply_update("vs code ", "open on main.py") is True
    assert world.entities[0].status == "open on main.py"
    assert world.apply_update("Terminal", "running pytest") is False
    assert [e.name for e in world.entities] == ["VS Code", "Terminal"]
    assert world.clock_text() == format_clock(1046.0)


def _line(step: int, text: str) -> TraceLine:
    return TraceLine(scene_id="s", step=step, time="1.0", clock="x", source="user", kind="activity", text=text)


def test_trace_file_drops_a_torn_line_and_lines_past_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    trace = TraceFile(path)
    assert trace.open_at(0)
    for index in range(4):
        trace.write(_line(1, f"line {index}"))
    trace.close()
    with path.open("ab") as handle:
        handle.write(b'{"scene_id": "s", "step": 2, "te')  # a write cut by kill -9
    resumed = TraceFile(path)
    assert resumed.open_at(3)  # the checkpoint said 3 lines belong to completed steps
    resumed.write(_line(2, "after resume"))
    resumed.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [TraceLine.model_validate_json(line).text for line in lines] == [
        "line 0", "line 1", "line 2", "after resume",
    ]  # fmt: skip


def test_trace_file_reports_missing_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(_line(1, "only").model_dump_json() + "\n", encoding="utf-8")
    trace = TraceFile(path)
    assert trace.open_at(2) is False
    trace.close()
