"""Dependencies point one way (DESIGN.md): recommendations -> ml, ratings, catalog; ratings -> catalog;
ml -> numpy/pandas/keras only. Checked on the source, so a lazy import inside a function counts too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "ml": {
        "django",
        "rest_framework",
        "celery",
        "accounts",
        "catalog",
        "ratings",
        "recommendations",
        "recommender_site",
    },
    # catalog reads the ratings table (statistics, importers) but never calls into ratings' services.
    "catalog": {"ratings.services", "recommendations"},
    "ratings": {"recommendations"},
    "accounts": {"recommendations"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_higher_layers(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
