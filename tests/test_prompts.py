"""The one prompt loader: strict variables, exact whitespace, and no second Jinja environment."""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2
import pytest

import proactive
from proactive.prompts import FOLDER, environment, render
from proactive.types import Event


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError, match="events"):
        render("gate_llm_user.j2")


def test_every_template_parses() -> None:
    names = sorted(p.name for p in FOLDER.glob("*.j2"))
    assert "judge_user.j2" in names and "gym_common.j2" in names
    for name in names:
        environment().parse(environment().loader.get_source(environment(), name)[0])  # type: ignore[union-attr]


def test_gate_and_judge_prompts_render_exactly_as_written() -> None:
    # Written out by hand: one line per event, one blank line before the question.
    events = [Event(time="1", text="Opens a.py"), Event(time="2", text="Runs the tests")]
    assert render("gate_llm_user.j2", events=events) == (
        "Events so far, oldest first:\n1. Opens a.py\n2. Runs the tests\n\n"
        "Does the person need help right now, just after event 2? Answer yes or no."
    )
    user = render(
        "judge_user.j2",
        examples=[{"events": ["x"], "offer": "Do y", "accepted": False}],
        events=["e1", "e2"],
        omitted=0,
        offer="Fix it",
        answer_format="yes_no",
    )
    assert user == (
        "Example 1 (from another session)\nLatest events:\n- x\nOffer: Do y\nVerdict: no\n\n"
        "Now judge this one.\nEvents so far (oldest first, 0 earlier events omitted):\n- e1\n- e2\n"
        "Offer: Fix it\nWould the person accept it? Answer yes or no."
    )
    system = render("judge_system.j2", answer_format="json")
    reply = 'Reply with a JSON object: {"thought": "<one or two sentences of reasoning>", "accepted": true or false}.'
    assert system.endswith(f"and the assistant said nothing.\n{reply}\n")


def test_only_the_loader_builds_a_jinja_environment() -> None:
    package = Path(proactive.__file__).resolve().parent
    users = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "jinja2" for name in names):
                users.append(path.relative_to(package).as_posix())
    assert sorted(set(users)) == ["prompts/__init__.py"]
