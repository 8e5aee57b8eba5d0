"""The gym's episode state machine on recorded real exchanges (the `replay` backend).

`data/gym_qwen.jsonl` holds the answers of the embedded Qwen2.5-Coder-1.5B for the first
two released scenes, one step each, with the `always` agent (recorded with
PROACTIVE_RECORD while running `proactive gym run`); `data/gym_smollm.jsonl` holds
SmolLM2-135M on the first scene, `--max-steps 5 --min-steps 3`, agent `always`: its user
declares the goal finished at every turn, is overruled three times and finishes at step 4
(see test_gym_min_steps.py). Re-record both (see docs/gym.md) whenever a gym prompt or
schema changes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from proactive.data.loaders import load_scenes
from proactive.errors import UserError
from proactive.gym.episode import GymConfig
from proactive.gym.runner import GymRunner, RunSettings, RunSummary
from proactive.gym.schemas import EnvironmentEvents, WorldSetup
from proactive.gym.state import EpisodeState, TraceLine
from proactive.models.base import ChatResult, Message
from proactive.types import Scene

DATA = Path(__file__).parent / "data"
QWEN = DATA / "gym_qwen.jsonl"
SMOLLM = DATA / "gym_smollm.jsonl"


@pytest.fixture()
def scenes(bench_data: Path) -> list[Scene]:
    return load_scenes(bench_data / "scenes" / "scenes.yaml")[:2]


def play(
    scenes: list[Scene], out: Path, recording: Path, max_steps: int = 1, **config: Any
) -> tuple[RunSummary, GymRunner]:
    settings = RunSettings(
        out=out,
        model=f"replay/{recording}",
        agent="always",
        concurrency=2,
        config=replace(GymConfig(), max_steps=max_steps, **config),
    )
    runner = GymRunner(settings)
    return asyncio.run(runner.run(scenes)), runner


def read_trace(path: Path) -> list[TraceLine]:
    return [TraceLine.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_clock_moves_by_the_event_durations(scenes: list[Scene], tmp_path: Path, state_home: Path) -> None:
    summary, _ = play(scenes, tmp_path, QWEN)
    for state in summary.states:
        events = [line for line in read_trace(tmp_path / f"{state.scene_id}.jsonl") if line.kind == "event"]
        assert len(events) >= 2
        for before, after in pairwise(events):
            assert before.duration is not None and before.duration >= 1
            assert float(after.time) == float(before.time) + before.duration
        last = events[-1]
        assert last.duration is not None
        assert state.world.clock == float(last.time) + last.duration
        assert state.world.clock > state.world.start


class Spy:
    """Passes calls to the replay model and keeps the environment's answers, in order."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.spec = inner, inner.spec
        self.answers: list[BaseModel] = []

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> ChatResult:
        result = await self.inner.generate(messages, schema, temperature, max_tokens, seed)
        if isinstance(result.parsed, EnvironmentEvents | WorldSetup):
            self.answers.append(result.parsed)
        return result


def test_entity_updates_apply_to_the_world(scenes: list[Scene], tmp_path: Path, state_home: Path) -> None:
    settings = RunSettings(
        out=tmp_path, model=f"replay/{QWEN}", agent="always", concurrency=1, config=GymConfig(max_steps=1)
    )
    runner = GymRunner(settings)
    spy = Spy(runner.model)
    runner.model = spy  # type: ignore[assignment]
    summary = asyncio.run(runner.run(scenes[:1]))
    state = summary.states[0]
    expected: dict[str, str] = {}
    for answer in spy.answers:  # setup first, then updates in the order the episode applied them
        if isinstance(answer, WorldSetup):
            expected.update({e.name.lower(): e.status for e in answer.entities})
        else:
            expected.update({u.entity.strip().lower(): u.status for u in answer.updates})
    assert any(isinstance(a, EnvironmentEvents) and a.updates for a in spy.answers), "recording has no updates"
    assert {e.name.lower(): e.status for e in state.world.entities} == expected


def test_proposals_get_judgements_and_accepted_ones_lead_to_agent_events(
    scenes: list[Scene], tmp_path: Path, state_home: Path
) -> None:
    summary, _ = play(scenes, tmp_path, QWEN)
    accepted_followed = 0
    for state in summary.states:
        lines = read_trace(tmp_path / f"{state.scene_id}.jsonl")
        proposals = [line for line in lines if line.kind == "proposal"]
        assert proposals and all(line.judgement is not None for line in proposals)
        for index, line in enumerate(lines):
            if line.kind == "proposal" and line.judgement is not None and line.judgement.accepted:
                follow = lines[index + 1] if index + 1 < len(lines) else None
                if follow is not None and follow.source == "agent" and follow.kind == "action":
                    assert lines[index + 2].source == "agent" and lines[index + 2].kind == "event"
                    accepted_followed += 1
        user_events = [x for x in lines if x.kind == "event" and x.source == "environment"]
        assert len(state.proposals) == len(state.feedback) == len(user_events)
    assert accepted_followed >= 1


def test_max_steps_caps_the_episode(scenes: list[Scene], tmp_path: Path, state_home: Path) -> None:
    summary, _ = play(scenes, tmp_path, QWEN, max_steps=1)
    for state in summary.states:
        assert state.status == "capped" and state.step == 1 and not state.user.finished
        assert "max steps" in state.reason
        assert {line.step for line in read_trace(tmp_path / f"{state.scene_id}.jsonl")} <= {0, 1}
    again, _ = play(scenes, tmp_path, QWEN, max_steps=1)  # re-run: nothing left to do
    assert [s.lines_written for s in again.states] == [s.lines_written for s in summary.states]


