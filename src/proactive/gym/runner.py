"""Runs many episodes at once and keeps their traces safe across crashes.

Per scene the output folder holds `<scene>.jsonl` (the trace, one whole line per
write, flushed and fsync'ed) and `<scene>.state.json` (the `EpisodeState` after the
last completed step, replaced atomically). The state records how many trace lines
belong to completed steps, so resuming cuts the trace back to exactly that many lines
(dropping a torn last line and the lines of an unfinished step) and plays on from the
saved state. Re-played model calls are answered by the response cache. Finished and
failed scenes are skipped; capped ones continue when --max-steps grows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from proactive.agent.base import AgentConfig, get_agent
from proactive.errors import UserError
from proactive.gym.episode import Episode, GymConfig
from proactive.gym.state import EpisodeState, TraceLine, UserState
from proactive.gym.world import setup_world
from proactive.judge.base import Judge, get_judge
from proactive.models.base import ChatModel, ChatResult, Message, get_model
from proactive.types import Scene

log = logging.getLogger("proactive.gym")
RUN_FILE = "run.json"


class TraceFile:
    """A JSONL trace written one whole line at a time (flush + fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[bytes] | None = None

    def open_at(self, lines: int) -> bool:
        """Keep the first `lines` complete lines, drop anything after; False if fewer exist."""
        kept, cut = 0, 0
        if self.path.exists():
            data = self.path.read_bytes()
            while kept < lines:
                end = data.find(b"\n", cut)
                if end < 0:
                    break
                cut, kept = end + 1, kept + 1
            if cut != len(data):
                with self.path.open("r+b") as handle:
                    handle.truncate(cut)
                    handle.flush()
                    os.fsync(handle.fileno())
        self.count = kept
        self._handle = self.path.open("ab")
        return kept == lines

    def write(self, line: TraceLine) -> None:
        if self._handle is None:
            raise RuntimeError(f"{self.path}: open_at() first")
        self._handle.write((line.model_dump_json(exclude_none=True) + "\n").encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def save_state(path: Path, state: EpisodeState) -> None:
    """Write the state atomically: temp file, fsync, rename, fsync the folder."""
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json(indent=1))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load_state(path: Path) -> EpisodeState | None:
    """The saved state, or None when there is none (or it is unreadable: start over)."""
    if not path.is_file():
        return None
    try:
        return EpisodeState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        log.warning("%s: unreadable state, the scene starts over (%s)", path, exc)
        return None


def file_stem(scene_id: str) -> str:
    """A file-name-safe form of a scene id."""
    return re.sub(r"[^\w.-]+", "_", scene_id) or "scene"


@dataclass(frozen=True)
class RunSettings:
    """What `proactive gym run` was asked to do."""

    out: Path
    model: str
    agent: str = "always"
    judge: str | None = None
    concurrency: int = 2
    pace: float = 0.0
    config: GymConfig = field(default_factory=GymConfig)


@dataclass
class RunSummary:
    """Counts for the closing table."""

    states: list[EpisodeState] = field(default_factory=list)
    events_written: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for state in self.states if state.status == status)

    @property
    def events_per_minute(self) -> float:
        return 60.0 * self.events_written / self.seconds if self.seconds > 0 else 0.0


