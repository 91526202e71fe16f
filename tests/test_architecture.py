"""The layers of docs/architecture.md, checked: no import cycle, and no layer reaching up.

Imports are read from the source with `ast`, lazy ones inside functions included, because a
lazy import is still a dependency: it only hides the cycle until the day it bites.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("companion_app", "thonnycontrib")
# Runs inside MicroPython on the virtual board, not in the host's Python.
NOT_HOST_CODE = ("companion_app/simulator/mpy/",)

# Which top-level parts of the project may import which (docs/architecture.md, "Layers").
# The engine knows nothing of windows; the windows know nothing of Thonny.
ENGINE = (
    "companion_app.boards",
    "companion_app.classroom",
    "companion_app.device",
    "companion_app.firmware",
    "companion_app.readings",
    "companion_app.simulator",
    "companion_app.wiring",
    "companion_app.errors",
    "companion_app.inputs",
    "companion_app.paths",
    "companion_app.secrets",
)
FORBIDDEN = {
    "engine": ("companion_app.gui", "companion_app.cli", "thonnycontrib"),
    "companion_app.gui": ("thonnycontrib", "companion_app.cli"),
}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every host-side module of the project."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(NOT_HOST_CODE):
                continue
            parts = rel[: -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that `name` imports anywhere in its file (lazily or not)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg.
            candidates = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_front_end(name: str) -> bool:
    """A command-line front end (`iotkit plot` opens a window): it may use the GUI."""
    last = name.rpartition(".")[2]
    return last == "cli" or last.endswith("_cli") or name == "companion_app.__main__"


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert len(graph) > 60
    # cli.py imports the GUI only when `iotkit` opens a window: a lazy import, still an edge.
    assert "companion_app.gui.app" in graph["companion_app.cli"]
    assert "companion_app.gui.jobs" in graph["companion_app.gui.worker"]


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    found = cycles(import_graph())
    assert found == [], "import cycles (lazy imports count): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def test_no_layer_imports_a_layer_above_it():
    wrong = []
    for name, targets in import_graph().items():
        if _is_front_end(name):
            continue
        layer = "engine" if _within(name, ENGINE) else name.rpartition(".")[0]
        for rule_layer, banned in FORBIDDEN.items():
            if layer == rule_layer or (rule_layer != "engine" and _within(name, (rule_layer,))):
                wrong += [f"{name} -> {t}" for t in sorted(targets) if _within(t, banned)]
    assert wrong == [], "a layer reaches up (docs/architecture.md, Layers): " + ", ".join(wrong)
