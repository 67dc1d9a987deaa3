"""The house keeps its shape: no import cycles, and the pure rules load no framework."""

from __future__ import annotations

import json
import subprocess
import sys

import grimp
import pytest

PACKAGES = ("bot", "integrations", "jobs")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph.modules or not child.startswith(PACKAGES):
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def test_project_modules_import_each_other_without_cycles() -> None:
    # grimp counts every import statement, those inside functions included.
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = grimp.ImportGraph()
    for name in ("bot.a", "bot.b", "bot.c"):
        graph.add_module(name)
    graph.add_import(importer="bot.a", imported="bot.b")
    graph.add_import(importer="bot.b", imported="bot.c")
    graph.add_import(importer="bot.c", imported="bot.a")
    assert _cycles(graph) == [["bot.a", "bot.b", "bot.c"]]


HEAVY = ("flask", "werkzeug", "sqlalchemy", "alembic", "requests", "gspread")


@pytest.mark.parametrize(
    "module",
    [
        "bot.onboarding.verification",
        "bot.onboarding.registry",
        "bot.onboarding.form_mapping",
        "bot.messaging.compose",
        "bot.config",
    ],
)
def test_pure_modules_load_no_framework(module: str) -> None:
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []
