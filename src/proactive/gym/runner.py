"""Runs many episodes at once and keeps their traces safe across crashes.

Per scene the output folder holds `<scene>.jsonl` (the trace, one whole line per
write, flushed and fsync'ed) and `<scene>.state.json` (the `EpisodeState` after the
last completed step, replaced atomically). The state records how many trace lines
belong to completed steps, so resuming cuts the trace back to exactly that many lines
(dropping a torn last line and the lines of an unfinished step) and plays on from the
saved state. Re-played model calls are answered by the response cache. Finished and
failed scenes are skipped; capped ones continue when --max-steps grows.

Nothing already produced is thrown away: an unreadable `run.json` or state, or a trace
shorter than its state says, stops the run with one line naming the file before any
file is written (the old code started such a scene over, cutting its trace to nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from proactive.agent.base import AgentConfig, get_agent
from proactive.errors import DataError, UserError
from proactive.fileio import DurableLog, write_atomic
from proactive.gym.episode import Episode, GymConfig
from proactive.gym.state import EpisodeState, TraceLine, UserState
from proactive.gym.world import setup_world
from proactive.judge.base import Judge, get_judge
from proactive.models.base import ChatModel, ChatResult, Message, get_model
from proactive.types import Scene

log = logging.getLogger("proactive.gym")
RUN_FILE = "run.json"


class TraceFile:
    """A JSONL trace written one whole line at a time (a `DurableLog`: flush + fsync per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._log: DurableLog | None = None

    def open_at(self, lines: int) -> bool:
        """Keep the first `lines` complete lines, drop anything after; False if fewer exist."""
        durable = DurableLog(self.path)
        self.count = durable.keep(lines)
        self.path.open("ab").close()  # a scene that writes no line yet still has its trace file
        self._log = durable
        return self.count == lines

    def write(self, line: TraceLine) -> None:
        if self._log is None:
            raise RuntimeError(f"{self.path}: open_at() first")
        self._log.append(line.model_dump_json(exclude_none=True))
        self.count += 1

    def close(self) -> None:
        self._log = None


def save_state(path: Path, state: EpisodeState) -> None:
    """Write the state atomically (temp file in the same folder, fsync, rename, fsync the folder)."""
    write_atomic(path, state.model_dump_json(indent=1))


def trace_path(state_path: Path) -> Path:
    """`<scene>.jsonl` next to `<scene>.state.json`."""
    return state_path.with_name(state_path.name.removesuffix(".state.json") + ".jsonl")


def load_state(path: Path) -> EpisodeState | None:
    """The saved state, or None when there is none.

    An unreadable state is refused, never replaced: starting the scene over would cut
    its trace back to nothing.
    """
    if not path.is_file():
        return None
    fix = f"restore it, or delete it and {trace_path(path).name} to replay the scene from the start"
    try:
        return EpisodeState.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise DataError(path, "", field, f"unreadable gym state ({first['msg']}); {fix}") from None
    except OSError as exc:
        raise DataError(path, "", "", f"cannot read the gym state ({exc.strerror}); {fix}") from None


def complete_lines(path: Path) -> int:
    """Whole (newline-terminated) lines in a trace file; 0 when there is none."""
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def resume_point(state_path: Path) -> EpisodeState | None:
    """The state to continue from, after checking that its trace still holds its lines.

    A trace shorter than the state's count was cut by something other than this
    program (our writes fsync each line before the state counts it): refuse rather
    than replay the scene over what is left.
    """
    state = load_state(state_path)
    trace = trace_path(state_path)
    if state is not None and complete_lines(trace) < state.lines_written:
        raise DataError(
            trace, "", "",
            f"holds {complete_lines(trace)} complete lines but {state_path.name} records "
            f"lines_written={state.lines_written}; restore the trace, or delete both files to replay the scene",
        )  # fmt: skip
    return state


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
    min_steps: int = 0

    def count(self, status: str) -> int:
        return sum(1 for state in self.states if state.status == status)

    def ended_early(self) -> list[EpisodeState]:
        """Episodes that stopped with fewer than `min_steps` activities, for any reason."""
        return [state for state in self.states if state.activities_done < self.min_steps]

    def overruled(self) -> list[EpisodeState]:
        """Episodes whose user declared the goal finished too early (and was overruled)."""
        return [state for state in self.states if state.overruled_finishes > 0]

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

    def run_record(self) -> dict[str, object]:
        """What run.json records: settings that change the traces of a folder."""
        settings = self.settings
        return {
            "model": settings.model, "agent": settings.agent, "judge": settings.judge,
            "min_steps": settings.config.min_steps,
        }  # fmt: skip

    def check_run_file(self) -> None:
        """Refuse to mix traces of different models, agents, judges or --min-steps in one folder."""
        self.settings.out.mkdir(parents=True, exist_ok=True)
        path = self.settings.out / RUN_FILE
        wanted = self.run_record()
        if not path.is_file():
            write_atomic(path, json.dumps(wanted, indent=1) + "\n")
            return
        fix = "restore it, or delete it if the traces in this folder are from these settings"
        try:
            found = json.loads(path.read_bytes())
        except (ValueError, OSError) as exc:
            raise DataError(path, "", "", f"not a readable JSON object ({exc}); {fix}") from None
        if not isinstance(found, dict):
            raise DataError(path, "", "", f"expected a JSON object with {sorted(wanted)}; {fix}")
        # Runs from before --min-steps existed let the user finish at once, i.e. min_steps 0.
        recorded = {**found, "min_steps": found.get("min_steps", 0)}
        different = {key: recorded.get(key) for key in wanted if recorded.get(key) != wanted[key]}
        if different:
            raise UserError(
                f"{path}: this folder holds a run with {different}; use the same settings or another --out"
            )

    def prepare(self, scenes: list[Scene]) -> None:
        """Check every saved state, then run.json, before anything is written.

        One unreadable state thus stops the run with nothing changed, not half-way through.
        """
        out = self.settings.out
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: --out is a file; pass a folder for the traces")
        for scene in scenes:
            resume_point(self._path(scene, ".state.json"))
        self.check_run_file()

    async def run(self, scenes: list[Scene]) -> RunSummary:
        """Play every scene; failures of one scene are recorded in its state, never raised."""
        self.prepare(scenes)
        started = time.monotonic()
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def bounded(scene: Scene) -> EpisodeState:
            async with gate:
                return await self.run_scene(scene)

        states = await asyncio.gather(*(bounded(scene) for scene in scenes))
        elapsed = time.monotonic() - started
        return RunSummary(list(states), self.events_written, elapsed, self.settings.config.min_steps)

    def _path(self, scene: Scene, suffix: str) -> Path:
        # Appended, not with_suffix(): a scene id may hold dots ("scene.1").
        return self.settings.out / (file_stem(scene.id) + suffix)

    async def run_scene(self, scene: Scene) -> EpisodeState:
        """Play (or continue) one scene and return its final state."""
        state_path, trace = self._path(scene, ".state.json"), TraceFile(self._path(scene, ".jsonl"))
        for stray in state_path.parent.glob(f".{state_path.name}.*.tmp"):  # left by a kill mid-save
            stray.unlink(missing_ok=True)
        max_steps = self.settings.config.max_steps
        state = resume_point(state_path)
        if state is not None and (state.status in ("finished", "failed") or state.step >= max_steps):
            self.progress(max_steps)
            return state
        try:
            if state is None:
                trace.open_at(0)
                state = await self._new_state(scene, trace)
                save_state(state_path, state)
            elif not trace.open_at(state.lines_written):  # checked above; only a concurrent edit gets here
                raise DataError(trace.path, "", "", "lost lines while resuming; restore it or delete the scene")
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
        seed: int | None = None,
    ) -> ChatResult:
        await self._wait_turn()
        return await self.inner.generate(messages, schema, temperature, max_tokens, seed)

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
