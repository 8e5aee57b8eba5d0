"""Loaders for the ProactiveBench layout, with one-line errors for malformed files.

Layout (see the data README): test_data/*.json + splits.json, reward_data/train_data.jsonl,
scenes/seedtask.yaml, scenes/scenes.yaml. Every loader checks the fields it reads and
raises `DataError` naming the file, the index or line, the field and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from proactive.errors import DataError
from proactive.fileio import read_jsonl, read_text
from proactive.types import (
    CATEGORY_NAMES,
    AnnotatedRow,
    Event,
    Scene,
    SceneEnvironment,
    SceneUser,
    SeedSetting,
    Trace,
)

TEST_DIR = "test_data"
SPLITS_FILE = "test_data/splits.json"
REWARD_FILE = "reward_data/train_data.jsonl"
SEEDS_FILE = "scenes/seedtask.yaml"
SCENES_FILE = "scenes/scenes.yaml"


def _need(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "", "", "file not found; check --data / PROACTIVEBENCH_DIR")


def _field(obj: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str, what: str) -> Any:
    """Fetch obj[key] and check its type, or raise a one-line DataError."""
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(path, where, key, f"missing; expected {what}")
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(path, where, key, f"expected {what}, got {type(value).__name__}")
    return value


def _load_json(path: Path) -> Any:
    _need(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"line {exc.lineno}", "", f"invalid JSON ({exc.msg})") from None


def _event(obj: Any, path: Path, where: str, source: str = "trace") -> Event:
    time = _field(obj, "time", (str, int, float), path, where, "a time string (unix seconds or clock)")
    text = _field(obj, "event", str, path, where, "one English sentence")
    return Event(time=str(time), text=text, source=source)  # type: ignore[arg-type]


def load_trace_file(path: Path) -> Trace:
    """One released-format trace: a list of steps with observation / agent_response / task_status."""
    steps = _load_json(path)
    if not isinstance(steps, list):
        raise DataError(path, "", "", "expected a JSON list of steps")
    events: list[Event] = []
    candidates: list[list[str]] = []
    status: list[bool | None] = []
    for index, step in enumerate(steps):
        where = f"[{index}]"
        observation = _field(step, "observation", dict, path, where, "an object with time and event")
        events.append(_event(observation, path, f"{where}.observation"))
        response = step.get("agent_response") or {}
        tasks = response.get("candidate_task", []) if isinstance(response, dict) else []
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise DataError(path, where, "agent_response.candidate_task", "expected a list of strings")
        candidates.append(list(tasks))
        flag = step.get("task_status")
        status.append(flag if isinstance(flag, bool) else None)
    theme = path.stem.split("_")[0] if "_" in path.stem else None
    return Trace(id=path.stem, events=events, candidates=candidates, task_status=status, theme=theme)


def load_splits(data: Path) -> dict[str, list[str]]:
    """Split name -> trace ids (file stems), from test_data/splits.json."""
    path = data / SPLITS_FILE
    raw = _load_json(path)
    if not isinstance(raw, dict):
        raise DataError(path, "", "", "expected an object of named splits")
    splits: dict[str, list[str]] = {}
    for name, spec in raw.items():
        files = _field(spec, "files", list, path, name, "a list of trace file names")
        splits[name] = [Path(str(f)).stem for f in files]
    return splits


def load_test_traces(data: Path, split: str = "real_average") -> list[Trace]:
    """The test traces of one split, in the split's order."""
    splits = load_splits(data)
    if split not in splits:
        raise DataError(data / SPLITS_FILE, "", split, f"unknown split; choose one of {sorted(splits)}")
    return [load_trace_file(data / TEST_DIR / f"{stem}.json") for stem in splits[split]]


def parse_reward_row(raw: Any, path: Path, where: str) -> AnnotatedRow:
    """One reward-data row (`obs`, `pred_task`, `valid`, `help_needed`, `annotation`, `category`)."""
    obs = _field(raw, "obs", list, path, where, "a list of {time, event}")
    if not obs:
        raise DataError(path, where, "obs", "expected at least one event")
    history = [_event(item, path, f"{where} obs[{i}]") for i, item in enumerate(obs)]
    if "pred_task" not in raw:
        raise DataError(path, where, "pred_task", "missing; expected a task string or null")
    task = raw["pred_task"]
    if task is not None and not isinstance(task, str):
        raise DataError(path, where, "pred_task", f"expected a string or null, got {type(task).__name__}")
    valid = _field(raw, "valid", bool, path, where, "true or false")
    help_needed = _field(raw, "help_needed", bool, path, where, "true or false")
    annotations = _field(raw, "annotation", list, path, where, "a list of booleans")
    if not all(isinstance(a, bool) for a in annotations):
        raise DataError(path, where, "annotation", "expected a list of booleans")
    category = _field(raw, "category", str, path, where, "one of MN, CR, CD, FA")
    if category not in CATEGORY_NAMES:
        raise DataError(path, where, "category", f"expected one of {sorted(set(CATEGORY_NAMES.values()))}")
    return AnnotatedRow(
        history=history,
        task=task,
        valid=valid,
        help_needed=help_needed,
        annotations=annotations,
        category=CATEGORY_NAMES[category],
    )


def load_reward_rows(path: Path) -> list[AnnotatedRow]:
    """Rows of a reward-format JSONL file (train_data.jsonl or any file of the same shape)."""
    _need(path)
    return [parse_reward_row(raw, path, where) for where, raw in read_jsonl(path)]


def _load_yaml(path: Path) -> Any:
    _need(path)
    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise DataError(path, where, "", "invalid YAML") from None


def load_seeds(path: Path) -> list[SeedSetting]:
    """Seed tasks and sample events per setting, from seedtask.yaml."""
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        raise DataError(path, "", "", "expected a mapping of setting -> {tasks, sample_events}")
    seeds = []
    for name, spec in raw.items():
        tasks = _field(spec, "tasks", list, path, str(name), "a list of task strings")
        samples = _field(spec, "sample_events", list, path, str(name), "a list of event sentences")
        seeds.append(
            SeedSetting(name=str(name), tasks=[str(t) for t in tasks], sample_events=[str(s) for s in samples])
        )
    return seeds


def parse_scene(raw: Any, path: Path, where: str, scene_id: str) -> Scene:
    """One scene mapping with `environment` and `user`."""
    env = _field(raw, "environment", dict, path, where, "a mapping")
    user = _field(raw, "user", dict, path, where, "a mapping")
    env_where = f"{where}.environment"

    def strings(key: str) -> list[str]:
        return [str(v) for v in _field(env, key, list, path, env_where, "a list of strings")]

    return Scene(
        id=scene_id,
        environment=SceneEnvironment(
            theme=_field(env, "theme", str, path, env_where, "a string"),
            description=_field(env, "description", str, path, env_where, "a string"),
            entities=strings("entities"),
            agent_ops=strings("agent_ops"),
            events_example=strings("events_example"),
        ),
        user=SceneUser(
            goal=_field(user, "goal", str, path, f"{where}.user", "a string"),
            description=_field(user, "description", str, path, f"{where}.user", "a string"),
        ),
    )


def load_scenes(path: Path) -> list[Scene]:
    """Scenes from a scenes.yaml list."""
    raw = _load_yaml(path)
    if not isinstance(raw, list):
        raise DataError(path, "", "", "expected a list of scenes")
    return [parse_scene(item, path, f"[{i}]", f"scene-{i:04d}") for i, item in enumerate(raw)]