def _break_one_answer(source: Path, target: Path, scene: Scene) -> None:
    """Copy a recording with one answer hand-made malformed: the environment's events for `scene`."""
    lines = source.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        entry = json.loads(line)
        prompt = entry["request"]["messages"][-1]["content"]
        if entry["request"]["schema"] == "EnvironmentEvents" and scene.user.description[:60] in prompt:
            entry["text"], entry["parsed"] = '{"events": [{"text": "The user', None
            lines[index] = json.dumps(entry)
            target.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return
    raise AssertionError("no EnvironmentEvents answer for the scene in the recording")


def test_malformed_answer_is_skipped_without_stopping_other_scenes(
    scenes: list[Scene], tmp_path: Path, state_home: Path
) -> None:
    clean, _ = play(scenes, tmp_path / "clean", QWEN)
    broken = tmp_path / "broken.jsonl"
    _break_one_answer(QWEN, broken, scenes[1])  # hand-edited here: one recorded answer made malformed
    summary, _ = play(scenes, tmp_path / "broken", broken, max_failures_in_a_row=1)
    good, bad = summary.states
    assert good.status == "capped"
    good_trace = (tmp_path / "broken" / "scene-0000.jsonl").read_text()
    assert good_trace == (tmp_path / "clean" / "scene-0000.jsonl").read_text()
    assert bad.status == "failed" and "environment events unusable" in bad.reason
    skips = [line for line in read_trace(tmp_path / "broken" / "scene-0001.jsonl") if line.kind == "skip"]
    assert len(skips) == 1 and "EnvironmentEvents" in skips[0].text
    assert clean.states[1].status == "capped"


def test_unknown_request_is_a_user_error_not_a_failed_scene(
    scenes: list[Scene], tmp_path: Path, state_home: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="no recorded answer"):
        play(scenes, tmp_path / "out", empty)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("scene-*"))}


def _events_up_to(trace: Path, step: int) -> int:
    return sum(1 for line in read_trace(trace) if line.kind == "event" and line.step <= step)


def test_a_capped_run_resumes_where_it_stopped(bench_data: Path, tmp_path: Path, state_home: Path) -> None:
    scene = load_scenes(bench_data / "scenes" / "scenes.yaml")[:1]
    whole, _ = play(scene, tmp_path / "whole", SMOLLM, max_steps=5)
    assert whole.states[0].step >= 3, "the recording is too short to stop half-way"

    first, _ = play(scene, tmp_path / "resumed", SMOLLM, max_steps=2)  # stopped after 2 steps
    assert (first.states[0].status, first.states[0].step) == ("capped", 2)
    stopped = (tmp_path / "resumed" / "scene-0000.jsonl").read_bytes()
    second, runner = play(scene, tmp_path / "resumed", SMOLLM, max_steps=5)  # the same files, on from disk

    trace = tmp_path / "resumed" / "scene-0000.jsonl"
    assert trace.read_bytes().startswith(stopped)  # steps 1-2 kept as they were
    assert min(line.step for line in read_trace(trace)[len(stopped.splitlines()) :]) == 3  # nothing replayed
    assert runner.events_written == whole.events_written - _events_up_to(trace, 2)  # only new events written
    assert second.states[0] == whole.states[0]
    assert _snapshot(tmp_path / "resumed") == _snapshot(tmp_path / "whole")
    assert not list((tmp_path / "resumed").glob(".*.tmp"))  # atomic saves leave no temporary files


def _first_calls(source: Path, target: Path, turns: int) -> None:
    """The real recording cut after the `turns`-th user turn and the answer after it.

    The cut recording runs out in the middle of that step: the replay backend then
    raises, as a dead endpoint or a kill would stop a run, after some of the step's
    lines are written.
    """
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    turn_lines = [i for i, line in enumerate(lines) if json.loads(line)["request"]["schema"] == "UserTurn"]
    target.write_text("".join(lines[: turn_lines[turns - 1] + 2]), encoding="utf-8")


def test_a_run_stopped_mid_step_resumes_from_its_checkpoint(
    bench_data: Path, tmp_path: Path, state_home: Path
) -> None:
    scene = load_scenes(bench_data / "scenes" / "scenes.yaml")[:1]
    whole, _ = play(scene, tmp_path / "whole", SMOLLM, max_steps=5)
    model = tmp_path / "model.jsonl"  # one model spec for both runs, as run.json requires
    _first_calls(SMOLLM, model, turns=3)
    folder = tmp_path / "resumed"
    with pytest.raises(UserError, match="no recorded answer"):
        play(scene, folder, model, max_steps=5)
    saved = EpisodeState.model_validate_json((folder / "scene-0000.state.json").read_text())
    trace = folder / "scene-0000.jsonl"
    assert saved.step == 2 and saved.status == "running"
    assert len(trace.read_bytes().splitlines()) > saved.lines_written  # lines of the unfinished step 3

    shutil.copyfile(SMOLLM, model)  # the model answers again
    again, runner = play(scene, folder, model, max_steps=5)
    lines = read_trace(trace)
    assert [line.step for line in lines[saved.lines_written :]][:1] == [3]
    assert runner.events_written == whole.events_written - _events_up_to(trace, 2)
    assert again.states[0] == whole.states[0]
    assert _snapshot(folder) == _snapshot(tmp_path / "whole")
