"""The packages form a DAG, schemas <- paperlake <- assets <- pipelines, and the core never imports Dagster.

Every import statement counts, at module level or inside a function: a lazy import is still a dependency."""

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

LAYERS = ("schemas", "paperlake", "assets", "pipelines")  # each may import only those before it
NO_DAGSTER = ("schemas", "paperlake")


def imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file, relative imports resolved to its package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, package if node.level else (node.module or "").split(".")[0]))
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importer package, imported package, where) for every import between the layered packages."""
    return [
        (package, module, f"{path.relative_to(ROOT)}:{line}")
        for package in LAYERS
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imports(path, package)
        if module in LAYERS or module.startswith("dagster")
    ]


def test_every_import_points_down_the_layers():
    upward = [
        f"{where}: {package} imports {module}"
        for package, module, where in edges()
        if module in LAYERS and LAYERS.index(module) > LAYERS.index(package)
    ]
    assert upward == []


@pytest.mark.parametrize("package", NO_DAGSTER)
def test_the_core_and_the_contract_never_import_dagster(package):
    found = [
        where for importer, module, where in edges() if importer == package and module.startswith("dagster")
    ]
    assert found == []


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    """A guard on the guard: imports inside functions and relative imports are found, with their lines."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n\ndef f():\n    from pipelines import run\n    import dagster.x\n    from . import y\n"
    )
    assert imports(probe, "paperlake") == [(1, "os"), (4, "pipelines"), (5, "dagster"), (6, "paperlake")]
