"""Tasks -> store -> export -> judge train, the export rule against the released data, and agreement."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proactive.annotate.agreement import agreement, fleiss_kappa, report, rows_from_file
from proactive.annotate.export import build_rows, item_rows
from proactive.annotate.store import Item, Label, Store
from proactive.annotate.tasks import load_task_set, setting_of
from proactive.cli.main import app
from proactive.data.loaders import REWARD_FILE, TEST_DIR, load_reward_rows
from proactive.errors import DataError
from proactive.types import Event

runner = CliRunner()


def _released_events(bench_data: Path) -> list[list[dict[str, Any]]]:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in (bench_data / REWARD_FILE).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        events[json.dumps(row["obs"])].append(row)
    return list(events.values())


def _relabel(rows: list[dict[str, Any]]) -> tuple[Item, list[Label]]:
    """The item and three labels that a released event's task rows describe."""
    tasks = [r for r in rows if r["pred_task"] is not None]
    history = [Event(time=o["time"], text=o["event"]) for o in rows[0]["obs"]]
    item = Item(
        id=1, trace_id="t", step=0, setting="coding", history=history, candidates=[r["pred_task"] for r in tasks]
    )
    labels = [
        Label(item_id=1, user_id=u, accepted=[i for i, r in enumerate(tasks) if r["annotation"][u]], updated_at=0.0)
        for u in range(3)
    ]
    return item, labels


def test_export_rule_reproduces_the_released_reward_data(bench_data: Path) -> None:
    events = [
        rows
        for rows in _released_events(bench_data)
        if all(len(r["annotation"]) == 3 for r in rows) and any(r["pred_task"] is not None for r in rows)
    ]
    task_rows = help_agree = majority_agree = silence_rows = silence_agree = 0
    for rows in events:
        item, labels = _relabel(rows)
        ours = item_rows(item, labels)
        released_tasks = [r for r in rows if r["pred_task"] is not None]
        for mine, theirs in zip(ours, released_tasks, strict=False):
            # valid and category follow from the votes alone: every released task row must match.
            assert (mine["valid"], mine["category"]) == (theirs["valid"], theirs["category"]), theirs
            task_rows += 1
        help_agree += ours[0]["help_needed"] == rows[0]["help_needed"]
        majority_agree += any(r["valid"] for r in released_tasks) == rows[0]["help_needed"]
        for theirs in (r for r in rows if r["pred_task"] is None):
            silence_rows += 1
            silence_agree += ours[-1]["annotation"] == theirs["annotation"]
            # A silence is valid exactly when no help was needed, in the released rows and in ours.
            assert theirs["valid"] == (not theirs["help_needed"])
            assert ours[-1]["valid"] == (not ours[-1]["help_needed"])
    assert task_rows > 1000 and silence_rows > 150
    # "Accepted by all" for help_needed; the released data departs from it on a few events,
    # and from "accepted by a majority" on far more.
    assert help_agree / len(events) >= 0.95
    assert majority_agree / len(events) <= 0.8
    assert silence_agree / silence_rows >= 0.97


def _fill(db: Path, bench_data: Path) -> tuple[Store, list[list[list[int]]]]:
    """Three annotators label the first four items of code_11 with planned ticks."""
    source = load_task_set(bench_data / TEST_DIR / "code_11.json")
    store = Store(db)
    assert store.import_tasks(source.items) == len(source.items)
    users = []
    for name in ("ann", "bob", "cyd"):
        user = store.authenticate(name, store.add_user(name))
        assert user is not None
        users.append(user.id)
    plan = [  # per item, per annotator: the accepted candidate indexes
        [[0, 1], [0], [0, 3]],  # candidate 0 by all: help needed
        [[], [2], []],  # two reject all: no help
        [[1, 4], [4], [1]],  # 1 and 4 valid (2 of 3), none by all: no help
        [[3], [3], [3, 2]],  # 3 by all: help needed
    ]
    items = store.items()[: len(plan)]
    for item, ticks in zip(items, plan, strict=True):
        for user_id, accepted in zip(users, ticks, strict=True):
            store.submit(user_id, item.id, accepted)
    store.submit(users[0], store.items()[len(plan)].id, [0])  # an incomplete item
    return store, plan


