"""hf_bioner's modules import on their own, and their imports form no cycle.

Two checks (docs/architecture.md has the rules):

* each module is imported alone in a fresh interpreter, so a module that only works once
  another module has been imported fails here;
* every ``import hf_bioner...`` / ``from hf_bioner... import`` of every module, at module level
  and inside functions alike, is an edge of one graph, which must have no cycle. Importing
  ``pkg.sub`` from outside ``pkg`` also runs ``pkg/__init__.py``, so it is an edge to ``pkg``
  as well; a package's ``__init__`` importing its own submodules is the normal way down. The
  root package is the exception: Python runs ``hf_bioner/__init__.py`` before any of its
  modules, so nothing gets an edge to it for that alone.

A module inside a subpackage imports its siblings directly, never its own package's
``__init__`` (which re-exports them): that way round is a cycle waiting to happen.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOT = "hf_bioner"


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((REPO / ROOT).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imported_modules(name: str) -> set[str]:
    """The hf_bioner modules that module ``name`` names in an import statement, anywhere in
    it (module level, functions, classes)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))
    package = name if is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..a import b
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {target for target in found if target == ROOT or target.startswith(ROOT + ".")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs (see the module docstring)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target in imported_modules(name):
            assert target in MODULES, f"{name} imports {target}, which does not exist"
            graph[name].add(target)
            # Importing a.b.c runs a.b's __init__ too, unless the importer is inside a.b.
            parts = target.split(".")
            for depth in range(2, len(parts)):
                parent = ".".join(parts[:depth])
                if name != parent and not name.startswith(parent + "."):
                    graph[name].add(parent)
        graph[name].discard(name)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def shortest_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, within the group."""
    start, inside = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & inside):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError(f"no cycle in {group}")


def cycle_report(graph: dict[str, set[str]]) -> list[str]:
    """One line per group of modules that import each other: a cycle, then the group."""
    return [
        " -> ".join(shortest_cycle(graph, group)) + f"  (group: {', '.join(group)})"
        for group in strongly_connected(graph)
    ]


def test_the_graph_sees_every_kind_of_import():
    """The parser finds module-level and function-level, plain and from-imports, and the
    implicit edge to a subpackage's __init__."""
    graph = import_graph()
    assert "hf_bioner.schema" in graph["hf_bioner.tagging"]  # module level, from-import
    assert "hf_bioner.pipeline" in graph["hf_bioner._registration"]  # inside a function
    assert "hf_bioner.decoding" in graph["hf_bioner.inference"]  # a package's __init__
    assert "hf_bioner.paths" in graph["hf_bioner.models"]  # from hf_bioner import paths


def test_a_cycle_is_reported_with_its_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert cycle_report(graph) == ["a -> b -> c -> a  (group: a, b, c)"]
    assert cycle_report({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    cycles = cycle_report(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_submodules_import_siblings_not_their_package():
    graph = import_graph()
    wrong = [
        f"{name} imports its package {parent}"
        for name, targets in graph.items()
        for parent in targets
        if parent != ROOT and is_package(parent) and name.startswith(parent + ".")
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports_alone(name):
    """``import NAME`` in a fresh interpreter (nothing else of hf_bioner imported first)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
