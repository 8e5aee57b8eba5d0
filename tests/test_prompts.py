"""The one prompt loader: strict variables, exact whitespace, and no second Jinja environment."""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2
import pytest

import proactive
from proactive.gate.llm_gate import gate_messages
from proactive.prompts import FOLDER, environment, render
from proactive.types import Event, Judgement, Observation, Proposal


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError, match="lines"):
        render("offer_activity.j2")


def test_every_template_parses() -> None:
    names = sorted(p.name for p in FOLDER.glob("*.j2"))
    assert "judge_user.j2" in names and "gym_common.j2" in names
    for name in names:
        environment().parse(environment().loader.get_source(environment(), name)[0])  # type: ignore[union-attr]


def test_gate_and_judge_prompts_render_exactly_as_written() -> None:
    # Written out by hand: one line per event (earlier offers under theirs), a blank line before the question.
    events = [
        Event(time="2024-06-03 01:26:37", text="Opens a.py"),
        Event(time="2024-06-03 01:27:05", text="Runs the tests"),
    ]
    observation = Observation(
        history=events, previous=[Proposal(task="Explain a.py")], feedback=[Judgement(accepted=False)]
    )
    gate_system, gate_user = gate_messages(observation)
    assert gate_system == {"role": "system", "content": render("offer_system.j2").strip()}
    assert gate_user["role"] == "user"
    assert gate_user["content"] == (
        "Recent activity:\n"
        "[01:26:37] Opens a.py\n"
        '    you offered: "Explain a.py" (they dismissed it)\n'
        "[01:27:05] Runs the tests\n\n"
        "Should you speak up right now? Answer yes or no."
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
