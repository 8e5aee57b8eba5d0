"""The shape of the package: runtime code never imports evaluation code, and rooms form no cycle.

Reads every module under src/proactive with `ast` (lazy imports inside functions count
too: they run at serving time just the same). A "room" is the first name under
`proactive` (agent, gate, judge, bench, ...); `proactive.cli` sits on top of all of them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import proactive

PACKAGE = Path(proactive.__file__).resolve().parent

#: Code that scores agents, judges or gates against people: allowed to import runtime code,
#: never imported by it.
EVALUATION_ROOMS = frozenset({"bench"})
EVALUATION_NAMES = frozenset({"evaluate"})
#: Rooms whose every module may run while an agent serves a person.
RUNTIME_ROOMS = frozenset({"agent", "models"})
#: Offline modules in the gate and judge rooms (training, LOTO reports); the rest of those
#: rooms is runtime (gates, judges, their artifacts and features).
OFFLINE = frozenset({
    "proactive.gate.training", "proactive.gate.loto",
    "proactive.judge.train", "proactive.judge.loto", "proactive.judge.agree",
})  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, package: list[str]) -> set[str]:
    """Every module an import statement anywhere in `source` names (relative ones resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # `from proactive.bench import metrics` imports the module proactive.bench.metrics.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def module_graph() -> dict[str, set[str]]:
    """Module -> the proactive modules it imports."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph[name] = {m for m in imports_in(path.read_text(encoding="utf-8"), package) if m in paths}
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_evaluation(module: str) -> bool:
    return room(module) in EVALUATION_ROOMS or module.rsplit(".", 1)[-1] in EVALUATION_NAMES


def is_runtime(module: str) -> bool:
    if is_evaluation(module) or module in OFFLINE:
        return False
    return room(module) in RUNTIME_ROOMS or room(module) in {"gate", "judge"}


def room_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of two or more rooms that import each other (strongly connected components)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            if room(target) != room(module):
                edges[room(module)].add(room(target))
    rooms = sorted({room(m) for m in graph} | {r for t in edges.values() for r in t})
    reach = {r: _reachable(r, edges) for r in rooms}
    groups = {frozenset(s for s in rooms if s in reach[r] and r in reach[s]) | {r} for r in rooms}
    return sorted(sorted(g) for g in groups if len(g) > 1)


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_runtime_modules_do_not_import_evaluation_code() -> None:
    graph = module_graph()
    runtime = [m for m in graph if is_runtime(m)]
    assert "proactive.gate.llm_gate" in runtime and "proactive.agent.gated" in runtime
    assert not is_runtime("proactive.gate.evaluate") and not is_runtime("proactive.bench.runner")
    bad = sorted(f"{m} -> {t}" for m in runtime for t in graph[m] if is_evaluation(t))
    assert not bad, "runtime code imports evaluation code:\n" + "\n".join(bad)


def test_rooms_do_not_import_each_other_in_a_cycle() -> None:
    graph = module_graph()
    cycles = room_cycles(graph)
    detail = [
        f"{m} -> {t}"
        for group in cycles
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if room(m) in group and room(t) in group and room(m) != room(t)
    ]
    assert not cycles, f"rooms importing each other: {cycles}\n" + "\n".join(detail)


def test_the_checks_see_a_cycle_and_a_lazy_import() -> None:
    # The cycle finder on a made-up graph: agent -> gate -> data, gate -> agent is a cycle.
    graph = {
        "proactive.agent.gated": {"proactive.gate.base"},
        "proactive.gate.base": {"proactive.data.labels", "proactive.agent.base"},
        "proactive.agent.base": set(),
        "proactive.data.labels": set(),
    }
    assert room_cycles(graph) == [["agent", "gate"]]
    graph["proactive.gate.base"].discard("proactive.agent.base")
    assert room_cycles(graph) == []
    # A lazy import inside a function counts, and so does a relative one.
    source = "def f():\n    from proactive.gate.evaluate import run_loto\n    from .. import bench\n"
    assert imports_in(source, ["proactive", "gate"]) >= {"proactive.gate.evaluate", "proactive.bench"}