def _expected(store: Store, plan: list[list[list[int]]]) -> list[dict[str, Any]]:
    rows = []
    for item, ticks in zip(store.items(), plan, strict=False):
        votes = [[c in t for t in ticks] for c in range(len(item.candidates))]
        help_needed = any(all(v) for v in votes)
        obs = [{"time": e.time, "event": e.text} for e in item.history]
        for task, v in zip(item.candidates, votes, strict=True):
            category = "Correct-Detection (CD)" if sum(v) >= 2 else "False-Alarm (FA)"
            rows.append({"obs": obs, "pred_task": task, "valid": sum(v) >= 2, "help_needed": help_needed,
                         "annotation": v, "category": category})  # fmt: skip
        reject = [not t for t in ticks]
        category = "Missed-Need (MN)" if help_needed else "Correct-Rejection (CR)"
        rows.append({"obs": obs, "pred_task": None, "valid": not help_needed, "help_needed": help_needed,
                     "annotation": reject, "category": category})  # fmt: skip
    return rows


def test_tasks_come_from_steps_with_candidates(bench_data: Path, tmp_path: Path) -> None:
    path = bench_data / TEST_DIR / "code_11.json"
    steps = json.loads(path.read_text(encoding="utf-8"))
    loaded = load_task_set(path)
    with_candidates = [i for i, s in enumerate(steps) if s["agent_response"]["candidate_task"]]
    assert [item.step for item in loaded.items] == with_candidates
    assert loaded.skipped_steps == len(steps) - len(with_candidates)
    third = loaded.items[2]
    assert len(third.history) == third.step + 1 and third.setting == "coding" == setting_of("code_11")
    assert third.candidates == steps[third.step]["agent_response"]["candidate_task"]
    bad = tmp_path / "writing_1.json"
    bad.write_text(json.dumps([{"observation": {"time": "1"}}]), encoding="utf-8")
    with pytest.raises(DataError, match=r"writing_1\.json.*event"):
        load_task_set(tmp_path)


def test_export_cli_writes_majority_rows_that_judge_train_accepts(
    bench_data: Path, tmp_path: Path, module_state_home: Path
) -> None:
    db = tmp_path / "annotate.sqlite3"
    store, plan = _fill(db, bench_data)
    out = tmp_path / "train.jsonl"
    result = runner.invoke(app, ["annotate", "export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "from 4 items" in result.output and f"{len(store.items()) - 4} items still need labels" in result.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for row in written:
        assert (row.pop("trace_id"), row.pop("setting")) == ("code_11", "coding")
        row.pop("step")
    assert written == _expected(store, plan)
    loaded = load_reward_rows(out)
    assert [r.category for r in loaded].count("MN") == 2
    judge = tmp_path / "judge"
    trained = runner.invoke(app, ["judge", "train", "--data", str(out), "--out", str(judge), "--no-cv"])
    assert trained.exit_code == 0, trained.output
    assert (judge / "model.json").is_file()


def test_fleiss_kappa_matches_a_hand_computed_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # fmt: skip
    p_bar, kappa = fleiss_kappa(table)
    assert p_bar == pytest.approx(0.378, abs=5e-4)
    assert kappa == pytest.approx(0.210, abs=5e-4)
    # Three raters, binary: (T,T,T) agrees fully, (T,T,F) a third of pairs; by hand P_bar = 2/3,
    # p = (5/6, 1/6), P_e = 26/36, kappa = (2/3 - 26/36) / (10/36) = -0.2.
    figures = agreement("x", [[True, True, True], [True, True, False], [True, False]])
    assert figures.subjects == 2 and figures.left_out == 1
    assert figures.pairwise == pytest.approx(2 / 3) and figures.kappa == pytest.approx(-0.2)


def test_agreement_on_db_and_on_the_released_rows(bench_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "annotate.sqlite3"
    store, plan = _fill(db, bench_data)
    rows = build_rows(store.all_labels()).rows
    figures = {f.group: f for f in report(rows)}
    assert figures["all"].subjects == len(rows) and figures["setting=coding"].subjects == len(rows)
    by_hand = agreement("all", [r["annotation"] for r in _expected(store, plan)])
    assert figures["all"].kappa == pytest.approx(by_hand.kappa)
    result = runner.invoke(app, ["annotate", "agreement", "--db", str(db)])
    assert result.exit_code == 0 and "setting=coding" in result.output
    released = rows_from_file(bench_data / REWARD_FILE)
    three = sum(len(r["annotation"]) == 3 for r in released)
    result = runner.invoke(app, ["annotate", "agreement", "--rows", str(bench_data / REWARD_FILE)])
    assert result.exit_code == 0, result.output
    assert f"{len(released) - three} with 2, {three} with 3" in result.output
    overall = {f.group: f for f in report(released)}["all"]
    assert overall.subjects == three and overall.kappa is not None and -1 <= overall.kappa <= 1
    assert f"{overall.kappa:.3f}" in result.output
