"""The dependency rules of docs/ARCHITECTURE.md, checked on the source.

- Apps depend one way: ml <- accounts <- catalog <- ratings <- recommendations, with ingest (which
  writes users, movies and ratings) above the apps it writes and the project package on top. An app
  never imports one above it, even lazily inside a function.
- ml imports no Django, DRF or Celery, and no app.
- No import cycle between modules. The only exception is an import inside a function that Celery
  needs (a service that enqueues a task of the module importing it); each carries a comment saying so.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Lowest first. An app may import the apps before it, never those after it.
LAYERS = ["ml", "accounts", "catalog", "ratings", "recommendations", "ingest", "recommender_site"]
THIRD_PARTY_FORBIDDEN = {"ml": {"django", "rest_framework", "celery"}}
#: The project package's infrastructure modules, usable from every app (they import no app).
SHARED = {
    "recommender_site.pgcopy",
    "recommender_site.api_params",
    "recommender_site.client_ip",
    "recommender_site.redis_client",
}


def source_files(package: str) -> Iterator[Path]:
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".")
    is_package = (ROOT / Path(*package) / "__init__.py").exists()
    base = package if is_package else package[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path) -> Iterator[tuple[str, ast.stmt, bool]]:
    """(imported module, the statement, whether it sits at module level) for every import in ``path``.
    ``from package import name`` yields ``package.name`` when that is a module of ours."""
    module = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    type_checking = {
        id(inner)
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            for alias in node.names:
                child = f"{target}.{alias.name}"
                is_module = (ROOT / Path(*child.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*child.split(".")) / "__init__.py"
                ).exists()
                yield (child if is_module else target), node, id(node) in top_level


def test_apps_depend_one_way():
    offenders = []
    for rank, app in enumerate(LAYERS):
        above = set(LAYERS[rank + 1 :])
        for path in source_files(app):
            for name, node, _ in imports(path):
                top = name.split(".")[0]
                if name in SHARED:
                    continue
                if top in above or top in THIRD_PARTY_FORBIDDEN.get(app, ()):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == []


def test_shared_infrastructure_imports_no_app():
    for shared in SHARED:
        path = ROOT / Path(*shared.split(".")).with_suffix(".py")
        apps = {name.split(".")[0] for name, _, _ in imports(path)} & set(LAYERS)
        assert apps == set(), f"{shared} imports {apps}"


def module_graph() -> dict[str, set[str]]:
    """Module-level imports between our own modules."""
    graph: dict[str, set[str]] = {}
    for app in LAYERS:
        for path in source_files(app):
            mod = module_name(path)
            graph.setdefault(mod, set())
            for name, _, top_level in imports(path):
                if top_level and name.split(".")[0] in LAYERS and name != mod:
                    graph[mod].add(name)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module are the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules():
    assert strongly_connected(module_graph()) == []


def test_imports_inside_functions_say_why():
    """A function-local import of one of our modules is the exception, so each one explains itself
    with a comment on its line (e.g. the Celery task module importing the service that enqueues it)."""
    unexplained = []
    for app in LAYERS:
        for path in source_files(app):
            lines = path.read_text().splitlines()
            for name, node, top_level in imports(path):
                if top_level or name.split(".")[0] not in LAYERS:
                    continue
                if "#" not in lines[node.lineno - 1]:
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert sorted(set(unexplained)) == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("recommendations.views", {"recommendations.serving", "accounts.members"}),
        ("recommendations.tasks", {"recommendations.pipeline", "recommendations.refresh"}),
    ],
)
def test_the_graph_sees_the_imports_it_checks(module, expected):
    """The checks above are only as good as the import reading: it finds relative and package imports."""
    assert expected <= module_graph()[module]


def test_web_processes_never_import_tensorflow():
    """Everything a web process loads (URLs, views, the task and receiver modules it enqueues through)
    stays numpy-only: TensorFlow is imported by the training step alone."""
    script = (
        "import django, sys; django.setup();"
        "import recommender_site.urls, recommendations.tasks, recommendations.receivers;"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recommender_site.settings.test"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]
