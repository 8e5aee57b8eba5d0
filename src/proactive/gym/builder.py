"""Scene builder: seed tasks -> scenes, written by a model in several short steps.

Steps per scene (each a small, schema-validated call, so the embedded model never has
to write a whole scene in one breath): profile and character, context, entities,
the assistant's operations with arguments, example events in the style of the seed's
sample events. The goal is the seed task itself, as in the released scenes.yaml.
Near-duplicates (by sentence-embedding similarity of theme, setting and person) are
dropped. The output file is rewritten after every scene, so a stopped build resumes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from proactive.errors import DataError
from proactive.fileio import write_atomic
from proactive.gym.calls import CallFailed, ask
from proactive.models.base import ChatModel
from proactive.types import Scene, SceneEnvironment, SceneUser, SeedSetting

#: Variety for several scenes per seed: each variant is told what kind of person to invent.
PERSONAS = (
    "a university student",
    "an experienced professional",
    "a freelancer working from home",
    "a beginner who learns as they go",
    "a busy parent",
    "a retired person",
    "a team lead in a small company",
    "a non-native English speaker",
)
SETTING_NAMES = {
    "codingassistant": "programming on a computer",
    "writingassistant": "researching and writing on a computer",
    "dailyassistant": "daily life tasks at home or at work with a computer and a phone",
}

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=360)]
EventText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=200)]


def normalise_operation(text: str) -> str:
    """'Open File(path)' -> 'open_file(path)'; a bare name gets '()'."""
    name, _, rest = text.strip().partition("(")
    name = re.sub(r"\W+", "_", name.strip()).strip("_").lower() or "operation"
    arguments = rest.rsplit(")", 1)[0].strip() if rest else ""
    return f"{name}({arguments})"


Operation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=60), AfterValidator(normalise_operation)
]


class SceneProfile(BaseModel):
    theme: Short
    person: Text


class SceneContext(BaseModel):
    description: Text


class SceneEntities(BaseModel):
    entities: list[Short] = Field(min_length=3, max_length=7)


class SceneOperations(BaseModel):
    operations: list[Operation] = Field(min_length=3, max_length=9)


class SceneEvents(BaseModel):
    events: list[EventText] = Field(min_length=3, max_length=9)


@dataclass(frozen=True)
class BuildLimits:
    """Counts and generation caps per call."""

    entities: int = 5
    operations: int = 6
    events: int = 6
    samples: int = 4
    profile_tokens: int = 110
    context_tokens: int = 120
    entities_tokens: int = 90
    operations_tokens: int = 120
    events_tokens: int = 330
    attempts: int = 2


@dataclass(frozen=True)
class SeedTask:
    """One seed task picked for building, with the identity its scenes take."""

    setting: SeedSetting
    index: int
    task: str

    def scene_id(self, variant: int) -> str:
        return f"{self.setting.name}-{self.index:03d}-v{variant}"


def pick_seed_tasks(settings: list[SeedSetting], limit: int | None) -> list[SeedTask]:
    """Seed tasks taken round-robin over settings (coding, writing, daily, coding, ...)."""
    picked: list[SeedTask] = []
    longest = max((len(s.tasks) for s in settings), default=0)
    for index in range(longest):
        for setting in settings:
            if index < len(setting.tasks):
                picked.append(SeedTask(setting, index, setting.tasks[index]))
    return picked[:limit] if limit else picked


def _samples(seed: SeedTask, count: int) -> list[str]:
    events = seed.setting.sample_events
    if not events:
        return []
    start = (seed.index * count) % len(events)
    return [events[(start + offset) % len(events)] for offset in range(min(count, len(events)))]


async def build_scene(
    model: ChatModel, seed: SeedTask, variant: int, limits: BuildLimits, attempt: int = 0
) -> Scene:
    """One scene for a seed task (raises CallFailed when a step stays unusable).

    A further `attempt` asks for another kind of person, so the prompts (and the cached
    answers) differ from the attempt that failed.
    """
    setting = SETTING_NAMES.get(seed.setting.name, seed.setting.name)
    persona = PERSONAS[(seed.index + variant + 3 * attempt) % len(PERSONAS)]
    profile = await ask(
        model, "scene_profile.j2", SceneProfile, limits.profile_tokens, setting=setting, task=seed.task, persona=persona
    )
    shared: dict[str, Any] = {"theme": profile.theme, "task": seed.task}
    context = await ask(
        model, "scene_context.j2", SceneContext, limits.context_tokens, person=profile.person, **shared
    )
    shared["description"] = context.description
    entities = await ask(
        model, "scene_entities.j2", SceneEntities, limits.entities_tokens, count=limits.entities, **shared
    )
    operations = await ask(
        model, "scene_operations.j2", SceneOperations, limits.operations_tokens,
        entities=entities.entities, count=limits.operations, **shared,
    )  # fmt: skip
    events = await ask(
        model, "scene_events.j2", SceneEvents, limits.events_tokens,
        entities=entities.entities, operations=operations.operations, count=limits.events,
        samples=_samples(seed, limits.samples), **shared,
    )  # fmt: skip
    return Scene(
        id=seed.scene_id(variant),
        environment=SceneEnvironment(
            theme=profile.theme,
            description=context.description,
            entities=list(dict.fromkeys(entities.entities)),
            agent_ops=list(dict.fromkeys(operations.operations)),
            events_example=events.events,
        ),
        user=SceneUser(goal=seed.task, description=profile.person),
    )


def scene_text(scene: Scene) -> str:
    """What near-duplicate filtering compares: theme, setting and person."""
    return f"{scene.environment.theme}. {scene.environment.description} {scene.user.description}"


def is_near_duplicate(vector: np.ndarray, kept: list[np.ndarray], threshold: float) -> float | None:
    """The highest cosine similarity to a kept scene when it reaches `threshold`, else None."""
    if not kept or threshold >= 1.0:
        return None
    best = float(np.max(np.stack(kept) @ vector))
    return best if best >= threshold else None


def scene_record(scene: Scene) -> dict[str, Any]:
    """The scenes.yaml form of a scene (plus its id)."""
    return {"id": scene.id, **scene.model_dump(exclude={"id"})}


def write_scenes(path: Path, records: list[dict[str, Any]]) -> None:
    """Rewrite the scenes file atomically."""
    write_atomic(path, yaml.safe_dump(records, sort_keys=True, allow_unicode=True, width=100))


def existing_records(path: Path) -> list[dict[str, Any]]:
    """Scenes already in the output file (their ids let a build resume).

    The build rewrites this file after every scene, so anything it cannot read back as
    a list of scene mappings is refused: rewriting it would lose what is there.
    """
    if not path.is_file():
        return []
    fix = "fix it, or pass another --out (the build rewrites this file and would lose what it cannot read)"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise DataError(path, where, "", f"invalid YAML; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, "", "", f"cannot read the scenes file ({exc}); {fix}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DataError(path, "", "", f"expected a list of scenes, found a {type(raw).__name__}; {fix}")
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DataError(path, f"[{index}]", "", f"expected a scene mapping, found a {type(item).__name__}; {fix}")
    return raw


@dataclass
class BuildReport:
    """What one build did, for the closing line."""

    written: int = 0
    kept_before: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)


def plan(seeds: list[SeedTask], per_seed: int) -> Iterator[tuple[SeedTask, int]]:
    for seed in seeds:
        for variant in range(per_seed):
            yield seed, variant


async def build_scenes(
    model: ChatModel,
    seeds: list[SeedTask],
    per_seed: int,
    out: Path,
    embed: Callable[[list[str]], np.ndarray],
    threshold: float = 0.9,
    limits: BuildLimits | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build scenes for every (seed, variant) not yet in `out`, dropping near-duplicates."""
    limits = limits or BuildLimits()
    records = existing_records(out)
    report = BuildReport(kept_before=len(records))
    done_ids = {str(item.get("id")) for item in records}
    kept = list(embed([_record_text(item) for item in records])) if records else []
    for seed, variant in plan(seeds, per_seed):
        scene_id = seed.scene_id(variant)
        if scene_id not in done_ids:
            scene = await _build_with_retry(model, seed, variant, limits, report)
            if scene is not None:
                vector = embed([scene_text(scene)])[0]
                if is_near_duplicate(vector, kept, threshold) is not None:
                    report.duplicates += 1
                else:
                    kept.append(vector)
                    records.append(scene_record(scene))
                    write_scenes(out, records)
                    report.written += 1
        if progress is not None:
            progress(scene_id)
    return report


async def _build_with_retry(
    model: ChatModel, seed: SeedTask, variant: int, limits: BuildLimits, report: BuildReport
) -> Scene | None:
    """The scene, trying another kind of person once when a step stays unusable."""
    problems = []
    for attempt in range(limits.attempts):
        try:
            return await build_scene(model, seed, variant, limits, attempt)
        except CallFailed as exc:
            problems.append(str(exc))
    report.failures.append(f"{seed.scene_id(variant)}: {' / '.join(problems)}")
    return None


def _record_text(item: dict[str, Any]) -> str:
    env, user = item.get("environment") or {}, item.get("user") or {}
    return f"{env.get('theme', '')}. {env.get('description', '')} {user.get('description', '')}"