class GymRunner:
    """Plays scenes with bounded concurrency; `progress(n)` is called as steps complete."""

    def __init__(self, settings: RunSettings, progress: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.progress = progress or (lambda _n: None)
        model = get_model(settings.model)
        self.model: ChatModel = PacedModel(model, settings.pace) if settings.pace > 0 else model
        self.judge: Judge | None = get_judge(settings.judge) if settings.judge else None
        self.events_written = 0

    def check_run_file(self) -> None:
        """Refuse to mix traces of different models, agents or judges in one folder."""
        self.settings.out.mkdir(parents=True, exist_ok=True)
        path = self.settings.out / RUN_FILE
        wanted = {"model": self.settings.model, "agent": self.settings.agent, "judge": self.settings.judge}
        if path.is_file():
            found = json.loads(path.read_text(encoding="utf-8"))
            different = {k: found.get(k) for k in wanted if found.get(k) != wanted[k]}
            if different:
                raise UserError(
                    f"{path}: this folder holds a run with {different}; use the same settings or another --out"
                )
            return
        path.write_text(json.dumps(wanted, indent=1) + "\n", encoding="utf-8")

    async def run(self, scenes: list[Scene]) -> RunSummary:
        """Play every scene; failures of one scene are recorded in its state, never raised."""
        self.check_run_file()
        started = time.monotonic()
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def bounded(scene: Scene) -> EpisodeState:
            async with gate:
                return await self.run_scene(scene)

        states = await asyncio.gather(*(bounded(scene) for scene in scenes))
        return RunSummary(list(states), self.events_written, time.monotonic() - started)

    async def run_scene(self, scene: Scene) -> EpisodeState:
        """Play (or continue) one scene and return its final state."""
        stem = self.settings.out / file_stem(scene.id)
        state_path, trace = stem.with_suffix(".state.json"), TraceFile(stem.with_suffix(".jsonl"))
        max_steps = self.settings.config.max_steps
        state = load_state(state_path)
        if state is not None and (state.status in ("finished", "failed") or state.step >= max_steps):
            self.progress(max_steps)
            return state
        try:
            if state is None or not trace.open_at(state.lines_written):
                trace.close()
                trace.open_at(0)
                state = await self._new_state(scene, trace)
                save_state(state_path, state)
            state.status = "running"
            self.progress(state.step)
            return await self._play(scene, state, trace, state_path)
        finally:
            trace.close()

    async def _new_state(self, scene: Scene, trace: TraceFile) -> EpisodeState:
        world, note = await setup_world(self.model, scene, self.settings.config.world)
        state = EpisodeState(
            scene_id=scene.id,
            world=world,
            user=UserState(profile=scene.user.description, goal=scene.user.goal),
        )
        if note:
            log.warning("%s setup: %s", scene.id, note)
            trace.write(
                TraceLine(
                    scene_id=scene.id, step=0, time=f"{world.clock:.1f}", clock=world.clock_text(),
                    source="environment", kind="skip", text=note[:500],
                )
            )  # fmt: skip
        state.lines_written = trace.count
        return state

    async def _play(self, scene: Scene, state: EpisodeState, trace: TraceFile, state_path: Path) -> EpisodeState:
        agent = get_agent(self.settings.agent, AgentConfig(model=self.settings.model))
        sink = _CountingSink(trace, self)
        episode = Episode(scene, state, self.model, agent, sink, self.settings.config, self.judge)

        def checkpoint(current: EpisodeState) -> None:
            current.lines_written = trace.count
            save_state(state_path, current)
            self.progress(1)

        try:
            await episode.run(after_step=checkpoint)
        except (UserError, asyncio.CancelledError):
            raise
        except Exception as exc:  # one broken scene must not stop the others
            log.exception("%s failed", scene.id)
            state.status, state.reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
            state.lines_written = trace.count
        if state.status != "running":
            # Lines of an interrupted step stay out of the count; finished states keep all.
            state.lines_written = trace.count
            save_state(state_path, state)
        self.progress(max(0, self.settings.config.max_steps - state.step))
        return state


class PacedModel:
    """Spaces model calls at least `pace` seconds apart (rate limits of shared endpoints)."""

    def __init__(self, inner: ChatModel, pace: float) -> None:
        self.inner, self.pace, self.spec = inner, pace, inner.spec
        self._lock = asyncio.Lock()
        self._last = 0.0

    async def _wait_turn(self) -> None:
        async with self._lock:
            wait = self._last + self.pace - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()

    async def generate(
        self,
        messages: Sequence[Message],
        schema: type[BaseModel] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ) -> ChatResult:
        await self._wait_turn()
        return await self.inner.generate(messages, schema, temperature, max_tokens)

    async def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        await self._wait_turn()
        return await self.inner.choice_probabilities(messages, choices)


class _CountingSink:
    """Forwards lines to the trace and counts the events written by this run."""

    def __init__(self, trace: TraceFile, runner: GymRunner) -> None:
        self.trace, self.runner = trace, runner

    def write(self, line: TraceLine) -> None:
        self.trace.write(line)
        if line.kind == "event":
            self.runner.events_written += 1
